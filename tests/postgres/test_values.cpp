// Every Value kind through bound parameters and back, and how columns are read.
#include "tests/postgres/pg_test.hpp"

#include "drivers/database.hpp"

#include <cmath>
#include <limits>

using namespace std::chrono;
using orm::Value;
using orm::ValueKind;
using pgtest::expect_error;

namespace {

orm::Timestamp ts(int y, unsigned mo, unsigned d, int h, int mi, int s, int us) {
    return sys_days(year_month_day{year(y), month(mo), day(d)}) + hours(h) + minutes(mi) + seconds(s) +
           microseconds(us);
}

orm::Date date(int y, unsigned mo, unsigned d) { return sys_days(year_month_day{year(y), month(mo), day(d)}); }

// Inserts v into a column of `type`, reads it back as a Value.
Value round_trip(orm::db::Connection& c, const std::string& type, const Value& v) {
    pgtest::ScratchTable t(c, pgtest::table("rt"), "id serial PRIMARY KEY, v " + type);
    c.execute("INSERT INTO " + t.quoted() + " (v) VALUES ($1)", {v});
    auto r = c.execute("SELECT v FROM " + t.quoted());
    REQUIRE(r.next());
    return r.row().value(0);
}

}  // namespace

TEST_CASE("every Value kind round-trips through a typed column") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        CHECK(round_trip(*c, "boolean", Value(true)) == Value(true));
        CHECK(round_trip(*c, "boolean", Value(false)) == Value(false));
        CHECK(round_trip(*c, "integer", Value(std::int32_t{-123456})) == Value(std::int32_t{-123456}));
        CHECK(round_trip(*c, "integer", Value(std::numeric_limits<std::int32_t>::min())) ==
              Value(std::numeric_limits<std::int32_t>::min()));
        CHECK(round_trip(*c, "bigint", Value(std::numeric_limits<std::int64_t>::min())) ==
              Value(std::numeric_limits<std::int64_t>::min()));
        CHECK(round_trip(*c, "bigint", Value(std::numeric_limits<std::int64_t>::max())) ==
              Value(std::numeric_limits<std::int64_t>::max()));
        CHECK(round_trip(*c, "double precision", Value(0.1)) == Value(0.1));
        CHECK(round_trip(*c, "double precision", Value(-1.2345678901234567e-300)) == Value(-1.2345678901234567e-300));
        CHECK(round_trip(*c, "double precision", Value(std::numeric_limits<double>::max())) ==
              Value(std::numeric_limits<double>::max()));
        CHECK(round_trip(*c, "double precision", Value(std::numeric_limits<double>::infinity())) ==
              Value(std::numeric_limits<double>::infinity()));
        CHECK(round_trip(*c, "double precision", Value(-std::numeric_limits<double>::infinity())) ==
              Value(-std::numeric_limits<double>::infinity()));
        CHECK(std::isnan(round_trip(*c, "double precision", Value(std::nan(""))).as_double()));
        std::string tricky = "héllo 'single' \"double\" \\back\\slash; 日本語 🙂 -- /* not a comment */ $1 \t\n\r";
        CHECK(round_trip(*c, "text", Value(tricky)) == Value(tricky));
        CHECK(round_trip(*c, "varchar(200)", Value(tricky)) == Value(tricky));
        CHECK(round_trip(*c, "text", Value("")) == Value(""));
        orm::Bytes all;
        for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::uint8_t>(i));
        CHECK(round_trip(*c, "bytea", Value(all)) == Value(all));
        CHECK(round_trip(*c, "bytea", Value(orm::Bytes{})) == Value(orm::Bytes{}));
        auto t1 = ts(2024, 2, 29, 23, 59, 59, 123456);
        CHECK(round_trip(*c, "timestamptz", Value(t1)) == Value(t1));
        auto t2 = ts(1969, 12, 31, 23, 59, 59, 999999);
        CHECK(round_trip(*c, "timestamptz", Value(t2)) == Value(t2));
        CHECK(round_trip(*c, "timestamp", Value(t1)) == Value(t1));
        CHECK(round_trip(*c, "date", Value(date(2024, 2, 29))) == Value(date(2024, 2, 29)));
        CHECK(round_trip(*c, "date", Value(date(1900, 1, 1))) == Value(date(1900, 1, 1)));
        CHECK(round_trip(*c, "date", Value(date(9999, 12, 31))) == Value(date(9999, 12, 31)));
        for (const char* type : {"boolean", "integer", "bigint", "double precision", "text", "bytea", "timestamptz", "date"})
            CHECK(round_trip(*c, type, Value()).is_null());
    });
}

