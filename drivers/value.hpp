// Value: the one type every parameter and column travels as between the ORM and a driver.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace orm {

using Bytes = std::vector<std::uint8_t>;
// Timestamps are UTC with microsecond precision (what both SQLite text and PostgreSQL hold).
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;
using Date = std::chrono::sys_days;

// The kinds a value (or a column) can have. Order matches Value::Storage's alternatives.
enum class ValueKind : std::uint8_t { null, boolean, int32, int64, float64, text, bytes, timestamp, date };

std::string_view to_string(ValueKind kind) noexcept;

class Value {
public:
    using Storage = std::variant<std::monostate, bool, std::int32_t, std::int64_t, double, std::string,
                                 Bytes, Timestamp, Date>;

    // Every constructor, copying, moving, destroying and comparing are compiled once, in
    // value.cpp: inline, each one instantiates more of std::variant's machinery over the nine
    // alternatives in every file that includes this header, which showed in the compile time of
    // user code (bench/compile_bench.cpp). What they cost at run time is one call.
    Value() noexcept;
    Value(const Value&);
    Value(Value&&) noexcept;
    Value& operator=(const Value&);
    Value& operator=(Value&&) noexcept;
    ~Value();
    Value(std::nullopt_t) noexcept;
    Value(std::nullptr_t) noexcept;
    Value(bool v) noexcept;
    Value(std::int32_t v) noexcept;
    Value(std::int64_t v) noexcept;
    // long long is a distinct type from int64_t (long) on LP64; both are 64-bit integers.
    template <class T>
        requires(std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, std::int32_t> &&
                 !std::is_same_v<T, std::int64_t> && !std::is_same_v<T, char>)
    Value(T v) noexcept : Value(widen(v)) {}
    Value(double v) noexcept;
    Value(float v) noexcept;
    Value(std::string v) noexcept;
    Value(std::string_view v);
    Value(const char* v);
    Value(Bytes v) noexcept;
    Value(Timestamp t) noexcept;
    template <class Dur>
    Value(std::chrono::sys_time<Dur> t) : Value(Timestamp(std::chrono::floor<std::chrono::microseconds>(t))) {}
    Value(Date d) noexcept;
    Value(std::chrono::year_month_day d);
    template <class T>
    Value(const std::optional<T>& v) : Value() {
        if (v) *this = Value(*v);
    }

    ValueKind kind() const noexcept { return static_cast<ValueKind>(v_.index()); }
    bool is_null() const noexcept { return v_.index() == 0; }
    const Storage& storage() const noexcept { return v_; }

    // Typed access; throws orm::DataError naming both kinds when the value holds another kind.
    // Integer widths convert losslessly (int32 -> int64; int64 -> int32 only when in range).
    bool as_bool() const;
    std::int32_t as_int32() const;
    std::int64_t as_int64() const;
    double as_double() const;
    const std::string& as_text() const;
    const Bytes& as_bytes() const;
    Timestamp as_timestamp() const;
    Date as_date() const;

    // A human-readable rendering for messages and the query log (text quoted, bytes as hex,
    // long values shortened). Never used to build SQL.
    std::string debug_string() const;

    friend bool operator==(const Value&, const Value&);

private:
    template <class T>
    static auto widen(T v) noexcept {
        if constexpr (sizeof(T) <= 4 && std::is_signed_v<T>)
            return static_cast<std::int32_t>(v);
        else
            return static_cast<std::int64_t>(v);
    }
    Storage v_;
};

// Canonical text forms shared by the drivers (SQLite stores these; PostgreSQL parses them).
// Timestamps: "YYYY-MM-DD HH:MM:SS.ffffff" (always six digits, so text order is time order).
std::string format_timestamp(Timestamp t);
std::string format_date(Date d);
// Accepts "YYYY-MM-DD[ T]HH:MM[:SS[.f{1,9}]]" with an optional "Z", "+HH", "+HH:MM" or "+HHMM"
// offset (converted to UTC). Throws orm::DataError quoting the input when it does not parse.
Timestamp parse_timestamp(std::string_view text);
Date parse_date(std::string_view text);
// Shortest text that reads back as the same double; "Infinity", "-Infinity", "NaN" as PostgreSQL spells them.
std::string format_double(double v);

}  // namespace orm
