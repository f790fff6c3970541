// Value accessors and the canonical text forms of timestamps, dates and doubles.
#include "drivers/value.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "drivers/errors.hpp"

namespace orm {

std::string_view to_string(ValueKind kind) noexcept {
    switch (kind) {
        case ValueKind::null: return "null";
        case ValueKind::boolean: return "bool";
        case ValueKind::int32: return "int32";
        case ValueKind::int64: return "int64";
        case ValueKind::float64: return "double";
        case ValueKind::text: return "text";
        case ValueKind::bytes: return "bytes";
        case ValueKind::timestamp: return "timestamp";
        case ValueKind::date: return "date";
    }
    return "unknown";
}

Value::Value() noexcept = default;
Value::Value(std::nullopt_t) noexcept {}
Value::Value(std::nullptr_t) noexcept {}
Value::Value(bool v) noexcept : v_(v) {}
Value::Value(std::int32_t v) noexcept : v_(v) {}
Value::Value(std::int64_t v) noexcept : v_(v) {}
Value::Value(double v) noexcept : v_(v) {}
Value::Value(float v) noexcept : v_(static_cast<double>(v)) {}
Value::Value(std::string v) noexcept : v_(std::move(v)) {}
Value::Value(std::string_view v) : v_(std::string(v)) {}
Value::Value(const char* v) : v_(std::string(v)) {}
Value::Value(Bytes v) noexcept : v_(std::move(v)) {}
Value::Value(Timestamp t) noexcept : v_(t) {}
Value::Value(Date d) noexcept : v_(d) {}
Value::Value(std::chrono::year_month_day d) : v_(Date(d)) {}
Value::Value(const Value&) = default;
Value::Value(Value&&) noexcept = default;
Value& Value::operator=(const Value&) = default;
Value& Value::operator=(Value&&) noexcept = default;
Value::~Value() = default;

bool operator==(const Value& a, const Value& b) { return a.v_ == b.v_; }

namespace {
[[noreturn]] void wrong_kind(const Value& v, std::string_view wanted) {
    throw DataError(fmt::format("value {} is {}, not {}", v.debug_string(), to_string(v.kind()), wanted));
}
}  // namespace

bool Value::as_bool() const {
    if (auto* b = std::get_if<bool>(&v_)) return *b;
    wrong_kind(*this, "bool");
}

std::int32_t Value::as_int32() const {
    if (auto* i = std::get_if<std::int32_t>(&v_)) return *i;
    if (auto* l = std::get_if<std::int64_t>(&v_)) {
        if (*l >= std::numeric_limits<std::int32_t>::min() && *l <= std::numeric_limits<std::int32_t>::max())
            return static_cast<std::int32_t>(*l);
        throw DataError(fmt::format("value {} does not fit in a 32-bit integer", *l));
    }
    wrong_kind(*this, "int32");
}

std::int64_t Value::as_int64() const {
    if (auto* l = std::get_if<std::int64_t>(&v_)) return *l;
    if (auto* i = std::get_if<std::int32_t>(&v_)) return *i;
    wrong_kind(*this, "int64");
}

double Value::as_double() const {
    if (auto* d = std::get_if<double>(&v_)) return *d;
    wrong_kind(*this, "double");
}

const std::string& Value::as_text() const {
    if (auto* s = std::get_if<std::string>(&v_)) return *s;
    wrong_kind(*this, "text");
}

const Bytes& Value::as_bytes() const {
    if (auto* b = std::get_if<Bytes>(&v_)) return *b;
    wrong_kind(*this, "bytes");
}

Timestamp Value::as_timestamp() const {
    if (auto* t = std::get_if<Timestamp>(&v_)) return *t;
    wrong_kind(*this, "timestamp");
}

Date Value::as_date() const {
    if (auto* d = std::get_if<Date>(&v_)) return *d;
    wrong_kind(*this, "date");
}

std::string Value::debug_string() const {
    constexpr std::size_t max_shown = 64;
    return std::visit(
        [&](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                return "NULL";
            } else if constexpr (std::is_same_v<T, bool>) {
                return x ? "true" : "false";
            } else if constexpr (std::is_same_v<T, double>) {
                return format_double(x);
            } else if constexpr (std::is_integral_v<T>) {
                return std::to_string(x);
            } else if constexpr (std::is_same_v<T, std::string>) {
                std::string out = "'";
                for (std::size_t i = 0; i < x.size() && i < max_shown; ++i) {
                    unsigned char c = static_cast<unsigned char>(x[i]);
                    if (c == '\'') out += "''";
                    else if (c < 0x20) out += fmt::format("\\x{:02x}", c);
                    else out += static_cast<char>(c);
                }
                out += "'";
                if (x.size() > max_shown) out += fmt::format("... ({} bytes)", x.size());
                return out;
            } else if constexpr (std::is_same_v<T, Bytes>) {
                std::string out = "x'";
                for (std::size_t i = 0; i < x.size() && i < max_shown / 2; ++i) out += fmt::format("{:02x}", x[i]);
                out += "'";
                if (x.size() > max_shown / 2) out += fmt::format("... ({} bytes)", x.size());
                return out;
            } else if constexpr (std::is_same_v<T, Timestamp>) {
                return "'" + format_timestamp(x) + "'";
            } else {
                return "'" + format_date(x) + "'";
            }
        },
        v_);
}