TEST_CASE("parameters without a column take their type from casts") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        auto r = c->execute("SELECT $1::bigint, $2::bigint, $3::float8, $4::float8, $5::float8, $6::boolean, $7::bytea",
                            {Value(std::numeric_limits<std::int64_t>::min()), Value(std::numeric_limits<std::int64_t>::max()),
                             Value(std::numeric_limits<double>::infinity()), Value(-std::numeric_limits<double>::infinity()),
                             Value(std::nan("")), Value(true), Value(orm::Bytes{0, 1, 2})});
        REQUIRE(r.next());
        auto row = r.row();
        CHECK(row.get<std::int64_t>(0) == std::numeric_limits<std::int64_t>::min());
        CHECK(row.get<std::int64_t>(1) == std::numeric_limits<std::int64_t>::max());
        CHECK(row.get<double>(2) == std::numeric_limits<double>::infinity());
        CHECK(row.get<double>(3) == -std::numeric_limits<double>::infinity());
        CHECK(std::isnan(row.get<double>(4)));
        CHECK(row.get<bool>(5));
        CHECK(row.get<orm::Bytes>(6) == orm::Bytes{0, 1, 2});
        CHECK_FALSE(r.next());
        // With no context a parameter is text (the server infers types; see pg_params.hpp).
        CHECK(c->execute("SELECT $1", {Value(std::int64_t{5})}).scalar<std::string>() == "5");
    });
}

TEST_CASE("10 MB of text and of bytes round-trip") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        std::string big(10 * 1024 * 1024, 'x');
        for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
        big.replace(1000, 6, "日本");  // a multi-byte character in the middle
        orm::Bytes blob(10 * 1024 * 1024);
        for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<std::uint8_t>((i * 7919) >> 3);
        pgtest::ScratchTable t(*c, pgtest::table("big"), "t text, b bytea");
        c->execute("INSERT INTO " + t.quoted() + " VALUES ($1, $2)", {Value(big), Value(blob)});
        auto r = c->execute("SELECT t, b, length(t), length(b) FROM " + t.quoted());
        REQUIRE(r.next());
        CHECK(r.row().get<std::string_view>(0) == big);
        CHECK(r.row().get<orm::Bytes>(1) == blob);
        CHECK(r.row().get<std::int64_t>(3) == static_cast<std::int64_t>(blob.size()));
    });
}

TEST_CASE("timestamps: microseconds kept, offsets converted to UTC, session in UTC") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        CHECK(c->execute("SHOW TimeZone").scalar<std::string>() == "UTC");
        auto r = c->execute(
            "SELECT '2024-06-01 12:00:00.000001+02'::timestamptz, '2024-06-01 12:00:00-07:30'::timestamptz, "
            "'2024-06-01 01:02:03.5'::timestamp, '2024-06-01'::date, $1::timestamptz",
            {Value(ts(2000, 1, 1, 0, 0, 0, 1))});
        REQUIRE(r.next());
        auto row = r.row();
        CHECK(row.get<orm::Timestamp>(0) == ts(2024, 6, 1, 10, 0, 0, 1));
        CHECK(row.get<orm::Timestamp>(1) == ts(2024, 6, 1, 19, 30, 0, 0));
        CHECK(row.get<orm::Timestamp>(2) == ts(2024, 6, 1, 1, 2, 3, 500000));
        CHECK(row.get<orm::Date>(3) == date(2024, 6, 1));
        CHECK(row.get<orm::Timestamp>(3) == ts(2024, 6, 1, 0, 0, 0, 0));
        CHECK(row.get<orm::Timestamp>(4) == ts(2000, 1, 1, 0, 0, 0, 1));
        CHECK(row.get<std::string>(0) == "2024-06-01 10:00:00.000001+00");
        // A timestamp parameter compares as an instant.
        CHECK(c->execute("SELECT $1::timestamptz = '2024-06-01 14:00:00+04'::timestamptz",
                         {Value(ts(2024, 6, 1, 10, 0, 0, 0))})
                  .scalar<bool>() == true);
    });
}

TEST_CASE("get_value picks the kind from the column type") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        auto r = c->execute(
            "SELECT true AS b, 1::int2, 2::int4, 3::int8, 1.5::float4, 2.5::float8, 3.25::numeric, 'x'::text, 'y'::varchar, "
            "'\\x00ff'::bytea, now(), current_date, NULL::int, 'z'::name, 12.5::numeric(10,2)");
        REQUIRE(r.next());
        auto row = r.row();
        std::vector<ValueKind> kinds = {ValueKind::boolean, ValueKind::int32,   ValueKind::int32,   ValueKind::int64,
                                        ValueKind::float64, ValueKind::float64, ValueKind::float64, ValueKind::text,
                                        ValueKind::text,    ValueKind::bytes,   ValueKind::timestamp, ValueKind::date,
                                        ValueKind::null,    ValueKind::text,    ValueKind::float64};
        REQUIRE(row.size() == kinds.size());
        for (std::size_t i = 0; i < kinds.size(); ++i) {
            CAPTURE(i);
            CHECK(row.value(i).kind() == kinds[i]);
        }
        CHECK(row.value(6) == Value(3.25));
        CHECK(row.value(9) == Value(orm::Bytes{0, 255}));
        CHECK(r.column_name(0) == "b");
        // Cross-kind reads where they make sense; DataError where they do not.
        CHECK(row.get<std::int64_t>(0) == 1);
        CHECK(row.get<double>(3) == 3.0);
        CHECK(row.get<std::string>(2) == "2");
        expect_error<orm::DataError>([&] { (void)row.get<std::int64_t>(7); });
        expect_error<orm::DataError>([&] { (void)row.get<std::int64_t>(12); });  // NULL into non-optional
        CHECK_FALSE(row.get<std::optional<std::int64_t>>(12).has_value());
        CHECK(row.get<std::int16_t>(3) == 3);
        expect_error<orm::DataError>([&] { (void)c->execute("SELECT 100000::int4").scalar<std::int16_t>(); });
    });
}

