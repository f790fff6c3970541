// PgDialect.
#include "drivers/postgres/pg_dialect.hpp"

#include <cmath>

#include <fmt/format.h>

#include "drivers/errors.hpp"

namespace orm::db::postgres {

std::string PgDialect::placeholder(std::size_t index) const { return fmt::format("${}", index); }

std::string PgDialect::limit_offset(std::optional<std::int64_t> limit, std::int64_t offset) const {
    std::string out;
    if (limit) out += fmt::format(" LIMIT {}", *limit);
    if (offset > 0) out += fmt::format(" OFFSET {}", offset);
    return out;
}

namespace {

std::string_view pg_type(ValueKind kind) {
    switch (kind) {
        case ValueKind::boolean: return "boolean";
        case ValueKind::int32: return "integer";
        case ValueKind::int64: return "bigint";
        case ValueKind::float64: return "double precision";
        case ValueKind::text: return "text";
        case ValueKind::bytes: return "bytea";
        case ValueKind::timestamp: return "timestamptz";
        case ValueKind::date: return "date";
        case ValueKind::null: break;
    }
    return {};
}

// One element of an array literal: quoted, with '"' and '\' escaped (the array parser's rules).
void append_array_element(std::string& out, std::string_view text) {
    out += '"';
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

// bytea's hex input form, \x0aff (the text of a literal or of an array element).
std::string bytea_hex(const Bytes& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "\\x";
    out.reserve(2 + 2 * bytes.size());
    for (auto b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0xf];
    }
    return out;
}

}  // namespace

std::string PgDialect::literal(const Value& v) const {
    switch (v.kind()) {
        case ValueKind::float64: {
            double d = v.as_double();
            if (!std::isfinite(d)) return fmt::format("'{}'::double precision", format_double(d));
            return format_double(d);
        }
        case ValueKind::bytes: return "'" + bytea_hex(v.as_bytes()) + "'::bytea";
        case ValueKind::timestamp: return fmt::format("'{}+00'::timestamptz", format_timestamp(v.as_timestamp()));
        case ValueKind::date: return fmt::format("'{}'::date", format_date(v.as_date()));
        default: return Dialect::literal(v);
    }
}

std::string PgDialect::text_match_sql(TextMatch m, std::string_view lhs, std::string_view rhs) const {
    switch (m) {
        case TextMatch::iexact: return fmt::format("UPPER({}) = UPPER({})", lhs, rhs);
        case TextMatch::icontains:
        case TextMatch::istartswith:
        case TextMatch::iendswith: return fmt::format("UPPER({}) LIKE UPPER({}){}", lhs, rhs, like_escape_clause());
        case TextMatch::regex: return fmt::format("{} ~ {}", lhs, rhs);
        case TextMatch::iregex: return fmt::format("{} ~* {}", lhs, rhs);
        default: return Dialect::text_match_sql(m, lhs, rhs);
    }
}


std::string PgDialect::in_list_sql(std::string_view lhs, std::size_t index, ValueKind kind,
                                   std::span<const Value>) const {
    std::string_view type = pg_type(kind);
    if (type.empty()) return {};
    return fmt::format("{} = ANY(${}::{}[])", lhs, index, type);
}

Value PgDialect::in_list_param(ValueKind kind, std::span<const Value> values) const {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) out += ',';
        const Value& v = values[i];
        switch (kind) {
            case ValueKind::boolean: out += v.as_bool() ? 't' : 'f'; break;
            case ValueKind::int32:
            case ValueKind::int64: out += std::to_string(v.as_int64()); break;
            case ValueKind::float64:
                out += format_double(v.kind() == ValueKind::float64 ? v.as_double() : static_cast<double>(v.as_int64()));
                break;
            case ValueKind::text: {
                const std::string& t = v.as_text();
                if (t.find('\0') != std::string::npos)
                    throw DataError("a text value in an __in list contains a NUL byte, which PostgreSQL text cannot hold");
                append_array_element(out, t);
                break;
            }
            case ValueKind::bytes: append_array_element(out, bytea_hex(v.as_bytes())); break;
            case ValueKind::timestamp: append_array_element(out, format_timestamp(v.as_timestamp()) + "+00"); break;
            case ValueKind::date: append_array_element(out, format_date(v.as_date())); break;
            case ValueKind::null: out += "NULL"; break;
        }
    }
    out += '}';
    return Value(std::move(out));
}

std::string PgDialect::typed_placeholder(std::size_t index, ValueKind kind) const {
    std::string_view type = pg_type(kind);
    if (type.empty()) return placeholder(index);
    return fmt::format("${}::{}", index, type);
}

}  // namespace orm::db::postgres