std::string format_date(Date d) {
    std::chrono::year_month_day ymd(d);
    int y = static_cast<int>(ymd.year());
    if (y < 0 || y > 9999) throw DataError(fmt::format("date year {} is outside 0000..9999", y));
    return fmt::format("{:04}-{:02}-{:02}", y, static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

std::string format_timestamp(Timestamp t) {
    using namespace std::chrono;
    auto day = floor<days>(t);
    auto since_midnight = t - day;
    auto h = duration_cast<hours>(since_midnight);
    auto m = duration_cast<minutes>(since_midnight - h);
    auto s = duration_cast<seconds>(since_midnight - h - m);
    auto us = (since_midnight - h - m - s).count();
    return fmt::format("{} {:02}:{:02}:{:02}.{:06}", format_date(day), h.count(), m.count(), s.count(), us);
}

namespace {

struct TextReader {
    std::string_view s;
    std::size_t pos = 0;
    bool at_end() const { return pos >= s.size(); }
    char peek() const { return at_end() ? '\0' : s[pos]; }
    bool eat(char c) {
        if (peek() != c) return false;
        ++pos;
        return true;
    }
    // Reads exactly n digits.
    bool digits(std::size_t n, int& out) {
        if (pos + n > s.size()) return false;
        out = 0;
        for (std::size_t i = 0; i < n; ++i) {
            char c = s[pos + i];
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        pos += n;
        return true;
    }
};

[[noreturn]] void bad_text(std::string_view what, std::string_view text, std::string_view expected) {
    throw DataError(fmt::format("cannot read {} from '{}': expected {}", what, text.substr(0, 80), expected));
}

bool read_date(TextReader& r, Date& out) {
    int y = 0, mo = 0, d = 0;
    if (!r.digits(4, y) || !r.eat('-') || !r.digits(2, mo) || !r.eat('-') || !r.digits(2, d)) return false;
    std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                    std::chrono::day(static_cast<unsigned>(d))};
    if (!ymd.ok()) return false;
    out = Date(ymd);
    return true;
}

constexpr std::string_view timestamp_forms =
    "'YYYY-MM-DD HH:MM[:SS[.ffffff]]' with an optional 'Z', '+HH', '+HH:MM' or '+HHMM' offset";

}  // namespace

Date parse_date(std::string_view text) {
    TextReader r{text};
    Date d;
    if (!read_date(r, d) || !r.at_end()) bad_text("a date", text, "'YYYY-MM-DD'");
    return d;
}

Timestamp parse_timestamp(std::string_view text) {
    using namespace std::chrono;
    TextReader r{text};
    Date d;
    int h = 0, mi = 0, sec = 0;
    if (!read_date(r, d)) bad_text("a timestamp", text, timestamp_forms);
    if (r.at_end()) return Timestamp(d);  // a bare date is midnight
    if (!(r.eat(' ') || r.eat('T'))) bad_text("a timestamp", text, timestamp_forms);
    if (!r.digits(2, h) || !r.eat(':') || !r.digits(2, mi) || h > 23 || mi > 59)
        bad_text("a timestamp", text, timestamp_forms);
    std::int64_t micros = 0;
    if (r.eat(':')) {
        if (!r.digits(2, sec) || sec > 60) bad_text("a timestamp", text, timestamp_forms);
        if (r.eat('.')) {
            int ndigits = 0;
            while (!r.at_end() && r.peek() >= '0' && r.peek() <= '9') {
                if (ndigits < 6) micros = micros * 10 + (r.peek() - '0');
                ++ndigits;
                ++r.pos;
            }
            if (ndigits == 0) bad_text("a timestamp", text, timestamp_forms);
            for (int i = ndigits; i < 6; ++i) micros *= 10;
        }
    }
    Timestamp t = Timestamp(d) + hours(h) + minutes(mi) + seconds(sec) + microseconds(micros);
    if (r.at_end() || r.eat('Z')) {
        if (!r.at_end()) bad_text("a timestamp", text, timestamp_forms);
        return t;
    }
    int sign = 0;
    if (r.eat('+')) sign = 1;
    else if (r.eat('-')) sign = -1;
    else bad_text("a timestamp", text, timestamp_forms);
    int oh = 0, om = 0, os = 0;
    if (!r.digits(2, oh)) bad_text("a timestamp", text, timestamp_forms);
    if (r.eat(':')) {
        if (!r.digits(2, om)) bad_text("a timestamp", text, timestamp_forms);
        if (r.eat(':') && !r.digits(2, os)) bad_text("a timestamp", text, timestamp_forms);
    } else if (!r.at_end() && !r.digits(2, om)) {
        bad_text("a timestamp", text, timestamp_forms);
    }
    if (!r.at_end()) bad_text("a timestamp", text, timestamp_forms);
    // The offset says how far local time is ahead of UTC, so subtract it.
    return t - sign * (hours(oh) + minutes(om) + seconds(os));
}

std::string format_double(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    return fmt::format("{}", v);
}

}  // namespace orm
