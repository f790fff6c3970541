// PgCursor: typed reads of PostgreSQL's text output format.
#include "drivers/postgres/pg_cursor.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "drivers/errors.hpp"
#include "drivers/postgres/pg_types.hpp"

namespace orm::db::postgres {

namespace {

std::string_view type_name(Oid t) {
    switch (t) {
        case oid::boolean: return "boolean";
        case oid::bytea: return "bytea";
        case oid::name: return "name";
        case oid::int8: return "bigint";
        case oid::int2: return "smallint";
        case oid::int4: return "integer";
        case oid::text: return "text";
        case oid::oid: return "oid";
        case oid::float4: return "real";
        case oid::float8: return "double precision";
        case oid::bpchar: return "character";
        case oid::varchar: return "varchar";
        case oid::date: return "date";
        case oid::timestamp: return "timestamp";
        case oid::timestamptz: return "timestamptz";
        case oid::numeric: return "numeric";
        default: return "";
    }
}

std::string shorten(std::string_view s) {
    if (s.size() <= 60) return std::string(s);
    return fmt::format("{}... ({} bytes)", s.substr(0, 60), s.size());
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_integer_type(Oid t) { return t == oid::int2 || t == oid::int4 || t == oid::int8 || t == oid::oid; }

}  // namespace

std::int64_t parse_pg_int(std::string_view s) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size())
        throw DataError(fmt::format("cannot read '{}' as a 64-bit integer", shorten(s)));
    return v;
}

double parse_pg_double(std::string_view s) {
    // from_chars accepts "Infinity", "-Infinity" and "NaN" (case-insensitively) as PostgreSQL writes them.
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc::result_out_of_range && end == s.data() + s.size()) {
        // A numeric beyond double's range: strtod saturates to +-inf or underflows to 0.
        return std::strtod(std::string(s).c_str(), nullptr);
    }
    if (ec != std::errc() || end != s.data() + s.size())
        throw DataError(fmt::format("cannot read '{}' as a double", shorten(s)));
    return v;
}

Bytes parse_pg_bytea(std::string_view s) {
    if (s.size() < 2 || s[0] != '\\' || s[1] != 'x' || s.size() % 2 != 0)
        throw DataError(fmt::format("cannot read '{}' as bytea: expected hex output (\\x...)", shorten(s)));
    Bytes out;
    out.reserve((s.size() - 2) / 2);
    for (std::size_t i = 2; i < s.size(); i += 2) {
        int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0) throw DataError(fmt::format("cannot read '{}' as bytea: bad hex digit", shorten(s)));
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
}

PgCursor::PgCursor(PgHandle::Result r) : r_(std::move(r)), rows_(r_.rows()) {
    // PQcmdTuples also counts SELECT rows; the interface wants changed rows only (RETURNING included).
    std::string_view tag = r_.command_status();
    if (tag.starts_with("INSERT") || tag.starts_with("UPDATE") || tag.starts_with("DELETE") ||
        tag.starts_with("MERGE")) {
        std::string_view n = r_.command_tuples();
        if (!n.empty()) std::from_chars(n.data(), n.data() + n.size(), rows_affected_);
    }
}

bool PgCursor::next() {
    if (row_ + 1 >= rows_) {
        row_ = rows_;
        return false;
    }
    ++row_;
    return true;
}

std::size_t PgCursor::column_count() const { return static_cast<std::size_t>(r_.columns()); }
std::string_view PgCursor::column_name(std::size_t i) const { return r_.column_name(static_cast<int>(i)); }
bool PgCursor::is_null(std::size_t i) const { return r_.is_null(row_, static_cast<int>(i)); }
std::string_view PgCursor::text(std::size_t i) const { return r_.value(row_, static_cast<int>(i)); }

void PgCursor::bad(std::size_t i, std::string_view wanted) const {
    Oid t = r_.column_type(static_cast<int>(i));
    std::string_view tn = type_name(t);
    throw DataError(fmt::format("column {} (\"{}\", PostgreSQL type {}): cannot read '{}' as {}", i, column_name(i),
                                tn.empty() ? fmt::format("oid {}", t) : std::string(tn), shorten(text(i)), wanted));
}

bool PgCursor::get_bool(std::size_t i) const {
    std::string_view s = text(i);
    Oid t = r_.column_type(static_cast<int>(i));
    if (t == oid::boolean) {
        if (s == "t") return true;
        if (s == "f") return false;
    } else if (is_integer_type(t)) {
        return parse_pg_int(s) != 0;
    }
    bad(i, "bool");
}

std::int64_t PgCursor::get_int64(std::size_t i) const {
    std::string_view s = text(i);
    Oid t = r_.column_type(static_cast<int>(i));
    if (t == oid::boolean) return s == "t" ? 1 : 0;
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) bad(i, "a 64-bit integer");
    return v;
}

double PgCursor::get_double(std::size_t i) const {
    try {
        return parse_pg_double(text(i));
    } catch (const DataError&) {
        bad(i, "a double");
    }
}

std::string_view PgCursor::get_text(std::size_t i) const { return text(i); }

Bytes PgCursor::get_bytes(std::size_t i) const {
    std::string_view s = text(i);
    if (r_.column_type(static_cast<int>(i)) == oid::bytea) {
        try {
            return parse_pg_bytea(s);
        } catch (const DataError&) {
            bad(i, "bytes");
        }
    }
    return Bytes(s.begin(), s.end());
}

Timestamp PgCursor::get_timestamp(std::size_t i) const {
    std::string_view s = text(i);
    if (r_.column_type(static_cast<int>(i)) == oid::date) {
        try {
            return Timestamp(parse_date(s));
        } catch (const DataError&) {
            bad(i, "a timestamp");
        }
    }
    try {
        return parse_timestamp(s);
    } catch (const DataError&) {
        bad(i, "a timestamp");
    }
}

Date PgCursor::get_date(std::size_t i) const {
    std::string_view s = text(i);
    Oid t = r_.column_type(static_cast<int>(i));
    try {
        if (t == oid::timestamp || t == oid::timestamptz) return std::chrono::floor<std::chrono::days>(parse_timestamp(s));
        return parse_date(s);
    } catch (const DataError&) {
        bad(i, "a date");
    }
}

Value PgCursor::get_value(std::size_t i) const {
    if (is_null(i)) return Value();
    switch (r_.column_type(static_cast<int>(i))) {
        case oid::boolean: return Value(get_bool(i));
        case oid::int2:
        case oid::int4: return Value(static_cast<std::int32_t>(get_int64(i)));
        case oid::int8:
        case oid::oid: return Value(get_int64(i));
        case oid::float4:
        case oid::float8: return Value(get_double(i));
        case oid::numeric: {
            // SUM(bigint) and friends are numeric: an integral value that fits stays an exact
            // int64 (a double would round past 2^53); anything else (fractions, or integers
            // beyond int64, which callers that need them read exactly with get_text) is a double.
            std::string_view s = text(i);
            std::int64_t v = 0;
            auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
            if (ec == std::errc() && end == s.data() + s.size()) return Value(v);
            return Value(get_double(i));
        }
        case oid::bytea: return Value(get_bytes(i));
        case oid::timestamp:
        case oid::timestamptz: return Value(get_timestamp(i));
        case oid::date: return Value(get_date(i));
        default: return Value(std::string(text(i)));
    }
}

}  // namespace orm::db::postgres