TEST_CASE("integers of either width go into any integer or float column") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        pgtest::ScratchTable t(*c, pgtest::table("widths"), "a integer, b bigint, f double precision, n numeric");
        std::string ins = "INSERT INTO " + t.quoted() + " VALUES ($1, $2, $3, $4)";
        c->execute(ins, {Value(std::int64_t{7}), Value(std::int32_t{8}), Value(std::int32_t{9}), Value(std::int64_t{10})});
        // Same SQL, other kinds: the cached statement's types come from the columns, not the first call.
        c->execute(ins, {Value(std::int32_t{1}), Value(std::int64_t{1} << 40), Value(2.5), Value(0.25)});
        auto e = expect_error<orm::DataError>(
            [&] { c->execute(ins, {Value(std::int64_t{1} << 40), Value(1), Value(1), Value(1)}); });
        CHECK(e.sqlstate() == "22003");  // integer out of range
        auto rows = c->execute("SELECT a, b, f, n FROM " + t.quoted() + " ORDER BY a").fetch_all();
        REQUIRE(rows.size() == 2);
        CHECK(rows[0][1] == Value(std::int64_t{1} << 40));
        CHECK(rows[1][2] == Value(9.0));
        // numeric: an integral value that fits is an exact int64, a fraction a double.
        CHECK(rows[1][3] == Value(std::int64_t{10}));
        CHECK(rows[0][3] == Value(0.25));
    });
}

TEST_CASE("numeric reads exactly: an int64 while it is an integer that fits, else a double") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        auto rows = c->execute("SELECT 27021597764222979::numeric, -9223372036854775808::numeric, "
                               "9223372036854775808::numeric, 2.5::numeric, SUM(x) FROM (VALUES "
                               "(9007199254740993::bigint), (9007199254740993), (9007199254740993)) v(x)")
                        .fetch_all();
        REQUIRE(rows.size() == 1);
        CHECK(rows[0][0] == Value(std::int64_t{27021597764222979}));
        CHECK(rows[0][1] == Value(std::numeric_limits<std::int64_t>::min()));
        CHECK(rows[0][2] == Value(9223372036854775808.0));  // past int64: a double (get_text has the digits)
        CHECK(rows[0][3] == Value(2.5));
        CHECK(rows[0][4] == Value(std::int64_t{27021597764222979}));
    });
}

TEST_CASE("text with a NUL byte is refused before anything is sent") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        c->begin();
        std::string with_nul("ab\0cd", 5);
        auto e = expect_error<orm::DataError>([&] { c->execute("SELECT $1::text", {Value(with_nul)}); });
        CHECK(std::string(e.what()).find("NUL") != std::string::npos);
        CHECK(c->transaction_state() == orm::db::TransactionState::active);  // the server saw nothing
        c->rollback();
        CHECK_FALSE(c->backend().features().text_allows_nul);
        // Bytes may hold NUL.
        CHECK(c->execute("SELECT $1::bytea", {Value(orm::Bytes{'a', 0, 'b'})}).scalar<orm::Bytes>() ==
              orm::Bytes{'a', 0, 'b'});
        expect_error<orm::ProgrammingError>([&] { c->execute(std::string_view("SELECT 1\0", 9)); });
    });
}

TEST_CASE("rows_affected counts changed rows, not selected ones") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        pgtest::ScratchTable t(*c, pgtest::table("affected"), "id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v int");
        CHECK(c->execute("INSERT INTO " + t.quoted() + " (v) VALUES ($1), ($2), ($3)", {1, 2, 3}).rows_affected() == 3);
        CHECK(c->execute("UPDATE " + t.quoted() + " SET v = v + 1 WHERE v >= $1", {2}).rows_affected() == 2);
        CHECK(c->execute("SELECT * FROM " + t.quoted()).rows_affected() == 0);
        auto r = c->execute("INSERT INTO " + t.quoted() + " (v) VALUES (10), (11) RETURNING id");
        CHECK(r.rows_affected() == 2);
        auto ids = r.fetch_all();
        REQUIRE(ids.size() == 2);
        CHECK(ids[0][0] == Value(std::int64_t{4}));
        CHECK(ids[1][0] == Value(std::int64_t{5}));
        CHECK(c->execute("DELETE FROM " + t.quoted()).rows_affected() == 5);
        CHECK(c->execute("CREATE TEMP TABLE weft_tmp_x AS SELECT 1 AS a").rows_affected() == 0);
    });
}

