// Conformance: every value kind travels as a bound parameter and reads back unchanged.
#include <chrono>
#include <limits>

#include "tests/conformance/harness.hpp"

using namespace orm;
using namespace orm::db;
using namespace weft::conformance;

namespace {

TableSpec all_types_table() {
    return TableSpec{"types",
                     {
                         {.name = "id", .type = ColumnType::int64, .primary_key = true, .auto_increment = true},
                         {.name = "b", .type = ColumnType::boolean, .nullable = true},
                         {.name = "i32", .type = ColumnType::int32, .nullable = true},
                         {.name = "i64", .type = ColumnType::int64, .nullable = true},
                         {.name = "f", .type = ColumnType::float64, .nullable = true},
                         {.name = "s", .type = ColumnType::varchar, .max_length = 200, .nullable = true},
                         {.name = "t", .type = ColumnType::text, .nullable = true},
                         {.name = "by", .type = ColumnType::bytes, .nullable = true},
                         {.name = "ts", .type = ColumnType::timestamp, .nullable = true},
                         {.name = "d", .type = ColumnType::date, .nullable = true},
                     },
                     {}};
}

std::string insert_sql(Context& ctx, const std::string& table) {
    const auto& d = ctx.conn().dialect();
    std::string sql = "INSERT INTO " + d.quote_name(table) + " (b, i32, i64, f, s, t, " + d.quote_name("by") +
                      ", ts, d) VALUES (";
    for (int i = 1; i <= 9; ++i) sql += (i > 1 ? ", " : "") + d.placeholder(static_cast<std::size_t>(i));
    return sql + ")";
}

std::string select_sql(Context& ctx, const std::string& table) {
    const auto& d = ctx.conn().dialect();
    return "SELECT b, i32, i64, f, s, t, " + d.quote_name("by") + ", ts, d FROM " + d.quote_name(table) +
           " ORDER BY id";
}

}  // namespace

