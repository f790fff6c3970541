// Connection::copy_in (drivers/postgres/pg_copy.cpp): binary COPY of every type we write, the
// text-format fallback, a refused row named in the error, values refused before sending, a
// statement timeout during a COPY, and a backend killed during a COPY; in both modes.
#include "tests/postgres/pg_test.hpp"

#include <chrono>

using namespace std::chrono_literals;
using orm::Value;
using pgtest::expect_error;
using Clock = std::chrono::steady_clock;

namespace {

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

std::uint64_t load(orm::db::Connection& c, const std::string& table, const std::vector<std::string>& cols,
                   const std::vector<Value>& values) {
    orm::db::CopyIn in;
    in.table = table;
    in.columns = cols;
    in.values = values;
    return c.copy_in(in);
}

}  // namespace

TEST_CASE("copy_in: every type in binary format, NULLs, odd text; many rows across buffers") {
    pgtest::both_modes([] {
        auto c = pgtest::connect();
        CHECK(c->features().supports_copy_in);
        pgtest::ScratchTable t(*c, pgtest::table("copy_types"),
                               "id bigint PRIMARY KEY, i4 integer, i2 smallint, f8 double precision, f4 real, b boolean, "
                               "t text, v varchar(12), by bytea, d date, ts timestamptz, tsl timestamp, j jsonb");
        using namespace std::chrono;
        const orm::Timestamp stamp = sys_days(year(2024) / 2 / 29) + hours(13) + microseconds(123456);
        const orm::Date day = year(1999) / 12 / 31;
        std::vector<std::string> cols{"id", "i4", "i2", "f8", "f4", "b", "t", "v", "by", "d", "ts", "tsl", "j"};
        std::vector<Value> values;
        const int n = 30000;
        for (int i = 0; i < n; ++i) {
            bool nulls = i % 2 == 1;
            values.push_back(Value(std::int64_t{i}));
            values.push_back(nulls ? Value() : Value(std::int32_t{-2147483647 + i}));
            values.push_back(nulls ? Value() : Value(std::int32_t{i % 30000}));
            values.push_back(nulls ? Value() : Value(0.1 * i));
            values.push_back(nulls ? Value() : Value(1.5));
            values.push_back(nulls ? Value() : Value(i % 4 == 0));
            values.push_back(Value(std::string("tab\there\nnl \\N \\ ☃ 𝄞 ") + std::to_string(i)));
            values.push_back(nulls ? Value() : Value(std::string("short")));
            values.push_back(nulls ? Value() : Value(orm::Bytes{0, 9, 10, 92, 255}));
            values.push_back(nulls ? Value() : Value(day));
            values.push_back(nulls ? Value() : Value(stamp));
            values.push_back(nulls ? Value() : Value(stamp));
            values.push_back(nulls ? Value() : Value(std::string("{\"a\": [1, \"☃\"]}")));
        }
        CHECK(load(*c, t.name(), cols, values) == static_cast<std::uint64_t>(n));
        CHECK(pgtest::scalar_int(*c, "SELECT count(*) FROM " + t.quoted()) == n);
        auto r = c->execute("SELECT i4, i2, f8, f4, b, t, v, by, d, ts, tsl, j::text FROM " + t.quoted() + " WHERE id = 4");
        REQUIRE(r.next());
        auto row = r.row();
        CHECK(row.value(0).as_int64() == -2147483647 + 4);
        CHECK(row.value(1).as_int64() == 4);
        CHECK(row.value(2).as_double() == 0.1 * 4);
        CHECK(row.value(3).as_double() == 1.5);
        CHECK(row.value(4).as_bool());
        CHECK(row.value(5).as_text() == "tab\there\nnl \\N \\ ☃ 𝄞 4");
        CHECK(row.value(6).as_text() == "short");
        CHECK(row.value(7).as_bytes() == orm::Bytes{0, 9, 10, 92, 255});
        CHECK(row.value(8).as_date() == orm::Date(day));
        CHECK(row.value(9).as_timestamp() == stamp);
        CHECK(row.value(10).as_timestamp() == stamp);
        CHECK(row.value(11).as_text() == "{\"a\": [1, \"☃\"]}");
        while (r.next()) {
        }
        CHECK(pgtest::scalar_int(*c, "SELECT count(*) FROM " + t.quoted() + " WHERE i4 IS NULL AND by IS NULL") == n / 2);
    });
}

TEST_CASE("copy_in: a column without a binary form we write goes in text format") {
    pgtest::both_modes([] {
        auto c = pgtest::connect();
        pgtest::ScratchTable t(*c, pgtest::table("copy_text"), "id integer, n numeric(12,3), t text");
        std::vector<Value> values{Value(1), Value(std::string("12.345")), Value(std::string("a\tb\\c\nd")),
                                  Value(2), Value(), Value()};
        CHECK(load(*c, t.name(), {"id", "n", "t"}, values) == 2);
        auto r = c->execute("SELECT n::text, t FROM " + t.quoted() + " ORDER BY id");
        REQUIRE(r.next());
        CHECK(r.row().value(0).as_text() == "12.345");
        CHECK(r.row().value(1).as_text() == "a\tb\\c\nd");
        REQUIRE(r.next());
        CHECK(r.row().value(0).is_null());
        CHECK(r.row().value(1).is_null());
    });
}