TEST_CASE("last_insert_id is not supported: RETURNING is the way") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        CHECK_FALSE(c->features().has_last_insert_id);
        CHECK(c->features().supports_returning);
        auto e = expect_error<orm::NotSupportedError>([&] { c->last_insert_id(); });
        CHECK(std::string(e.what()).find("RETURNING") != std::string::npos);
    });
}

TEST_CASE("dialect spellings") {
    pgtest::both_modes([&] {
        const auto& d = pgtest::backend().dialect();
        CHECK(d.name() == "postgresql");
        CHECK(d.placeholder(1) == "$1");
        CHECK(d.placeholder(12) == "$12");
        CHECK(d.limit_offset(10, 0) == " LIMIT 10");
        CHECK(d.limit_offset(std::nullopt, 5) == " OFFSET 5");
        CHECK(d.limit_offset(10, 5) == " LIMIT 10 OFFSET 5");
        CHECK(d.quote_name("a\"b") == "\"a\"\"b\"");
        // Literals (DDL defaults) are valid PostgreSQL and read back as the same values.
        auto c = pgtest::connect();
        std::vector<Value> values = {Value(),          Value(true),   Value(std::int64_t{-5}),
                                     Value(2.5),       Value(std::numeric_limits<double>::infinity()),
                                     Value("it's \\"), Value(orm::Bytes{0, 0xab}),
                                     Value(ts(2024, 1, 2, 3, 4, 5, 6)), Value(date(2024, 1, 2))};
        for (const auto& v : values) {
            CAPTURE(v.debug_string());
            auto got = c->execute("SELECT " + d.literal(v)).scalar<Value>();
            if (v.is_null()) {
                CHECK_FALSE(got.has_value());
                continue;
            }
            REQUIRE(got.has_value());
            if (v.kind() == ValueKind::int64) CHECK(got->as_int64() == v.as_int64());
            else CHECK(*got == v);
        }
    });
}

TEST_CASE("case_insensitive_matches_non_ascii follows the database's LC_CTYPE") {
    // The test cluster's databases fold non-ASCII letters (C.UTF-8); one made with LC_CTYPE=C
    // does not, and its connections (and a Database once it has connected) say so.
    auto admin = pgtest::connect();
    CHECK(admin->features().case_insensitive_matches_non_ascii);
    CHECK(pgtest::scalar_int(*admin, "SELECT CASE WHEN 'É' ILIKE 'é' THEN 1 ELSE 0 END") == 1);
    const std::string db = "weft_t_c_locale_" + std::to_string(::getpid());
    admin->execute_script("DROP DATABASE IF EXISTS " + db);
    admin->execute_script("CREATE DATABASE " + db +
                          " TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");
    struct Drop {
        orm::db::Connection& c;
        std::string name;
        ~Drop() {
            try {
                c.execute_script("DROP DATABASE IF EXISTS " + name);
            } catch (...) {
            }
        }
    } drop{*admin, db};
    pgtest::both_modes([&] {
        auto c = pgtest::connect("dbname=" + db);
        CHECK_FALSE(c->features().case_insensitive_matches_non_ascii);
        CHECK(pgtest::scalar_int(*c, "SELECT CASE WHEN 'É' ILIKE 'é' THEN 1 ELSE 0 END") == 0);
        CHECK(pgtest::scalar_int(*c, "SELECT CASE WHEN 'E' ILIKE 'e' THEN 1 ELSE 0 END") == 1);
        // The rest is the backend's own.
        CHECK(c->features().supports_returning);
        auto database = orm::db::Database::open(pgtest::url_with("dbname=" + db));
        CHECK(database->features().case_insensitive_matches_non_ascii);  // nothing learnt yet
        { auto pooled = database->acquire(); }
        CHECK_FALSE(database->features().case_insensitive_matches_non_ascii);
        // Switched-off flags stay off alongside what was learnt.
        auto plain = orm::db::Database::open(pgtest::url_with("dbname=" + db + "&disable_features=supports_returning"));
        { auto pooled = plain->acquire(); }
        CHECK_FALSE(plain->features().case_insensitive_matches_non_ascii);
        CHECK_FALSE(plain->features().supports_returning);
        CHECK(plain->features().supports_regex);
    });
}
