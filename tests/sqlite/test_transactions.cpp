// Transactions, savepoints, the Transaction guard, last_insert_id and rows_affected.
#include <doctest/doctest.h>

#include <stdexcept>

#include "helpers.hpp"

using namespace orm;
using namespace orm::db;
using namespace sqlite_test;

namespace {

std::unique_ptr<Connection> items_db(std::string_view url = "sqlite::memory:") {
    auto c = open(url);
    c->execute_script("CREATE TABLE IF NOT EXISTS item (id integer PRIMARY KEY AUTOINCREMENT, name text UNIQUE)");
    return c;
}

std::int64_t count(Connection& c) { return scalar_int(c, "SELECT count(*) FROM item"); }

}  // namespace

TEST_CASE("commit keeps, rollback discards") {
    auto c = items_db();
    CHECK(c->transaction_state() == TransactionState::idle);
    c->begin();
    CHECK(c->transaction_state() == TransactionState::active);
    c->execute("INSERT INTO item (name) VALUES (?)", {"a"});
    c->commit();
    CHECK(c->transaction_state() == TransactionState::idle);
    CHECK(count(*c) == 1);

    c->begin();
    c->execute("INSERT INTO item (name) VALUES (?)", {"b"});
    CHECK(count(*c) == 2);
    c->rollback();
    CHECK(c->transaction_state() == TransactionState::idle);
    CHECK(count(*c) == 1);
}

TEST_CASE("commits are visible to another connection, uncommitted work is not") {
    TempDir dir;
    auto a = items_db(dir.url("t.db"));
    auto b = items_db(dir.url("t.db"));
    a->begin();
    a->execute("INSERT INTO item (name) VALUES ('x')");
    CHECK(count(*b) == 0);
    a->commit();
    CHECK(count(*b) == 1);
}

TEST_CASE("a failed statement leaves the transaction active and its earlier work intact") {
    auto c = items_db();
    c->begin();
    c->execute("INSERT INTO item (name) VALUES ('a')");
    CHECK_THROWS_AS(c->execute("INSERT INTO item (name) VALUES ('a')"), UniqueViolation);
    // SQLite has no "failed" transaction state: only the statement was undone.
    CHECK(c->transaction_state() == TransactionState::active);
    c->execute("INSERT INTO item (name) VALUES ('b')");
    c->commit();
    CHECK(count(*c) == 2);
}

TEST_CASE("savepoints: rollback to, release, nesting") {
    auto c = items_db();
    c->begin();
    c->execute("INSERT INTO item (name) VALUES ('outer')");
    c->savepoint("sp1");
    c->execute("INSERT INTO item (name) VALUES ('inner')");
    c->savepoint("sp2");
    c->execute("INSERT INTO item (name) VALUES ('innermost')");
    CHECK(count(*c) == 3);
    c->rollback_to_savepoint("sp2");
    CHECK(count(*c) == 2);
    c->release_savepoint("sp2");
    c->rollback_to_savepoint("sp1");
    CHECK(count(*c) == 1);
    c->release_savepoint("sp1");
    c->execute("INSERT INTO item (name) VALUES ('after')");
    CHECK(c->transaction_state() == TransactionState::active);
    c->commit();
    auto names = c->execute("SELECT name FROM item ORDER BY id").fetch_all();
    REQUIRE(names.size() == 2);
    CHECK(names[0][0] == Value("outer"));
    CHECK(names[1][0] == Value("after"));
    // A savepoint that does not exist.
    c->begin();
    CHECK_THROWS_WITH_AS(c->rollback_to_savepoint("nope"), doctest::Contains("no such savepoint"), DatabaseError);
    c->rollback();
}

TEST_CASE("savepoint names are quoted identifiers") {
    auto c = items_db();
    c->begin();
    c->savepoint("weird \"name\"; --");
    c->execute("INSERT INTO item (name) VALUES ('x')");
    c->rollback_to_savepoint("weird \"name\"; --");
    c->commit();
    CHECK(count(*c) == 0);
}

