// Result helpers that need no templates.
#include "drivers/result.hpp"

#include <fmt/format.h>

#include "drivers/errors.hpp"

namespace orm::db {

std::vector<std::vector<Value>> Result::fetch_all() {
    std::vector<std::vector<Value>> rows;
    while (next()) {
        std::vector<Value> row;
        row.reserve(cursor_->column_count());
        for (std::size_t i = 0; i < cursor_->column_count(); ++i) row.push_back(cursor_->get_value(i));
        rows.push_back(std::move(row));
    }
    return rows;
}

bool Cursor::read_bool(std::size_t i, bool& out) const {
    if (is_null(i)) return false;
    out = get_bool(i);
    return true;
}

bool Cursor::read_int64(std::size_t i, std::int64_t& out) const {
    if (is_null(i)) return false;
    out = get_int64(i);
    return true;
}

bool Cursor::read_double(std::size_t i, double& out) const {
    if (is_null(i)) return false;
    out = get_double(i);
    return true;
}

bool Cursor::read_text(std::size_t i, std::string_view& out) const {
    if (is_null(i)) return false;
    out = get_text(i);
    return true;
}

void Row::null_error(std::size_t i, std::string_view wanted) const {
    throw DataError(fmt::format("column {} ('{}') is NULL and cannot be read as {}; read it as std::optional", i,
                                c_->column_name(i), wanted));
}

void Row::range_error(std::size_t i, std::int64_t v, std::string_view wanted) const {
    throw DataError(fmt::format("column {} ('{}') holds {}, which does not fit in {}", i, c_->column_name(i), v, wanted));
}

}  // namespace orm::db