TEST_CASE("copy_in: a refused row is the usual typed error naming the row; the connection goes on") {
    pgtest::both_modes([] {
        auto c = pgtest::connect();
        pgtest::ScratchTable t(*c, pgtest::table("copy_err"), "id integer PRIMARY KEY, v varchar(3) NOT NULL");
        std::vector<Value> values;
        for (int i = 0; i < 5000; ++i) {
            values.push_back(Value(i == 3210 ? 7 : i));  // a duplicate key at row 3210
            values.push_back(Value(std::string("ok")));
        }
        auto e = expect_error<orm::UniqueViolation>([&] { load(*c, t.name(), {"id", "v"}, values); });
        CHECK(contains(e.what(), "row: 3210 of 5000"));
        CHECK(contains(e.what(), "line 3211"));
        CHECK(e.sqlstate() == "23505");
        CHECK(!c->is_broken());
        CHECK(pgtest::scalar_int(*c, "SELECT count(*) FROM " + t.quoted()) == 0);
        values[3210 * 2] = Value(3210);
        values[17 * 2 + 1] = Value();  // NOT NULL
        auto nn = expect_error<orm::NotNullViolation>([&] { load(*c, t.name(), {"id", "v"}, values); });
        CHECK(contains(nn.what(), "row: 17 of 5000"));
        values[17 * 2 + 1] = Value(std::string("toolong"));  // varchar(3)
        expect_error<orm::DataError>([&] { load(*c, t.name(), {"id", "v"}, values); });
        values[17 * 2 + 1] = Value(std::string("ok"));
        // Values we cannot send are refused by us: the COPY is abandoned, the connection goes on.
        values[40 * 2 + 1] = Value(std::string("a\0b", 3));
        expect_error<orm::DataError>([&] { load(*c, t.name(), {"id", "v"}, values); });
        values[40 * 2 + 1] = Value(std::string("ok"));
        values[41 * 2] = Value(std::int64_t{1} << 40);  // out of range for integer
        expect_error<orm::DataError>([&] { load(*c, t.name(), {"id", "v"}, values); });
        values[41 * 2] = Value(41);
        // Inside a transaction, as the ORM uses it.
        c->begin();
        CHECK(load(*c, t.name(), {"id", "v"}, values) == 5000);
        c->commit();
        CHECK(pgtest::scalar_int(*c, "SELECT count(*) FROM " + t.quoted()) == 5000);
        // Bad calls.
        expect_error<orm::ProgrammingError>([&] { load(*c, t.name(), {"id", "v"}, {Value(1)}); });
        expect_error<orm::ProgrammingError>([&] { load(*c, t.name(), {"id", "nope"}, {Value(1), Value(2)}); });
        CHECK(pgtest::scalar_int(*c, "SELECT 1") == 1);
    });
}

TEST_CASE("copy_in: a statement timeout during a COPY cancels it; the connection stays usable") {
    pgtest::both_modes([] {
        auto c = pgtest::connect("statement_timeout=300ms");
        auto setup = pgtest::connect();
        pgtest::ScratchTable t(*setup, pgtest::table("copy_slow"), "id integer");
        const std::string fn = pgtest::table("copy_slow_fn");
        setup->execute_script("CREATE OR REPLACE FUNCTION \"" + fn +
                              "\"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 100 THEN PERFORM "
                              "pg_sleep(10); END IF; RETURN NEW; END $$");
        setup->execute_script("CREATE TRIGGER slow BEFORE INSERT ON " + t.quoted() + " FOR EACH ROW EXECUTE FUNCTION \"" +
                              fn + "\"()");
        std::vector<Value> values;
        for (int i = 0; i < 200000; ++i) values.push_back(Value(i));
        auto start = Clock::now();
        auto e = expect_error<orm::TimeoutError>([&] { load(*c, t.name(), {"id"}, values); });
        CHECK(Clock::now() - start < 5s);
        CHECK(!c->is_broken());
        CHECK(pgtest::scalar_int(*c, "SELECT 1") == 1);
        setup->execute_script("DROP FUNCTION \"" + fn + "\"() CASCADE");
    });
}

TEST_CASE("copy_in: a backend killed during a COPY is a ConnectionError, not a hang") {
    pgtest::both_modes([] {
        auto c = pgtest::connect();
        auto setup = pgtest::connect();
        pgtest::ScratchTable t(*setup, pgtest::table("copy_kill"), "id integer");
        const std::string fn = pgtest::table("copy_kill_fn");
        setup->execute_script("CREATE OR REPLACE FUNCTION \"" + fn +
                              "\"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 5000 THEN PERFORM "
                              "pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$");
        setup->execute_script("CREATE TRIGGER die BEFORE INSERT ON " + t.quoted() + " FOR EACH ROW EXECUTE FUNCTION \"" +
                              fn + "\"()");
        std::vector<Value> values;
        for (int i = 0; i < 400000; ++i) values.push_back(Value(i));
        auto start = Clock::now();
        expect_error<orm::ConnectionError>([&] { load(*c, t.name(), {"id"}, values); });
        CHECK(Clock::now() - start < 10s);
        CHECK(c->is_broken());
        expect_error<orm::ConnectionError>([&] { c->execute("SELECT 1"); });
        setup->execute_script("DROP FUNCTION \"" + fn + "\"() CASCADE");
    });
}
