// PgDialect.
#include "drivers/postgres/pg_dialect.hpp"

#include <cmath>

#include <fmt/format.h>

namespace orm::db::postgres {

std::string PgDialect::placeholder(std::size_t index) const { return fmt::format("${}", index); }

std::string PgDialect::limit_offset(std::optional<std::int64_t> limit, std::int64_t offset) const {
    std::string out;
    if (limit) out += fmt::format(" LIMIT {}", *limit);
    if (offset > 0) out += fmt::format(" OFFSET {}", offset);
    return out;
}

std::string PgDialect::literal(const Value& v) const {
    switch (v.kind()) {
        case ValueKind::float64: {
            double d = v.as_double();
            if (!std::isfinite(d)) return fmt::format("'{}'::double precision", format_double(d));
            return format_double(d);
        }
        case ValueKind::bytes: {
            std::string out = "'\\x";
            for (auto b : v.as_bytes()) out += fmt::format("{:02x}", b);
            return out + "'::bytea";
        }
        case ValueKind::timestamp: return fmt::format("'{}+00'::timestamptz", format_timestamp(v.as_timestamp()));
        case ValueKind::date: return fmt::format("'{}'::date", format_date(v.as_date()));
        default: return Dialect::literal(v);
    }
}

}  // namespace orm::db::postgres