TEST_CASE("the Transaction guard rolls back when an exception leaves the scope") {
    auto c = items_db();
    try {
        Transaction tx(*c);
        c->execute("INSERT INTO item (name) VALUES ('lost')");
        throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    CHECK(c->transaction_state() == TransactionState::idle);
    CHECK(count(*c) == 0);
    {
        Transaction tx(*c);
        c->execute("INSERT INTO item (name) VALUES ('kept')");
        tx.commit();
    }
    CHECK(count(*c) == 1);
}

TEST_CASE("begin inside a transaction fails; rollback with none is a no-op; commit with none fails") {
    auto c = items_db();
    c->begin();
    CHECK_THROWS_WITH_AS(c->begin(), doctest::Contains("within a transaction"), OperationalError);
    CHECK(c->transaction_state() == TransactionState::active);
    c->rollback();
    c->rollback();
    CHECK_THROWS_WITH_AS(c->commit(), doctest::Contains("no transaction is active"), OperationalError);
}

TEST_CASE("transaction_mode decides how begin() locks") {
    TempDir dir;
    auto a = items_db(dir.url("m.db", "busy_timeout=50ms"));
    auto b = items_db(dir.url("m.db", "busy_timeout=50ms&transaction_mode=deferred"));
    a->begin();  // IMMEDIATE by default: takes the write lock now
    b->begin();  // DEFERRED: takes no lock yet
    CHECK(count(*b) == 0);  // reading is fine (WAL)
    CHECK_THROWS_AS(b->execute("INSERT INTO item (name) VALUES ('b')"), OperationalError);
    b->rollback();
    auto c = open(dir.url("m.db", "busy_timeout=50ms"));
    CHECK_THROWS_AS(c->begin(), OperationalError);  // IMMEDIATE waits, then gives up
    a->rollback();
    c->begin();
    c->commit();
}

TEST_CASE("DDL is transactional") {
    auto c = items_db();
    c->begin();
    c->execute_script("CREATE TABLE temp_table (x)");
    c->rollback();
    CHECK_THROWS_AS(c->execute("SELECT * FROM temp_table"), ProgrammingError);
}

TEST_CASE("last_insert_id and rows_affected") {
    auto c = items_db();
    auto r = c->execute("INSERT INTO item (name) VALUES (?)", {"a"});
    CHECK(r.rows_affected() == 1);
    std::int64_t first = c->last_insert_id();
    CHECK(first > 0);
    c->execute("INSERT INTO item (name) VALUES (?)", {"b"});
    CHECK(c->last_insert_id() == first + 1);
    CHECK(c->execute("INSERT INTO item (name) VALUES ('c'), ('d'), ('e')").rows_affected() == 3);
    CHECK(c->execute("UPDATE item SET name = name || '!' WHERE id > ?", {first}).rows_affected() == 4);
    CHECK(c->execute("UPDATE item SET name = 'zzz' WHERE 0").rows_affected() == 0);
    // Queries and DDL report 0, not the count of the last INSERT/UPDATE/DELETE.
    CHECK(c->execute("SELECT * FROM item").rows_affected() == 0);
    CHECK(c->execute("CREATE TABLE other (x)").rows_affected() == 0);
    CHECK(c->execute("DELETE FROM item").rows_affected() == 5);
}

TEST_CASE("RETURNING gives rows and the affected count at once") {
    auto c = items_db();
    REQUIRE(c->features().supports_returning);
    auto r = c->execute("INSERT INTO item (name) VALUES ('a'), ('b'), ('c') RETURNING id, name");
    CHECK(r.rows_affected() == 3);  // known before reading the rows
    CHECK(r.column_count() == 2);
    CHECK(r.column_name(1) == "name");
    std::vector<std::int64_t> ids;
    while (r.next()) ids.push_back(r.row().get<std::int64_t>(0));
    REQUIRE(ids.size() == 3);
    CHECK(ids[2] == ids[0] + 2);
    // The statement already finished: the rows are in, even before the Result is read or destroyed.
    auto r2 = c->execute("UPDATE item SET name = upper(name) RETURNING name");
    CHECK(scalar_int(*c, "SELECT count(*) FROM item WHERE name = upper(name)") == 3);
    CHECK(r2.rows_affected() == 3);
    CHECK(r2.fetch_all().size() == 3);
    // A failing RETURNING statement changes nothing.
    CHECK_THROWS_AS(c->execute("INSERT INTO item (name) VALUES ('x'), ('A') RETURNING id"), UniqueViolation);
    CHECK(count(*c) == 3);
}