CONFORMANCE_TEST("types: every value kind round-trips through bound parameters") {
    auto table = ctx.create_table(all_types_table());
    auto& c = ctx.conn();
    using namespace std::chrono;
    const Timestamp ts = sys_days(year(2024) / 2 / 29) + hours(23) + minutes(59) + seconds(58) + microseconds(123456);
    const Date day = sys_days(year(1999) / 12 / 31);
    const Bytes blob = {0x00, 0x01, 0xff, 0x00, 0x7f, 0x80};
    const std::string text = "it's \"quoted\" \\ back\\slash; DROP TABLE x; -- ünïcödé ✓ 日本";
    c.execute(insert_sql(ctx, table), {true, std::int32_t{-2147483647 - 1}, std::numeric_limits<std::int64_t>::max(),
                                       3.141592653589793, text, std::string(100'000, 'x'), blob, ts, day});
    c.execute(insert_sql(ctx, table), {false, std::int32_t{2147483647}, std::numeric_limits<std::int64_t>::min(),
                                       -0.1, std::string("'; SELECT 1; --"), std::string(""), Bytes{}, Timestamp{}, Date{}});
    c.execute(insert_sql(ctx, table),
              {Value(), Value(), Value(), Value(), Value(), Value(), Value(), Value(), Value()});
    auto r = c.execute(select_sql(ctx, table));
    CT_REQUIRE(r.next());
    auto row = r.row();
    CT_CHECK_EQ(row.get<bool>(0), true);
    CT_CHECK_EQ(row.get<std::int32_t>(1), std::numeric_limits<std::int32_t>::min());
    CT_CHECK_EQ(row.get<std::int64_t>(2), std::numeric_limits<std::int64_t>::max());
    CT_CHECK_EQ(row.get<double>(3), 3.141592653589793);
    CT_CHECK_EQ(row.get<std::string>(4), text);
    CT_CHECK_EQ(row.get<std::string>(5).size(), std::size_t{100'000});
    CT_CHECK(row.get<Bytes>(6) == blob);
    CT_CHECK(row.get<Timestamp>(7) == ts);
    CT_CHECK(row.get<Date>(8) == day);
    CT_REQUIRE(r.next());
    row = r.row();
    CT_CHECK_EQ(row.get<bool>(0), false);
    CT_CHECK_EQ(row.get<std::int32_t>(1), std::numeric_limits<std::int32_t>::max());
    CT_CHECK_EQ(row.get<std::int64_t>(2), std::numeric_limits<std::int64_t>::min());
    CT_CHECK_EQ(row.get<double>(3), -0.1);
    CT_CHECK_EQ(row.get<std::string>(4), std::string("'; SELECT 1; --"));
    CT_CHECK_EQ(row.get<std::string>(5), std::string(""));
    CT_CHECK(row.get<Bytes>(6).empty());
    CT_CHECK(row.get<Timestamp>(7) == Timestamp{});
    CT_CHECK(row.get<Date>(8) == Date{});
    CT_REQUIRE(r.next());
    row = r.row();
    for (std::size_t i = 0; i < 9; ++i) CT_CHECK(row.is_null(i));
    CT_CHECK(!row.get<std::optional<std::int64_t>>(2).has_value());
    CT_CHECK(!row.get<std::optional<std::string>>(4).has_value());
    CT_CHECK_THROWS_AS(row.get<std::int64_t>(2), DataError);
    CT_CHECK(!r.next());
}

CONFORMANCE_TEST("types: get_value returns each column's natural kind") {
    auto table = ctx.create_table(all_types_table());
    auto& c = ctx.conn();
    const Timestamp ts = std::chrono::sys_days(std::chrono::year(2030) / 1 / 2) + std::chrono::microseconds(5);
    c.execute(insert_sql(ctx, table), {true, 7, std::int64_t{1} << 40, 2.5, "s", "t", Bytes{1, 2}, ts,
                                       Date(std::chrono::year(2030) / 1 / 2)});
    auto r = c.execute(select_sql(ctx, table));
    CT_REQUIRE(r.next());
    auto row = r.row();
    CT_CHECK_EQ(row.value(1).as_int64(), std::int64_t{7});
    CT_CHECK_EQ(row.value(2).as_int64(), std::int64_t{1} << 40);
    CT_CHECK_EQ(row.value(3).as_double(), 2.5);
    CT_CHECK_EQ(std::string(row.value(5).as_text()), std::string("t"));  // as_text() refers into the temporary
    CT_CHECK(row.value(6).as_bytes() == (Bytes{1, 2}));
    // Backends without native timestamps hand back text; typed getters still parse it.
    CT_CHECK(row.get<Timestamp>(7) == ts);
}

CONFORMANCE_TEST("types: doubles keep full precision and infinities") {
    auto table = ctx.create_table(all_types_table());
    auto& c = ctx.conn();
    const std::string t = c.dialect().quote_name(table);
    const double values[] = {0.1 + 0.2, 1e-300, 1.7976931348623157e308, -2.2250738585072014e-308, 123456789.123456789};
    for (double v : values)
        c.execute("INSERT INTO " + t + " (f) VALUES (" + c.dialect().placeholder(1) + ")", {v});
    auto r = c.execute("SELECT f FROM " + t + " ORDER BY id");
    for (double v : values) {
        CT_REQUIRE(r.next());
        CT_CHECK_EQ(r.row().get<double>(0), v);
    }
}

CONFORMANCE_TEST("types: large text and blob values (5 MB)") {
    auto table = ctx.create_table(all_types_table());
    auto& c = ctx.conn();
    std::string big(5 * 1024 * 1024, 'a');
    for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
    Bytes blob(5 * 1024 * 1024);
    for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<std::uint8_t>(i * 31);
    const std::string t = c.dialect().quote_name(table);
    c.execute("INSERT INTO " + t + " (t, " + c.dialect().quote_name("by") + ") VALUES (" + c.dialect().placeholder(1) +
                  ", " + c.dialect().placeholder(2) + ")",
              {big, blob});
    auto r = c.execute("SELECT t, " + c.dialect().quote_name("by") + " FROM " + t);
    CT_REQUIRE(r.next());
    CT_CHECK(r.row().get<std::string>(0) == big);
    CT_CHECK(r.row().get<Bytes>(1) == blob);
}

CONFORMANCE_TEST("types: text with NUL bytes is stored verbatim or refused with DataError") {
    auto table = ctx.create_table(all_types_table());
    auto& c = ctx.conn();
    const std::string t = c.dialect().quote_name(table);
    const std::string nul("a\0b", 3);
    const std::string insert = "INSERT INTO " + t + " (t) VALUES (" + c.dialect().placeholder(1) + ")";
    if (ctx.features().text_allows_nul) {
        c.execute(insert, {nul});
        auto r = c.execute("SELECT t FROM " + t);
        CT_REQUIRE(r.next());
        CT_CHECK_EQ(r.row().get<std::string>(0), nul);
    } else {
        CT_CHECK_THROWS_WITH(c.execute(insert, {nul}), DataError, "NUL");
        // Nothing was written and the connection still works.
        CT_CHECK_EQ(c.execute("SELECT COUNT(*) FROM " + t).scalar<std::int64_t>().value_or(-1), std::int64_t{0});
    }
}

CONFORMANCE_TEST("types: integer out of range for the C++ type raises DataError") {
    auto& c = ctx.conn();
    auto r = c.execute("SELECT " + c.dialect().placeholder(1), {std::int64_t{1} << 40});
    CT_REQUIRE(r.next());
    CT_CHECK_THROWS_AS(r.row().get<std::int32_t>(0), DataError);
    CT_CHECK_EQ(r.row().get<std::int64_t>(0), std::int64_t{1} << 40);
}

CONFORMANCE_TEST("types: quoted identifiers with quotes and spaces") {
    auto table = ctx.create_table(TableSpec{"we\"ird name",
                                            {{.name = "id", .type = ColumnType::int64, .primary_key = true,
                                              .auto_increment = true},
                                             {.name = "select", .type = ColumnType::text}},
                                            {}});
    auto& c = ctx.conn();
    const auto& d = c.dialect();
    c.execute("INSERT INTO " + d.quote_name(table) + " (" + d.quote_name("select") + ") VALUES (" + d.placeholder(1) + ")",
              {"x"});
    CT_CHECK_EQ(c.execute("SELECT " + d.quote_name("select") + " FROM " + d.quote_name(table)).scalar<std::string>(),
                std::optional<std::string>("x"));
    CT_CHECK_THROWS_AS(d.quote_name(std::string("a\0b", 3)), InterfaceError);
}
