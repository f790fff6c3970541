// SqliteDialect (see sqlite_dialect.hpp).
#include "drivers/sqlite/sqlite_dialect.hpp"

#include <cmath>
#include <functional>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

namespace orm::db::sqlite {

namespace {

// The Thursday of x's ISO week: its year and day of the year give the ISO year and week.
std::string iso_thursday(std::string_view x) { return fmt::format("date({}, '-3 days', 'weekday 4')", x); }

// A rendered operand used more than once: bound once through a one-row subquery when it holds a
// placeholder (SQLite numbers '?' by position), as itself otherwise.
std::string once(std::string_view x, const std::function<std::string(std::string_view)>& body) {
    if (x.find('?') == std::string_view::npos) return body(x);
    return fmt::format("(SELECT {} FROM (SELECT {} AS \"weft_v\"))", body("\"weft_v\""), x);
}

}  // namespace

std::string SqliteDialect::extract_sql(DatePart part, std::string_view x, bool) const {
    auto field = [&](std::string_view f) { return fmt::format("CAST(strftime('{}', {}) AS INTEGER)", f, x); };
    switch (part) {
        case DatePart::year: return field("%Y");
        case DatePart::iso_year: return fmt::format("CAST(strftime('%Y', {}) AS INTEGER)", iso_thursday(x));
        case DatePart::quarter: return fmt::format("((CAST(strftime('%m', {}) AS INTEGER) + 2) / 3)", x);
        case DatePart::month: return field("%m");
        case DatePart::week:
            return fmt::format("((CAST(strftime('%j', {}) AS INTEGER) - 1) / 7 + 1)", iso_thursday(x));
        case DatePart::week_day: return fmt::format("(CAST(strftime('%w', {}) AS INTEGER) + 1)", x);
        case DatePart::iso_week_day: return fmt::format("((CAST(strftime('%w', {}) AS INTEGER) + 6) % 7 + 1)", x);
        case DatePart::day: return field("%d");
        case DatePart::hour: return field("%H");
        case DatePart::minute: return field("%M");
        case DatePart::second: return field("%S");
    }
    return field("%Y");
}

std::string SqliteDialect::trunc_sql(DatePart part, std::string_view x, bool timestamp) const {
    // The start as a date, then (for a timestamp) midnight of it, or the time kept to the unit.
    const std::string_view midnight = timestamp ? " 00:00:00.000000" : "";
    switch (part) {
        case DatePart::year: return fmt::format("strftime('%Y-01-01{}', {})", midnight, x);
        case DatePart::quarter:
            return once(x, [&](std::string_view v) {
                return fmt::format("strftime('%Y-%m-%d{}', {}, 'start of month', '-' || ((CAST(strftime('%m', {}) AS "
                                   "INTEGER) - 1) % 3) || ' months')",
                                   midnight, v, v);
            });
        case DatePart::month: return fmt::format("strftime('%Y-%m-01{}', {})", midnight, x);
        case DatePart::week: return fmt::format("strftime('%Y-%m-%d{}', {}, '-6 days', 'weekday 1')", midnight, x);
        case DatePart::day: return fmt::format("strftime('%Y-%m-%d{}', {})", midnight, x);
        case DatePart::hour: return fmt::format("strftime('%Y-%m-%d %H:00:00.000000', {})", x);
        case DatePart::minute: return fmt::format("strftime('%Y-%m-%d %H:%M:00.000000', {})", x);
        case DatePart::second: return fmt::format("strftime('%Y-%m-%d %H:%M:%S.000000', {})", x);
        default: break;
    }
    throw InterfaceError("Trunc: this part has no truncation");
}

std::string SqliteDialect::timestamp_date_sql(std::string_view x) const { return fmt::format("date({})", x); }

std::string SqliteDialect::cast_sql(std::string_view x, ValueKind to) const {
    switch (to) {
        case ValueKind::boolean: return fmt::format("(CAST({} AS INTEGER) <> 0)", x);
        case ValueKind::int32:
        case ValueKind::int64: return fmt::format("CAST({} AS INTEGER)", x);
        case ValueKind::float64: return fmt::format("CAST({} AS REAL)", x);
        case ValueKind::text: return fmt::format("CAST({} AS TEXT)", x);
        case ValueKind::bytes: return fmt::format("CAST({} AS BLOB)", x);
        // The stored forms: "YYYY-MM-DD HH:MM:SS.ffffff" and "YYYY-MM-DD".
        case ValueKind::timestamp: return fmt::format("strftime('%Y-%m-%d %H:%M:%f000', {})", x);
        case ValueKind::date: return fmt::format("date({})", x);
        case ValueKind::null: break;
    }
    throw InterfaceError("Cast() needs a type");
}

std::string SqliteDialect::now_sql() const { return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"; }

std::string SqliteDialect::greatest_least_sql(bool greatest, std::span<const std::string> args) const {
    return fmt::format("{}({})", greatest ? "MAX" : "MIN", fmt::join(args, ", "));
}

std::string SqliteDialect::round_sql(std::string_view x, std::string_view places) const {
    return fmt::format("ROUND({}, {})", x, places);
}

std::string SqliteDialect::distinct_on_sql(std::span<const std::string>) const {
    throw NotSupportedError("distinct(fields...) (SELECT DISTINCT ON) is not supported on sqlite; "
                            "Features::supports_distinct_on_fields is false");
}

std::string SqliteDialect::compound_sql(Compound op, bool all) const {
    if (all && op != Compound::union_)
        throw NotSupportedError(fmt::format("{}(all=true) ({} ALL) is not supported on sqlite; "
                                            "Features::supports_intersect_except_all is false",
                                            op == Compound::intersection ? "intersection" : "difference",
                                            op == Compound::intersection ? "INTERSECT" : "EXCEPT"));
    return Dialect::compound_sql(op, all);
}

}  // namespace orm::db::sqlite
