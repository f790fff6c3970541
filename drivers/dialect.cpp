// Default SQL spellings (standard SQL); backends override what they spell differently.
#include "drivers/dialect.hpp"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "drivers/errors.hpp"

namespace orm::db {

std::string Dialect::quote_name(std::string_view identifier) const {
    if (identifier.empty()) throw InterfaceError("empty SQL identifier");
    if (identifier.find('\0') != std::string_view::npos)
        throw InterfaceError(fmt::format("SQL identifier '{}' contains a NUL byte", identifier.substr(0, 40)));
    std::string out;
    out.reserve(identifier.size() + 2);
    out += '"';
    for (char c : identifier) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

std::string Dialect::limit_offset(std::optional<std::int64_t> limit, std::int64_t offset) const {
    std::string out;
    if (limit) out += fmt::format(" LIMIT {}", *limit);
    if (offset > 0) {
        if (!limit) out += " LIMIT -1";
        out += fmt::format(" OFFSET {}", offset);
    }
    return out;
}

std::string Dialect::literal(const Value& v) const {
    return std::visit(
        [&](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                return "NULL";
            } else if constexpr (std::is_same_v<T, bool>) {
                return bool_literal(x);
            } else if constexpr (std::is_same_v<T, double>) {
                return double_literal(x);
            } else if constexpr (std::is_integral_v<T>) {
                return std::to_string(x);
            } else if constexpr (std::is_same_v<T, std::string>) {
                if (x.find('\0') != std::string::npos)
                    throw DataError("a DDL literal cannot contain a NUL byte");
                std::string out = "'";
                for (char c : x) {
                    if (c == '\'') out += '\'';
                    out += c;
                }
                return out + "'";
            } else if constexpr (std::is_same_v<T, Bytes>) {
                std::string out = "X'";
                for (auto b : x) out += fmt::format("{:02X}", b);
                return out + "'";
            } else if constexpr (std::is_same_v<T, Timestamp>) {
                return "'" + format_timestamp(x) + "'";
            } else {
                return "'" + format_date(x) + "'";
            }
        },
        v.storage());
}

std::string Dialect::double_literal(double d) const {
    if (!std::isfinite(d)) return fmt::format("'{}'", format_double(d));
    return format_double(d);
}

std::string Dialect::savepoint_sql(std::string_view name) const { return "SAVEPOINT " + quote_name(name); }
std::string Dialect::release_savepoint_sql(std::string_view name) const {
    return "RELEASE SAVEPOINT " + quote_name(name);
}
std::string Dialect::rollback_to_savepoint_sql(std::string_view name) const {
    return "ROLLBACK TO SAVEPOINT " + quote_name(name);
}

std::string Dialect::escape_like(std::string_view text) const {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

std::string Dialect::text_match_sql(TextMatch m, std::string_view lhs, std::string_view rhs) const {
    const std::string_view esc = like_escape_clause();
    switch (m) {
        case TextMatch::iexact: return fmt::format("UPPER({}) = UPPER({})", lhs, rhs);
        case TextMatch::contains:
        case TextMatch::startswith:
        case TextMatch::endswith: return fmt::format("{} LIKE {}{}", lhs, rhs, esc);
        case TextMatch::icontains:
        case TextMatch::istartswith:
        case TextMatch::iendswith: return fmt::format("UPPER({}) LIKE UPPER({}){}", lhs, rhs, esc);
        case TextMatch::regex:
        case TextMatch::iregex: break;
    }
    throw NotSupportedError(fmt::format("the {} backend has no regular expression lookups (regex, iregex)", name()));
}

std::string Dialect::text_match_param(TextMatch m, std::string_view value) const {
    switch (m) {
        case TextMatch::contains:
        case TextMatch::icontains: return "%" + escape_like(value) + "%";
        case TextMatch::startswith:
        case TextMatch::istartswith: return escape_like(value) + "%";
        case TextMatch::endswith:
        case TextMatch::iendswith: return "%" + escape_like(value);
        case TextMatch::iexact:
        case TextMatch::regex:
        case TextMatch::iregex: break;
    }
    return std::string(value);
}

std::string Dialect::typed_placeholder(std::size_t index, ValueKind) const { return placeholder(index); }

std::string Dialect::in_list_sql(std::string_view, std::size_t, ValueKind, std::span<const Value>) const { return {}; }

Value Dialect::in_list_param(ValueKind, std::span<const Value>) const {
    throw InterfaceError(fmt::format("the {} backend binds IN lists one value per parameter", name()));
}

}  // namespace orm::db

namespace orm::db {

namespace {

std::string_view pg_part_name(Dialect::DatePart p) {
    using P = Dialect::DatePart;
    switch (p) {
        case P::year: return "YEAR";
        case P::iso_year: return "ISOYEAR";
        case P::quarter: return "QUARTER";
        case P::month: return "MONTH";
        case P::week: return "WEEK";
        case P::week_day: return "DOW";
        case P::iso_week_day: return "ISODOW";
        case P::day: return "DAY";
        case P::hour: return "HOUR";
        case P::minute: return "MINUTE";
        case P::second: return "SECOND";
    }
    return "YEAR";
}

std::string utc(std::string_view x, bool timestamp) {
    return timestamp ? fmt::format("({} AT TIME ZONE 'UTC')", x) : std::string(x);
}

}  // namespace

std::string Dialect::extract_sql(DatePart part, std::string_view x, bool timestamp) const {
    const std::string v = utc(x, timestamp);
    switch (part) {
        case DatePart::week_day: return fmt::format("(CAST(EXTRACT(DOW FROM {}) AS INTEGER) + 1)", v);
        // Whole seconds, as Django reads them (EXTRACT gives the fraction too).
        case DatePart::second: return fmt::format("CAST(FLOOR(EXTRACT(SECOND FROM {})) AS INTEGER)", v);
        default: return fmt::format("CAST(EXTRACT({} FROM {}) AS INTEGER)", pg_part_name(part), v);
    }
}

std::string Dialect::trunc_sql(DatePart part, std::string_view x, bool timestamp) const {
    std::string unit(pg_part_name(part));
    for (auto& c : unit) c = static_cast<char>(c - 'A' + 'a');
    if (timestamp) return fmt::format("(DATE_TRUNC('{}', {} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')", unit, x);
    return fmt::format("CAST(DATE_TRUNC('{}', {}) AS DATE)", unit, x);
}

std::string Dialect::timestamp_date_sql(std::string_view x) const {
    return fmt::format("CAST({} AT TIME ZONE 'UTC' AS DATE)", x);
}

std::string Dialect::cast_sql(std::string_view x, ValueKind to) const {
    std::string_view type;
    switch (to) {
        case ValueKind::boolean: type = "BOOLEAN"; break;
        case ValueKind::int32: type = "INTEGER"; break;
        case ValueKind::int64: type = "BIGINT"; break;
        case ValueKind::float64: type = "DOUBLE PRECISION"; break;
        case ValueKind::text: type = "TEXT"; break;
        case ValueKind::bytes: type = "BYTEA"; break;
        case ValueKind::timestamp: type = "TIMESTAMP WITH TIME ZONE"; break;
        case ValueKind::date: type = "DATE"; break;
        case ValueKind::null: throw InterfaceError("Cast() needs a type");
    }
    return fmt::format("CAST({} AS {})", x, type);
}

std::string Dialect::greatest_least_sql(bool greatest, std::span<const std::string> args) const {
    return fmt::format("{}({})", greatest ? "GREATEST" : "LEAST", fmt::join(args, ", "));
}

std::string Dialect::round_sql(std::string_view x, std::string_view places) const {
    // numeric rounds halves away from zero; double precision would round them to even.
    return fmt::format("ROUND(CAST({} AS NUMERIC), {})", x, places);
}

std::string Dialect::distinct_on_sql(std::span<const std::string> exprs) const {
    return fmt::format("DISTINCT ON ({}) ", fmt::join(exprs, ", "));
}

std::string Dialect::compound_sql(Compound op, bool all) const {
    std::string out = op == Compound::union_ ? " UNION" : op == Compound::intersection ? " INTERSECT" : " EXCEPT";
    return out + (all ? " ALL " : " ");
}

std::string Dialect::on_conflict_sql(bool update, std::span<const std::string> unique_columns,
                                     std::span<const std::string> update_columns) const {
    std::string out = " ON CONFLICT";
    if (!unique_columns.empty()) {
        out += " (";
        for (std::size_t i = 0; i < unique_columns.size(); ++i) {
            if (i) out += ", ";
            out += quote_name(unique_columns[i]);
        }
        out += ")";
    }
    if (!update) return out + " DO NOTHING";
    out += " DO UPDATE SET ";
    for (std::size_t i = 0; i < update_columns.size(); ++i) {
        if (i) out += ", ";
        std::string q = quote_name(update_columns[i]);
        out += q + " = EXCLUDED." + q;
    }
    return out;
}

}  // namespace orm::db
