// The per-connection prepared statement cache and cursor lifetimes.
#include <doctest/doctest.h>

#include "helpers.hpp"

using namespace orm;
using namespace orm::db;
using namespace sqlite_test;

TEST_CASE("repeated SQL hits the statement cache") {
    auto c = open_memory();
    auto before = c->statement_cache_stats();
    CHECK(before.capacity == 256);
    for (int i = 0; i < 5; ++i) CHECK(c->execute("SELECT ? * 2", {i}).scalar<int>() == std::optional<int>(i * 2));
    auto after = c->statement_cache_stats();
    CHECK(after.misses - before.misses == 1);
    CHECK(after.hits - before.hits == 4);
    CHECK(after.size == before.size + 1);
    c->clear_statement_cache();
    CHECK(c->statement_cache_stats().size == 0);
    CHECK(c->execute("SELECT ? * 2", {3}).scalar<int>() == std::optional<int>(6));
    CHECK(c->statement_cache_stats().misses == after.misses + 1);
}

TEST_CASE("statement_cache_size bounds the cache; 0 disables it") {
    auto c = open_memory("statement_cache_size=2");
    c->execute("SELECT 1");
    c->execute("SELECT 2");
    c->execute("SELECT 3");
    auto s = c->statement_cache_stats();
    CHECK(s.capacity == 2);
    CHECK(s.size == 2);
    c->execute("SELECT 1");  // evicted earlier
    CHECK(c->statement_cache_stats().misses == s.misses + 1);

    auto none = open_memory("statement_cache_size=0");
    for (int i = 0; i < 3; ++i) CHECK(none->execute("SELECT ?", {i}).scalar<int>() == std::optional<int>(i));
    CHECK(none->statement_cache_stats().size == 0);
    CHECK(none->statement_cache_stats().hits == 0);
}

TEST_CASE("the same SQL can run while a cursor over it is still open") {
    auto c = open_memory();
    const char* sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?) SELECT x FROM n";
    auto outer = c->execute(sql, {3});
    std::int64_t total = 0;
    while (outer.next()) {
        auto x = outer.row().get<std::int64_t>(0);
        // The cached statement is busy under `outer`, so this one is prepared separately.
        auto inner = c->execute(sql, {x});
        while (inner.next()) total += inner.row().get<std::int64_t>(0);
    }
    CHECK(total == 1 + 3 + 6);
    // And once both are done, the cached one is used again.
    auto hits = c->statement_cache_stats().hits;
    CHECK(c->execute(sql, {2}).fetch_all().size() == 2);
    CHECK(c->statement_cache_stats().hits == hits + 1);
}

TEST_CASE("a cursor abandoned halfway releases its read lock") {
    TempDir dir;
    // Rollback-journal mode: an unfinished SELECT holds a SHARED lock that blocks other writers' commits.
    auto reader = open(dir.url("lock.db", "journal_mode=delete&busy_timeout=100ms"));
    auto writer = open(dir.url("lock.db", "journal_mode=delete&busy_timeout=100ms"));
    reader->execute_script("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3);");
    {
        auto r = reader->execute("SELECT x FROM t");
        REQUIRE(r.next());
        CHECK_THROWS_AS(writer->execute("INSERT INTO t VALUES (4)"), OperationalError);
    }  // destroying the Result resets the statement
    writer->execute("INSERT INTO t VALUES (4)");
    // A cursor read to the end lets go at once, even while the Result object lives on.
    auto r = reader->execute("SELECT count(*) FROM t");
    CHECK(r.next());
    CHECK_FALSE(r.next());
    writer->execute("INSERT INTO t VALUES (5)");
    CHECK(scalar_int(*reader, "SELECT count(*) FROM t") == 5);
}

TEST_CASE("a Result that outlives its connection fails cleanly") {
    auto c = open_memory();
    auto r = c->execute("SELECT 1 UNION ALL SELECT 2");
    REQUIRE(r.next());
    c->close();
    CHECK_THROWS_AS(r.next(), InterfaceError);
    c.reset();  // destroying the connection first, then the Result, must not crash
}

TEST_CASE("statements are re-prepared after schema changes") {
    auto c = open_memory();
    c->execute_script("CREATE TABLE t (a); INSERT INTO t VALUES (1);");
    CHECK(c->execute("SELECT * FROM t").column_count() == 1);
    c->execute_script("ALTER TABLE t ADD COLUMN b DEFAULT 2");
    auto r = c->execute("SELECT * FROM t");  // cached, but SQLite re-prepares it
    REQUIRE(r.next());
    CHECK(r.column_count() == 2);
    CHECK(r.row().get<int>(1) == 2);
}
