// Result helpers that need no templates.
#include "drivers/result.hpp"

#include <fmt/format.h>

#include "drivers/errors.hpp"
#include "drivers/plain_store.hpp"

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

std::uint64_t Cursor::read_plain(std::size_t first, std::span<const PlainSlot> slots, void* object) const {
    std::uint64_t missed = 0;
    for (std::size_t k = 0; k < slots.size() && k < 64; ++k) {
        const PlainSlot& s = slots[k];
        const std::size_t i = first + k;
        bool done = false;
        switch (s.kind) {
            case PlainKind::none: break;
            case PlainKind::boolean:
            case PlainKind::opt_boolean: {
                bool v;
                done = read_bool(i, v) ? plain::store_int(object, s, v ? 1 : 0) : plain::store_null(object, s);
                break;
            }
            case PlainKind::int32:
            case PlainKind::opt_int32:
            case PlainKind::int64:
            case PlainKind::opt_int64: {
                std::int64_t v;
                done = read_int64(i, v) ? plain::store_int(object, s, v) : plain::store_null(object, s);
                break;
            }
            case PlainKind::float64:
            case PlainKind::opt_float64: {
                double v;
                done = read_double(i, v) ? plain::store_double(object, s, v) : plain::store_null(object, s);
                break;
            }
            case PlainKind::text:
            case PlainKind::opt_text: {
                std::string_view v;
                done = read_text(i, v) ? plain::store_text(object, s, v) : plain::store_null(object, s);
                break;
            }
        }
        if (!done) missed |= std::uint64_t{1} << k;
    }
    return missed;
}

void Row::null_error(std::size_t i, std::string_view wanted) const {
    throw DataError(fmt::format("column {} ('{}') is NULL and cannot be read as {}; read it as std::optional", i,
                                c_->column_name(i), wanted));
}

void Row::range_error(std::size_t i, std::int64_t v, std::string_view wanted) const {
    throw DataError(fmt::format("column {} ('{}') holds {}, which does not fit in {}", i, c_->column_name(i), v, wanted));
}

}  // namespace orm::db
