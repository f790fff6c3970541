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

void Row::null_error(std::size_t i, std::string_view wanted) const {
    throw DataError(fmt::format("column {} ('{}') is NULL and cannot be read as {}; read it as std::optional", i,
                                c_->column_name(i), wanted));
}

void Row::range_error(std::size_t i, std::int64_t v, std::string_view wanted) const {
    throw DataError(fmt::format("column {} ('{}') holds {}, which does not fit in {}", i, c_->column_name(i), v, wanted));
}

}  // namespace orm::db
