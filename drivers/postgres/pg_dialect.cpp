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

std::string PgDialect::text_match_sql(TextMatch m, std::string_view lhs, std::string_view rhs) const {
    switch (m) {
        case TextMatch::icontains:
        case TextMatch::istartswith:
        case TextMatch::iendswith: return fmt::format("{} ILIKE {}{}", lhs, rhs, like_escape_clause());
        case TextMatch::regex: return fmt::format("{} ~ {}", lhs, rhs);
        case TextMatch::iregex: return fmt::format("{} ~* {}", lhs, rhs);
        default: return Dialect::text_match_sql(m, lhs, rhs);
    }
}

std::string PgDialect::typed_placeholder(std::size_t index, ValueKind kind) const {
    std::string_view type;
    switch (kind) {
        case ValueKind::boolean: type = "boolean"; break;
        case ValueKind::int32: type = "integer"; break;
        case ValueKind::int64: type = "bigint"; break;
        case ValueKind::float64: type = "double precision"; break;
        case ValueKind::text: type = "text"; break;
        case ValueKind::bytes: type = "bytea"; break;
        case ValueKind::timestamp: type = "timestamptz"; break;
        case ValueKind::date: type = "date"; break;
        case ValueKind::null: return placeholder(index);
    }
    return fmt::format("${}::{}", index, type);
}

}  // namespace orm::db::postgres
