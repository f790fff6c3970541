// Round trips of every Value kind through real SQLite storage, and the cursor's strict reads.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "helpers.hpp"

using namespace orm;
using namespace orm::db;
using namespace sqlite_test;
using namespace std::chrono;

namespace {

// A table with one column per declared type, as the schema editor spells them.
std::unique_ptr<Connection> typed_db() {
    auto c = open_memory();
    c->execute_script(
        "CREATE TABLE v (id integer PRIMARY KEY, b boolean, i32 integer, i64 bigint, f real, t text, "
        "bl blob, ts timestamp, d date)");
    return c;
}

template <class T>
T round_trip(Connection& c, std::string_view column, const Value& v) {
    c.execute("DELETE FROM v");
    c.execute(fmt::format("INSERT INTO v (id, {}) VALUES (1, ?)", column), {v});
    auto r = c.execute(fmt::format("SELECT {} FROM v WHERE id = 1", column));
    REQUIRE(r.next());
    T out = r.row().get<T>(0);
    CHECK_FALSE(r.next());
    return out;
}

}  // namespace

TEST_CASE("NULL and booleans round-trip") {
    auto c = typed_db();
    CHECK(round_trip<Value>(*c, "t", Value()).is_null());
    CHECK(round_trip<std::optional<std::string>>(*c, "t", Value()) == std::nullopt);
    CHECK(round_trip<bool>(*c, "b", true) == true);
    CHECK(round_trip<bool>(*c, "b", false) == false);
    // Stored as 0/1 integers; get_value sees the declared boolean type.
    CHECK(round_trip<std::int64_t>(*c, "b", true) == 1);
    CHECK(round_trip<Value>(*c, "b", true) == Value(true));
}

TEST_CASE("integers round-trip at their limits") {
    auto c = typed_db();
    for (std::int32_t v : {0, 1, -1, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()})
        CHECK(round_trip<std::int32_t>(*c, "i32", v) == v);
    for (std::int64_t v : {std::int64_t{0}, std::numeric_limits<std::int64_t>::min(),
                           std::numeric_limits<std::int64_t>::max(), std::int64_t{1} << 53, -(std::int64_t{1} << 53) - 1})
        CHECK(round_trip<std::int64_t>(*c, "i64", v) == v);
    CHECK(round_trip<Value>(*c, "i64", std::numeric_limits<std::int64_t>::min()) ==
          Value(std::numeric_limits<std::int64_t>::min()));
    // Reading an int64 that does not fit into int32 is a DataError, not truncation.
    CHECK_THROWS_AS(round_trip<std::int32_t>(*c, "i64", std::int64_t{1} << 40), DataError);
}

TEST_CASE("doubles round-trip, infinities included; NaN is refused") {
    auto c = typed_db();
    const double values[] = {0.0, -0.0, 0.1, -2.5, 1e300, -1e-300, std::numeric_limits<double>::denorm_min(),
                             std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
                             std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
    for (double v : values) {
        CAPTURE(v);
        double back = round_trip<double>(*c, "f", v);
        CHECK(back == v);
        // SQLite stores integral values of REAL columns as integers on disk, so -0.0 reads back as 0.0.
        if (v != 0.0) CHECK(std::signbit(back) == std::signbit(v));
    }
    CHECK(round_trip<Value>(*c, "f", 0.25) == Value(0.25));
    c->execute("DELETE FROM v");
    CHECK_THROWS_WITH_AS(c->execute("INSERT INTO v (id, f) VALUES (1, ?)", {std::nan("")}),
                         doctest::Contains("NaN"), DataError);
    CHECK(scalar_int(*c, "SELECT count(*) FROM v WHERE id = 1") == 0);
}

TEST_CASE("text keeps NUL bytes, non-ASCII, quotes and emptiness") {
    auto c = typed_db();
    const std::string samples[] = {
        "",
        "plain",
        std::string("nul\0inside\0", 11),
        std::string("\0", 1),
        "héllo wörld ✓ 日本語 🦀",
        "it's \"quoted\"; DROP TABLE v; --",
        "line\nbreak\ttab\r\n",
        "\\backslash%percent_underscore",
    };
    for (const auto& s : samples) {
        CAPTURE(s);
        CHECK(round_trip<std::string>(*c, "t", s) == s);
        CHECK(round_trip<Value>(*c, "t", s) == Value(s));
    }
    // Empty text is not NULL.
    CHECK(round_trip<std::optional<std::string>>(*c, "t", std::string()) == std::optional<std::string>(""));
    // The stored value really has the NUL bytes (not just our read of it).
    c->execute("DELETE FROM v");
    c->execute("INSERT INTO v (id, t) VALUES (1, ?)", {std::string("a\0b", 3)});
    CHECK(scalar_int(*c, "SELECT length(CAST(t AS BLOB)) FROM v") == 3);
    CHECK(scalar_int(*c, "SELECT typeof(t) = 'text' FROM v") == 1);
}

TEST_CASE("blobs keep every byte value; an empty blob is not NULL") {
    auto c = typed_db();
    Bytes all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::uint8_t>(i));
    CHECK(round_trip<Bytes>(*c, "bl", all) == all);
    CHECK(round_trip<Value>(*c, "bl", all) == Value(all));
    CHECK(round_trip<Bytes>(*c, "bl", Bytes{0, 0, 0}) == Bytes{0, 0, 0});
    auto empty = round_trip<std::optional<Bytes>>(*c, "bl", Bytes{});
    REQUIRE(empty.has_value());
    CHECK(empty->empty());
    CHECK(scalar_int(*c, "SELECT typeof(bl) = 'blob' FROM v") == 1);
}

