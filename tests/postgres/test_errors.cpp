// Server errors arrive as the right family with their SQLSTATE, and never spoil the connection.
#include "tests/postgres/pg_test.hpp"

using orm::Value;
using pgtest::expect_error;

namespace {

struct Schema {
    explicit Schema(orm::db::Connection& c)
        : parent(c, pgtest::table("parent"), "id int PRIMARY KEY, code text UNIQUE"),
          child(c, pgtest::table("child"),
                "id int PRIMARY KEY, parent_id int NOT NULL REFERENCES \"" + pgtest::table("parent") +
                    "\" (id), qty int CHECK (qty > 0)") {}
    pgtest::ScratchTable parent, child;
};

void still_works(orm::db::Connection& c) {
    CHECK(c.transaction_state() == orm::db::TransactionState::idle);
    CHECK(pgtest::scalar_int(c, "SELECT 41 + 1") == 42);
    CHECK(c.is_usable(true));
    CHECK_FALSE(c.is_broken());
}

}  // namespace

TEST_CASE("errors map to their families with the server's SQLSTATE") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        Schema s(*c);
        std::string parent = s.parent.quoted(), child = s.child.quoted();
        c->execute("INSERT INTO " + parent + " VALUES ($1, $2)", {1, "a"});

        SUBCASE("syntax error") {
            auto e = expect_error<orm::ProgrammingError>([&] { c->execute("SELEC 1"); });
            CHECK(e.sqlstate() == "42601");
            CHECK(std::string(e.what()).find("SELEC 1") != std::string::npos);  // the SQL is quoted
        }
        SUBCASE("missing table") {
            auto e = expect_error<orm::ProgrammingError>([&] { c->execute("SELECT * FROM weft_no_such_table"); });
            CHECK(e.sqlstate() == "42P01");
            CHECK(std::string(e.what()).find("weft_no_such_table") != std::string::npos);
        }
        SUBCASE("missing column") {
            CHECK(expect_error<orm::ProgrammingError>([&] { c->execute("SELECT nope FROM " + parent); }).sqlstate() ==
                  "42703");
        }
        SUBCASE("unique violation, with DETAIL") {
            auto e = expect_error<orm::UniqueViolation>(
                [&] { c->execute("INSERT INTO " + parent + " VALUES ($1, $2)", {2, "a"}); });
            CHECK(e.sqlstate() == "23505");
            CHECK(std::string(e.what()).find("DETAIL: Key (code)=(a) already exists.") != std::string::npos);
        }
        SUBCASE("foreign key violation") {
            auto e = expect_error<orm::ForeignKeyViolation>(
                [&] { c->execute("INSERT INTO " + child + " VALUES ($1, $2, $3)", {1, 99, 1}); });
            CHECK(e.sqlstate() == "23503");
        }
        SUBCASE("not null violation") {
            auto e = expect_error<orm::NotNullViolation>(
                [&] { c->execute("INSERT INTO " + child + " VALUES ($1, $2, $3)", {1, Value(), 1}); });
            CHECK(e.sqlstate() == "23502");
        }
        SUBCASE("check violation") {
            auto e = expect_error<orm::CheckViolation>(
                [&] { c->execute("INSERT INTO " + child + " VALUES ($1, $2, $3)", {1, 1, 0}); });
            CHECK(e.sqlstate() == "23514");
        }
        SUBCASE("integrity errors share a base") {
            expect_error<orm::IntegrityError>([&] { c->execute("INSERT INTO " + parent + " VALUES (1, 'b')"); });
        }
        SUBCASE("division by zero") {
            auto e = expect_error<orm::DataError>([&] { c->execute("SELECT 1 / $1::int", {0}); });
            CHECK(e.sqlstate() == "22012");
        }
        SUBCASE("wrong parameter type") {
            auto e = expect_error<orm::DataError>([&] { c->execute("SELECT * FROM " + parent + " WHERE id = $1", {"abc"}); });
            CHECK(e.sqlstate() == "22P02");
        }
        SUBCASE("wrong parameter count is caught client-side") {
            std::string sql = "SELECT * FROM " + parent + " WHERE id = $1 AND code = $2";
            c->begin();
            auto e = expect_error<orm::ProgrammingError>([&] { c->execute(sql, {1}); });
            CHECK(std::string(e.what()).find("statement expects 2 parameters, got 1: SELECT") != std::string::npos);
            CHECK(e.sqlstate().empty());  // not a server error
            // The server never saw it, so the transaction is intact.
            CHECK(c->transaction_state() == orm::db::TransactionState::active);
            expect_error<orm::ProgrammingError>([&] { c->execute(sql, {1, "a", 3}); });
            CHECK(c->execute(sql, {1, "a"}).fetch_all().size() == 1);
            c->rollback();
        }
        SUBCASE("an error is an orm::Error carrying the SQLSTATE") {
            try {
                c->execute("SELECT 1/0");
                FAIL("no error");
            } catch (const orm::Error& e) {
                CHECK(e.sqlstate() == "22012");
                CHECK(orm::error_family(e.sqlstate()) == "DataError");
            }
        }
        still_works(*c);
    });
}

TEST_CASE("without a statement cache the server checks the parameter count") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect("statement_cache_size=0");
        auto e = expect_error<orm::ProgrammingError>([&] { c->execute("SELECT $1::int + $2::int", {1}); });
        CHECK(e.sqlstate() == "08P01");
        still_works(*c);
        CHECK(c->execute("SELECT $1::int + $2::int", {1, 2}).scalar<int>() == 3);
        auto e2 = expect_error<orm::DataError>([&] { c->execute("SELECT $1::int", {"abc"}); });
        CHECK(e2.sqlstate() == "22P02");
        still_works(*c);
    });
}

TEST_CASE("a failure inside a transaction leaves only ROLLBACK possible") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        c->begin();
        expect_error<orm::DataError>([&] { c->execute("SELECT 1/0"); });
        CHECK(c->transaction_state() == orm::db::TransactionState::failed);
        auto e = expect_error<orm::InternalError>([&] { c->execute("SELECT 1"); });
        CHECK(e.sqlstate() == "25P02");
        CHECK(c->is_usable(true));  // usable: ROLLBACK will recover it
        CHECK(c->transaction_state() == orm::db::TransactionState::failed);
        c->rollback();
        still_works(*c);
    });
}

TEST_CASE("COPY through execute is refused and leaves the connection ready") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        pgtest::ScratchTable t(*c, pgtest::table("copy"), "a int, b text");
        // COPY TO STDOUT: the rows the server streams (10 MB here) are read and dropped.
        auto out = "COPY (SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g) TO STDOUT";
        auto e = expect_error<orm::NotSupportedError>([&] { c->execute_script(out); });
        CHECK(std::string(e.what()).find("COPY") != std::string::npos);
        still_works(*c);
        expect_error<orm::NotSupportedError>([&] { c->execute(out); });
        still_works(*c);
        // COPY FROM STDIN: ended with an error, so nothing is written.
        expect_error<orm::NotSupportedError>([&] { c->execute_script("COPY " + t.quoted() + " FROM STDIN"); });
        still_works(*c);
        CHECK(pgtest::scalar_int(*c, "SELECT count(*) FROM " + t.quoted()) == 0);
        c->begin();
        expect_error<orm::NotSupportedError>([&] { c->execute_script("COPY " + t.quoted() + " FROM STDIN"); });
        CHECK(c->transaction_state() == orm::db::TransactionState::failed);
        c->rollback();
        still_works(*c);
    });
}
