// The prepared statement cache: hits, eviction with DEALLOCATE, invalidation, and no cache.
#include "tests/postgres/pg_test.hpp"

using orm::Value;
using pgtest::expect_error;

namespace {

// Named statements this session holds on the server. Cached itself, so call it twice in a row
// to see the state after the first call's own eviction has been flushed.
const char* prepared_count_sql = "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'weft\\_%'";

}  // namespace

TEST_CASE("statement cache: a repeated statement is a hit") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        auto before = c->statement_cache_stats();
        CHECK(before.capacity == 256);
        CHECK(before.size == 0);
        for (int i = 0; i < 5; ++i) CHECK(c->execute("SELECT $1::int * 2", {i}).scalar<int>() == i * 2);
        auto s = c->statement_cache_stats();
        CHECK(s.misses == 1);
        CHECK(s.hits == 4);
        CHECK(s.size == 1);
        // A different text is a different statement.
        c->execute("SELECT $1::int  * 2", {1});
        CHECK(c->statement_cache_stats().size == 2);
        // Statements are named weft_<n> on the server.
        auto r = c->execute("SELECT name FROM pg_prepared_statements WHERE statement = $1", {"SELECT $1::int * 2"});
        REQUIRE(r.next());
        CHECK(r.row().get<std::string>(0).starts_with("weft_"));
    });
}

TEST_CASE("statement cache: LRU eviction DEALLOCATEs on the server") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect("statement_cache_size=2");
        CHECK(c->config().statement_cache_size == 2);
        c->execute("SELECT 1");   // A
        c->execute("SELECT 2");   // B
        c->execute("SELECT 1");   // A again: hit, now most recent
        c->execute("SELECT 3");   // C evicts B
        auto s = c->statement_cache_stats();
        CHECK(s.size == 2);
        CHECK(s.capacity == 2);
        CHECK(s.hits == 1);
        CHECK(s.misses == 3);
        c->execute("SELECT 1");   // A still cached
        CHECK(c->statement_cache_stats().hits == 2);
        // Preparing the count query evicts C (its DEALLOCATE waits for the next statement), so the
        // first count sees A, Q and C; the second, a hit, runs after the flush and sees A and Q.
        CHECK(pgtest::scalar_int(*c, prepared_count_sql) == 3);
        CHECK(pgtest::scalar_int(*c, prepared_count_sql) == 2);
        c->execute("SELECT 2");   // B again: a miss that works
        CHECK(c->statement_cache_stats().size == 2);
        CHECK(pgtest::scalar_int(*c, "SELECT 4 + 0") == 4);
    });
}

TEST_CASE("statement cache: evictions inside a transaction wait for its end") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect("statement_cache_size=1");
        c->begin();
        c->execute("SELECT 1");
        c->execute("SELECT 2");
        c->execute("SELECT 3");
        // Nothing DEALLOCATEd yet: a failing DEALLOCATE would abort the transaction.
        CHECK(pgtest::scalar_int(*c, prepared_count_sql) == 4);
        c->commit();
        c->execute("SELECT 5");
        CHECK(pgtest::scalar_int(*c, prepared_count_sql) == 2);  // flushed; the count query evicted SELECT 5
    });
}

TEST_CASE("statement cache: size 0 disables it") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect("statement_cache_size=0");
        for (int i = 0; i < 3; ++i) CHECK(c->execute("SELECT $1::int", {i}).scalar<int>() == i);
        auto s = c->statement_cache_stats();
        CHECK(s.capacity == 0);
        CHECK(s.size == 0);
        CHECK(s.hits == 0);
        CHECK(pgtest::scalar_int(*c, "SELECT count(*) FROM pg_prepared_statements") == 0);
    });
}

TEST_CASE("statement cache: statements dropped behind our back are prepared again") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        CHECK(pgtest::scalar_int(*c, "SELECT 10") == 10);
        c->execute_script("DEALLOCATE ALL");
        CHECK(pgtest::scalar_int(*c, "SELECT 10") == 10);  // 26000 -> re-prepared and retried
        CHECK(pgtest::scalar_int(*c, "SELECT 10") == 10);
        auto s = c->statement_cache_stats();
        CHECK(s.misses == 2);
        CHECK(s.hits == 2);
        SUBCASE("inside a transaction the error surfaces (the transaction is already aborted)") {
            c->execute_script("DEALLOCATE ALL");
            c->begin();
            auto e = expect_error<orm::ProgrammingError>([&] { c->execute("SELECT 10"); });
            CHECK(e.sqlstate() == "26000");
            c->rollback();
            CHECK(pgtest::scalar_int(*c, "SELECT 10") == 10);
        }
    });
}

TEST_CASE("statement cache: a changed table invalidates the cached plan") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        pgtest::ScratchTable t(*c, pgtest::table("plan"), "a int");
        c->execute("INSERT INTO " + t.quoted() + " VALUES (1)");
        std::string select = "SELECT * FROM " + t.quoted();
        CHECK(c->execute(select).column_count() == 1);
        c->execute_script("ALTER TABLE " + t.quoted() + " ADD COLUMN b text DEFAULT 'x'");
        // "cached plan must not change result type" (0A000): re-prepared and retried once.
        auto r = c->execute(select);
        CHECK(r.column_count() == 2);
        REQUIRE(r.next());
        CHECK(r.row().get<std::string>(1) == "x");
    });
}

TEST_CASE("statement cache: clear DEALLOCATEs everything") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        c->execute("SELECT 1");
        c->execute("SELECT 2");
        c->clear_statement_cache();
        CHECK(c->statement_cache_stats().size == 0);
        CHECK(pgtest::scalar_int(*c, "SELECT count(*) FROM pg_prepared_statements") == 1);  // just this one
    });
}

TEST_CASE("statement cache: a table re-created with other column types") {
    pgtest::both_modes([&] {
        // The server fixes parameter types when it prepares; the same SQL text against a re-created
        // table must not run with the old types.
        auto c = pgtest::connect();
        std::string name = pgtest::table("recreated");
        std::string insert = "INSERT INTO \"" + name + "\" (v) VALUES ($1)";
        std::string select = "SELECT v FROM \"" + name + "\"";
        pgtest::ScratchTable first(*c, name, "v boolean");
        c->execute(insert, {true});
        CHECK(c->execute(select).scalar<bool>() == true);
        SUBCASE("outside a transaction: re-prepared and retried") {
            pgtest::ScratchTable second(*c, name, "v bigint");
            c->execute(insert, {std::int64_t{1} << 40});
            CHECK(c->execute(select).scalar<std::int64_t>() == std::int64_t{1} << 40);
            // A genuine error of the same kind still surfaces (after checking the types).
            CHECK(expect_error<orm::DataError>([&] { c->execute(insert, {"abc"}); }).sqlstate() == "22P02");
            pgtest::ScratchTable third(*c, name, "v text");
            c->execute(insert, {Value()});
            c->execute(insert, {"x"});
            CHECK(pgtest::scalar_int(*c, "SELECT count(*) FROM \"" + name + "\"") == 2);
        }
        SUBCASE("inside a transaction: the error stands, the entry is dropped") {
            pgtest::ScratchTable second(*c, name, "v bigint");
            c->begin();
            expect_error<orm::DataError>([&] { c->execute(insert, {std::int64_t{7}}); });
            c->rollback();
            c->begin();
            c->execute(insert, {std::int64_t{7}});
            c->commit();
            CHECK(c->execute(select).scalar<std::int64_t>() == 7);
        }
    });
}