TEST_CASE("huge text and blob values (10 MB)") {
    auto c = typed_db();
    std::string big(10 * 1024 * 1024, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + i % 26);
    big[12345] = '\0';
    CHECK(round_trip<std::string>(*c, "t", big) == big);
    Bytes blob(10 * 1024 * 1024);
    for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<std::uint8_t>(i * 7);
    CHECK(round_trip<Bytes>(*c, "bl", blob) == blob);
    // string_view reads point into SQLite's row without a copy.
    c->execute("DELETE FROM v");
    c->execute("INSERT INTO v (id, t) VALUES (1, ?)", {big});
    auto r = c->execute("SELECT t FROM v");
    REQUIRE(r.next());
    CHECK(r.row().get<std::string_view>(0).size() == big.size());
}

TEST_CASE("timestamps keep microseconds; dates round-trip") {
    auto c = typed_db();
    Timestamp ts = sys_days(year{2024} / 2 / 29) + hours(23) + minutes(59) + seconds(58) + microseconds(123456);
    CHECK(round_trip<Timestamp>(*c, "ts", ts) == ts);
    CHECK(round_trip<Value>(*c, "ts", ts) == Value(ts));
    Timestamp old = sys_days(year{1901} / 1 / 1) + microseconds(1);
    CHECK(round_trip<Timestamp>(*c, "ts", old) == old);
    Timestamp epoch{};
    CHECK(round_trip<Timestamp>(*c, "ts", epoch) == epoch);
    // Stored as canonical text, so SQLite's own date functions understand it.
    c->execute("DELETE FROM v");
    c->execute("INSERT INTO v (id, ts) VALUES (1, ?)", {ts});
    CHECK(c->execute("SELECT ts FROM v").scalar<std::string>() == std::optional<std::string>("2024-02-29 23:59:58.123456"));
    CHECK(c->execute("SELECT date(ts) FROM v").scalar<std::string>() == std::optional<std::string>("2024-02-29"));

    Date d = sys_days(year{1999} / 12 / 31);
    CHECK(round_trip<Date>(*c, "d", d) == d);
    CHECK(round_trip<Value>(*c, "d", d) == Value(d));
    CHECK(round_trip<Date>(*c, "d", Date(year{1} / 1 / 1)) == Date(year{1} / 1 / 1));
    // CURRENT_TIMESTAMP's text form reads as a timestamp too.
    auto now = c->execute("SELECT CURRENT_TIMESTAMP").scalar<Timestamp>();
    REQUIRE(now);
    CHECK(std::chrono::abs(*now - floor<microseconds>(system_clock::now())) < minutes(5));
}

TEST_CASE("all kinds in one statement, as parameters of a SELECT") {
    auto c = open_memory();
    Timestamp ts = sys_days(year{2020} / 1 / 2) + microseconds(7);
    Date d = sys_days(year{2020} / 1 / 3);
    std::vector<Value> params{Value(), true, std::int32_t{-7}, std::int64_t{1} << 60, 1.5, "txt",
                              Bytes{1, 2}, ts, d};
    auto r = c->execute("SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?", params);
    REQUIRE(r.next());
    auto row = r.row();
    CHECK(row.size() == 9);
    CHECK(row.is_null(0));
    CHECK(row.get<bool>(1));
    CHECK(row.get<int>(2) == -7);
    CHECK(row.get<std::int64_t>(3) == std::int64_t{1} << 60);
    CHECK(row.get<double>(4) == 1.5);
    CHECK(row.get<std::string>(5) == "txt");
    CHECK(row.get<Bytes>(6) == Bytes{1, 2});
    CHECK(row.get<Timestamp>(7) == ts);
    CHECK(row.get<Date>(8) == d);
    // Without a declared type, get_value gives the storage class.
    CHECK(row.value(1) == Value(std::int64_t{1}));
    CHECK(row.value(7) == Value(std::string("2020-01-02 00:00:00.000007")));
}

