// Value kinds, conversions and the canonical text forms (no database).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "drivers/errors.hpp"
#include "drivers/value.hpp"

using namespace orm;
using namespace std::chrono;

TEST_CASE("Value picks the kind from the C++ type") {
    CHECK(Value().kind() == ValueKind::null);
    CHECK(Value(std::nullopt).is_null());
    CHECK(Value(true).kind() == ValueKind::boolean);
    CHECK(Value(5).kind() == ValueKind::int32);
    CHECK(Value(5L).kind() == ValueKind::int64);
    CHECK(Value(5LL).kind() == ValueKind::int64);
    CHECK(Value(std::uint32_t{5}).kind() == ValueKind::int64);
    CHECK(Value(short{5}).kind() == ValueKind::int32);
    CHECK(Value(1.5).kind() == ValueKind::float64);
    CHECK(Value("x").kind() == ValueKind::text);
    CHECK(Value(std::string_view("x")).kind() == ValueKind::text);
    CHECK(Value(Bytes{1}).kind() == ValueKind::bytes);
    CHECK(Value(system_clock::now()).kind() == ValueKind::timestamp);
    CHECK(Value(year(2020) / 1 / 1).kind() == ValueKind::date);
    CHECK(Value(std::optional<int>()).is_null());
    CHECK(Value(std::optional<int>(3)).as_int32() == 3);
}

TEST_CASE("Value accessors convert integer widths losslessly and refuse other kinds") {
    CHECK(Value(7).as_int64() == 7);
    CHECK(Value(std::int64_t{7}).as_int32() == 7);
    CHECK_THROWS_AS(Value(std::int64_t{1} << 40).as_int32(), DataError);
    CHECK_THROWS_WITH_AS(Value("abc").as_int64(), doctest::Contains("'abc' is text, not int64"), DataError);
    CHECK_THROWS_AS(Value().as_text(), DataError);
    CHECK_THROWS_AS(Value(1).as_double(), DataError);
}

TEST_CASE("Value::debug_string quotes, escapes and shortens") {
    CHECK(Value().debug_string() == "NULL");
    CHECK(Value("it's").debug_string() == "'it''s'");
    CHECK(Value(std::string("a\0b", 3)).debug_string() == "'a\\x00b'");
    CHECK(Value(Bytes{0xde, 0xad}).debug_string() == "x'dead'");
    std::string long_text(1000, 'z');
    auto s = Value(long_text).debug_string();
    CHECK(s.size() < 100);
    CHECK(s.find("1000 bytes") != std::string::npos);
}

TEST_CASE("timestamps format with six fractional digits and parse every accepted form") {
    Timestamp t = sys_days(year(2024) / 2 / 29) + hours(13) + minutes(5) + seconds(9) + microseconds(42);
    CHECK(format_timestamp(t) == "2024-02-29 13:05:09.000042");
    CHECK(parse_timestamp("2024-02-29 13:05:09.000042") == t);
    CHECK(parse_timestamp("2024-02-29T13:05:09.000042Z") == t);
    CHECK(parse_timestamp("2024-02-29 15:05:09.000042+02") == t);
    CHECK(parse_timestamp("2024-02-29 08:35:09.000042-04:30") == t);
    CHECK(parse_timestamp("2024-02-29 15:05:09.000042+0200") == t);
    CHECK(parse_timestamp("2024-02-29 13:05:09.0000421") == t);  // sub-microsecond digits truncated
    CHECK(parse_timestamp("2024-02-29 13:05") == sys_days(year(2024) / 2 / 29) + hours(13) + minutes(5));
    CHECK(parse_timestamp("2024-02-29") == Timestamp(sys_days(year(2024) / 2 / 29)));
    // Before the epoch: floor division keeps the fraction positive.
    Timestamp before = sys_days(year(1969) / 12 / 31) + hours(23) + minutes(59) + seconds(59) + microseconds(999999);
    CHECK(format_timestamp(before) == "1969-12-31 23:59:59.999999");
    CHECK(parse_timestamp(format_timestamp(before)) == before);
    CHECK_THROWS_WITH_AS(parse_timestamp("2024-02-30 00:00:00"), doctest::Contains("2024-02-30"), DataError);
    CHECK_THROWS_AS(parse_timestamp("yesterday"), DataError);
    CHECK_THROWS_AS(parse_timestamp("2024-01-01 25:00:00"), DataError);
    CHECK_THROWS_AS(parse_timestamp("2024-01-01 10:00:00 junk"), DataError);
}

TEST_CASE("dates format and parse as YYYY-MM-DD") {
    CHECK(format_date(sys_days(year(7) / 3 / 4)) == "0007-03-04");
    CHECK(parse_date("1999-12-31") == Date(year(1999) / 12 / 31));
    CHECK_THROWS_AS(parse_date("1999-13-01"), DataError);
    CHECK_THROWS_AS(parse_date("1999-12-31 00:00"), DataError);
}

TEST_CASE("format_double round-trips and spells non-finite values as PostgreSQL does") {
    for (double d : {0.1, 1.0 / 3.0, 1e-300, -2.5e300, 123456789.0}) CHECK(std::stod(format_double(d)) == d);
    CHECK(format_double(std::numeric_limits<double>::infinity()) == "Infinity");
    CHECK(format_double(-std::numeric_limits<double>::infinity()) == "-Infinity");
    CHECK(format_double(std::nan("")) == "NaN");
}
