// SqliteDialect (see sqlite_dialect.hpp).
#include "drivers/sqlite/sqlite_dialect.hpp"

#include <cmath>

#include <fmt/format.h>

#include "drivers/errors.hpp"

namespace orm::db::sqlite {

std::string SqliteDialect::double_literal(double d) const {
    if (std::isnan(d)) throw DataError("SQLite has no literal for NaN (it stores NaN as NULL)");
    if (std::isinf(d)) return d > 0 ? "9e999" : "-9e999";
    std::string s = format_double(d);
    if (s.find_first_of(".eE") == std::string::npos) s += ".0";  // stay a REAL literal
    return s;
}

namespace {

// GLOB has no escape character: a special character matches itself inside brackets.
std::string escape_glob(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '*' || c == '?' || c == '[') {
            out += '[';
            out += c;
            out += ']';
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::string SqliteDialect::text_match_sql(TextMatch m, std::string_view lhs, std::string_view rhs) const {
    switch (m) {
        case TextMatch::contains:
        case TextMatch::startswith:
        case TextMatch::endswith: return fmt::format("{} GLOB {}", lhs, rhs);
        case TextMatch::icontains:
        case TextMatch::istartswith:
        case TextMatch::iendswith: return fmt::format("{} LIKE {}{}", lhs, rhs, like_escape_clause());
        case TextMatch::regex: return fmt::format("weft_regexp({}, {})", lhs, rhs);
        case TextMatch::iregex: return fmt::format("weft_iregexp({}, {})", lhs, rhs);
        default: return Dialect::text_match_sql(m, lhs, rhs);
    }
}

std::string SqliteDialect::text_match_param(TextMatch m, std::string_view value) const {
    switch (m) {
        case TextMatch::contains: return "*" + escape_glob(value) + "*";
        case TextMatch::startswith: return escape_glob(value) + "*";
        case TextMatch::endswith: return "*" + escape_glob(value);
        default: return Dialect::text_match_param(m, value);
    }
}

namespace {

bool json_can_carry(ValueKind kind, std::span<const Value> values) {
    for (const Value& v : values) {
        if (kind == ValueKind::float64 && v.kind() == ValueKind::float64 && !std::isfinite(v.as_double())) return false;
        if (kind == ValueKind::text && v.as_text().find('\0') != std::string::npos) return false;
    }
    return true;
}

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            out += fmt::format("\\u{:04x}", u);
        } else {
            out += c;
        }
    }
    out += '"';
}

}  // namespace

std::string SqliteDialect::in_list_sql(std::string_view lhs, std::size_t, ValueKind kind,
                                       std::span<const Value> values) const {
    if (kind == ValueKind::null || !json_can_carry(kind, values)) return {};
    // Blobs: JSON has no binary type, so both sides compare as SQLite's upper-case hex.
    if (kind == ValueKind::bytes) return fmt::format("hex({}) IN (SELECT value FROM json_each(?))", lhs);
    return fmt::format("{} IN (SELECT value FROM json_each(?))", lhs);
}

Value SqliteDialect::in_list_param(ValueKind kind, std::span<const Value> values) const {
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) out += ',';
        const Value& v = values[i];
        switch (kind) {
            case ValueKind::boolean: out += v.as_bool() ? '1' : '0'; break;
            case ValueKind::int32:
            case ValueKind::int64: out += std::to_string(v.as_int64()); break;
            case ValueKind::float64: {
                // Always a JSON real ("1.0", not "1"), so the values stay REAL as bound doubles do.
                double d = v.kind() == ValueKind::float64 ? v.as_double() : static_cast<double>(v.as_int64());
                std::string t = format_double(d);
                if (t.find_first_of(".eE") == std::string::npos) t += ".0";
                out += t;
                break;
            }
            case ValueKind::text: append_json_string(out, v.as_text()); break;
            case ValueKind::bytes: {
                std::string hex;
                for (auto b : v.as_bytes()) hex += fmt::format("{:02X}", b);
                append_json_string(out, hex);
                break;
            }
            case ValueKind::timestamp: append_json_string(out, format_timestamp(v.as_timestamp())); break;
            case ValueKind::date: append_json_string(out, format_date(v.as_date())); break;
            case ValueKind::null: out += "null"; break;
        }
    }
    out += ']';
    return Value(std::move(out));
}

}  // namespace orm::db::sqlite