TEST_CASE("reading NULL into a non-optional type is a DataError naming the column") {
    auto c = open_memory();
    auto r = c->execute("SELECT NULL AS missing");
    REQUIRE(r.next());
    CHECK_THROWS_WITH_AS(r.row().get<std::int64_t>(0), doctest::Contains("missing"), DataError);
    CHECK_THROWS_AS(r.row().get<std::string>(0), DataError);
    CHECK(r.row().get<std::optional<std::int64_t>>(0) == std::nullopt);
    CHECK(r.row().get<Value>(0).is_null());
}

TEST_CASE("strict reads: text that is not a number is not an integer") {
    auto c = open_memory();
    c->execute_script("CREATE TABLE s (n integer, t text, r real, bl blob);"
                      "INSERT INTO s VALUES ('12abc', '42', 1.5, X'00');");
    auto r = c->execute("SELECT n, t, r, bl, 2.0 AS two, 7 AS seven FROM s");
    REQUIRE(r.next());
    auto row = r.row();
    // SQLite's flexible typing let '12abc' into an integer column; reading it as one fails loudly.
    CHECK_THROWS_WITH_AS(row.get<std::int64_t>(0), doctest::Contains("column 0 ('n') holds text '12abc'"), DataError);
    CHECK(row.get<std::string>(0) == "12abc");
    CHECK(row.get<std::int64_t>(1) == 42);  // text holding a number reads as one
    CHECK(row.get<double>(1) == 42.0);
    CHECK_THROWS_WITH_AS(row.get<std::int64_t>(2), doctest::Contains("real number"), DataError);
    CHECK(row.get<double>(2) == 1.5);
    CHECK_THROWS_WITH_AS(row.get<std::string>(3), doctest::Contains("blob"), DataError);
    CHECK_THROWS_AS(row.get<std::int64_t>(3), DataError);
    CHECK(row.get<std::int64_t>(4) == 2);  // an integral real is fine
    CHECK(row.get<std::string>(5) == "7");  // numbers read as text
    CHECK_THROWS_AS(row.get<Timestamp>(5), DataError);
    CHECK_THROWS_WITH_AS(row.get<Timestamp>(1), doctest::Contains("('t')"), DataError);
    CHECK_THROWS_AS(row.get<Date>(2), DataError);
    CHECK_THROWS_AS(row.get<Bytes>(2), DataError);
    CHECK(row.get<Bytes>(1) == Bytes{'4', '2'});
}

TEST_CASE("get_bool accepts the integers 0 and 1 only") {
    auto c = open_memory();
    auto r = c->execute("SELECT 0, 1, 2, 'true', 1 > 0");
    REQUIRE(r.next());
    auto row = r.row();
    CHECK_FALSE(row.get<bool>(0));
    CHECK(row.get<bool>(1));
    CHECK_THROWS_WITH_AS(row.get<bool>(2), doctest::Contains("bool"), DataError);
    CHECK_THROWS_AS(row.get<bool>(3), DataError);
    CHECK(row.get<bool>(4));
}

TEST_CASE("column names, counts and index checks") {
    auto c = open_memory();
    auto r = c->execute("SELECT 1 AS one, 'x' AS \"two words\", NULL");
    CHECK(r.column_count() == 3);
    CHECK(r.column_name(0) == "one");
    CHECK(r.column_name(1) == "two words");
    CHECK_THROWS_AS(r.column_name(3), InterfaceError);
    REQUIRE(r.next());
    CHECK_THROWS_WITH_AS(r.row().get<int>(5), doctest::Contains("out of range"), InterfaceError);
    CHECK_FALSE(r.next());
    // Names are known even when there are no rows.
    auto empty = c->execute("SELECT 1 AS a, 2 AS b WHERE 0");
    CHECK(empty.column_count() == 2);
    CHECK(empty.column_name(1) == "b");
    CHECK_FALSE(empty.next());
}

TEST_CASE("many rows stream through the cursor; fetch_all and iteration") {
    auto c = open_memory();
    auto r = c->execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10000) "
                        "SELECT x, x * x FROM n");
    std::int64_t sum = 0, count = 0;
    for (auto row : r) {
        sum += row.get<std::int64_t>(0);
        ++count;
    }
    CHECK(count == 10000);
    CHECK(sum == 10000LL * 10001 / 2);
    auto all = c->execute("SELECT 1, 'a' UNION ALL SELECT 2, 'b'").fetch_all();
    REQUIRE(all.size() == 2);
    CHECK(all[1][1] == Value(std::string("b")));
}
