// SQLite failures map to the right SQLSTATE and family, say what went wrong, and leave the
// connection usable.
#include <doctest/doctest.h>

#include "drivers/sqlite/sqlite_errors.hpp"
#include "helpers.hpp"

#include <sqlite3.h>

using namespace orm;
using namespace orm::db;
using namespace sqlite_test;

namespace {

std::unique_ptr<Connection> schema_db() {
    auto c = open_memory();
    c->execute_script(
        "CREATE TABLE author (id integer PRIMARY KEY, name text NOT NULL UNIQUE);"
        "CREATE TABLE book (id integer PRIMARY KEY, title text NOT NULL, price real CHECK (price >= 0),"
        "  author_id integer REFERENCES author (id));"
        "INSERT INTO author (id, name) VALUES (1, 'Ann');");
    return c;
}

// Runs `sql`, expects exception type E, and returns what it carried.
template <class E>
std::pair<std::string, std::string> failure(Connection& c, std::string_view sql, std::vector<Value> params = {}) {
    try {
        c.execute(sql, params);
    } catch (const E& e) {
        return {e.sqlstate(), e.what()};
    } catch (const std::exception& e) {
        FAIL("wrong exception type for ", sql, ": ", e.what());
    }
    FAIL("no exception for ", sql);
    return {};
}

void still_usable(Connection& c) {
    CHECK(c.execute("SELECT 41 + 1").scalar<int>() == std::optional<int>(42));
    CHECK_FALSE(c.is_broken());
    CHECK(c.is_usable(true));
}

}  // namespace

TEST_CASE("syntax errors are ProgrammingError 42601 and quote the SQL") {
    auto c = schema_db();
    auto [state, what] = failure<ProgrammingError>(*c, "SELEC 1");
    CHECK(state == "42601");
    CHECK(what.find("syntax error") != std::string::npos);
    CHECK(what.find("SQLITE_ERROR") != std::string::npos);
    CHECK(what.find("SELEC 1") != std::string::npos);
    CHECK(failure<ProgrammingError>(*c, "SELECT (1").first == "42601");  // incomplete input
    still_usable(*c);
}

TEST_CASE("missing tables and columns") {
    auto c = schema_db();
    auto [state, what] = failure<ProgrammingError>(*c, "SELECT * FROM nowhere");
    CHECK(state == "42P01");
    CHECK(what.find("no such table: nowhere") != std::string::npos);
    CHECK(failure<ProgrammingError>(*c, "SELECT nope FROM author").first == "42703");
    CHECK(failure<ProgrammingError>(*c, "SELECT no_such_fn(1)").first == "42883");
    CHECK(failure<ProgrammingError>(*c, "CREATE TABLE author (x)").first == "42P07");
    still_usable(*c);
}

TEST_CASE("integrity errors map to their own classes") {
    auto c = schema_db();
    auto [state, what] = failure<UniqueViolation>(*c, "INSERT INTO author (name) VALUES (?)", {"Ann"});
    CHECK(state == "23505");
    CHECK(what.find("UNIQUE constraint failed: author.name") != std::string::npos);
    CHECK(what.find("SQLITE_CONSTRAINT_UNIQUE") != std::string::npos);
    CHECK(what.find("INSERT INTO author") != std::string::npos);
    still_usable(*c);

    CHECK(failure<UniqueViolation>(*c, "INSERT INTO author (id, name) VALUES (1, 'Bob')").first == "23505");
    auto fk = failure<ForeignKeyViolation>(*c, "INSERT INTO book (title, author_id) VALUES ('t', 99)");
    CHECK(fk.first == "23503");
    CHECK(fk.second.find("SQLITE_CONSTRAINT_FOREIGNKEY") != std::string::npos);
    CHECK(failure<NotNullViolation>(*c, "INSERT INTO book (title) VALUES (NULL)").first == "23502");
    CHECK(failure<CheckViolation>(*c, "INSERT INTO book (title, price) VALUES ('t', -1)").first == "23514");
    // All of them are IntegrityErrors and DatabaseErrors.
    CHECK_THROWS_AS(c->execute("INSERT INTO author (id, name) VALUES (1, 'x')"), IntegrityError);
    CHECK_THROWS_AS(c->execute("INSERT INTO author (id, name) VALUES (1, 'x')"), DatabaseError);
    // Nothing of the failed statements was stored.
    CHECK(scalar_int(*c, "SELECT count(*) FROM book") == 0);
    CHECK(scalar_int(*c, "SELECT count(*) FROM author") == 1);
    still_usable(*c);
}

TEST_CASE("wrong parameter counts are ProgrammingErrors raised before binding") {
    auto c = schema_db();
    auto [state, what] = failure<ProgrammingError>(*c, "SELECT ? + ?", {1});
    CHECK(what.find("statement expects 2 parameters, got 1") != std::string::npos);
    CHECK(what.find("SELECT ? + ?") != std::string::npos);
    CHECK(failure<ProgrammingError>(*c, "SELECT 1", {1}).second.find("expects 0 parameters, got 1") !=
          std::string::npos);
    // The cached statement is fine afterwards.
    CHECK(c->execute("SELECT ? + ?", {1, 2}).scalar<int>() == std::optional<int>(3));
    still_usable(*c);
}

TEST_CASE("execute() takes exactly one statement") {
    auto c = schema_db();
    CHECK(failure<ProgrammingError>(*c, "SELECT 1; SELECT 2").second.find("execute_script") != std::string::npos);
    CHECK_THROWS_AS(c->execute(""), ProgrammingError);
    CHECK_THROWS_AS(c->execute("   -- only a comment"), ProgrammingError);
    // Trailing semicolons, whitespace and comments are fine.
    CHECK(c->execute("SELECT 1;  ").scalar<int>() == std::optional<int>(1));
    CHECK(c->execute("SELECT 2; -- two").scalar<int>() == std::optional<int>(2));
    still_usable(*c);
}

TEST_CASE("errors from execute_script are mapped too") {
    auto c = schema_db();
    try {
        c->execute_script("INSERT INTO author (name) VALUES ('Zed'); INSERT INTO author (name) VALUES ('Ann');");
        FAIL("no exception");
    } catch (const UniqueViolation& e) {
        CHECK(e.sqlstate() == "23505");
        CHECK(std::string(e.what()).find("while running script") != std::string::npos);
    }
    CHECK_THROWS_AS(c->execute_script("CREATE TABLE"), ProgrammingError);
    still_usable(*c);
}

TEST_CASE("data errors: integer overflow, STRICT tables") {
    auto c = open_memory();
    auto [state, what] = failure<DataError>(
        *c, "SELECT sum(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)");
    CHECK(state == "22003");
    c->execute_script("CREATE TABLE st (n INTEGER) STRICT");
    CHECK(failure<DataError>(*c, "INSERT INTO st VALUES ('abc')").first == "22P02");
    still_usable(*c);
}

TEST_CASE("long SQL is shortened in messages") {
    auto c = open_memory();
    std::string sql = "SELECT * FROM missing_table WHERE x IN (" + std::string(5000, '1') + ")";
    auto [state, what] = failure<ProgrammingError>(*c, sql);
    CHECK(what.size() < 1000);
    CHECK(what.find("bytes in all") != std::string::npos);
}

TEST_CASE("result code names and SQLSTATE translation") {
    using namespace orm::db::sqlite;
    CHECK(result_code_name(SQLITE_CONSTRAINT_UNIQUE) == "SQLITE_CONSTRAINT_UNIQUE");
    CHECK(result_code_name(SQLITE_BUSY) == "SQLITE_BUSY");
    CHECK(result_code_name(SQLITE_IOERR | (200 << 8)) == "SQLITE_IOERR");  // unknown extension
    CHECK(sqlstate_for(SQLITE_BUSY, "database is locked") == "55P03");
    CHECK(sqlstate_for(SQLITE_LOCKED_SHAREDCACHE, "") == "55P03");
    CHECK(sqlstate_for(SQLITE_INTERRUPT, "interrupted") == "57014");
    CHECK(sqlstate_for(SQLITE_TOOBIG, "") == "54000");
    CHECK(sqlstate_for(SQLITE_MISMATCH, "datatype mismatch") == "42804");
    CHECK(sqlstate_for(SQLITE_CORRUPT, "") == "XX001");
    CHECK(sqlstate_for(SQLITE_NOTADB, "") == "XX001");
    CHECK(sqlstate_for(SQLITE_IOERR_WRITE, "") == "58030");
    CHECK(sqlstate_for(SQLITE_FULL, "") == "53100");
    CHECK(sqlstate_for(SQLITE_ERROR, "something else entirely") == "42000");
    CHECK(error_family(sqlstate_for(SQLITE_BUSY, "")) == "TimeoutError");
    // A read-only database is ReadOnlyError (an OperationalError), as a write on a hot standby is.
    CHECK(error_family(sqlstate_for(SQLITE_READONLY, "")) == "ReadOnlyError");
    CHECK(shorten_sql("SELECT\n   1\t+\n 2") == "SELECT 1 + 2");
    // Cutting never leaves half a UTF-8 character.
    std::string s = shorten_sql(std::string(10, 'a') + "ééééé", 12);
    CHECK(s.rfind("aaaaaaaaaaé...", 0) == 0);
}

TEST_CASE("opening a file that is not a database is a ConnectionError") {
    TempDir dir;
    {
        std::FILE* f = std::fopen(dir.file("junk.db").c_str(), "wb");
        REQUIRE(f);
        std::string junk(4096, 'j');
        std::fwrite(junk.data(), 1, junk.size(), f);
        std::fclose(f);
    }
    try {
        open(dir.url("junk.db"));
        FAIL("no exception");
    } catch (const ConnectionError& e) {
        CHECK(std::string(e.what()).find("SQLITE_NOTADB") != std::string::npos);
        CHECK(std::string(e.what()).find("junk.db") != std::string::npos);
    }
    CHECK_THROWS_WITH_AS(open(dir.url("no/such/dir/x.db")), doctest::Contains("SQLITE_CANTOPEN"), ConnectionError);
    CHECK_THROWS_AS(open(dir.url("absent.db", "mode=rw")), ConnectionError);
}

TEST_CASE("a closed connection says so") {
    auto c = open_memory();
    c->close();
    CHECK(c->is_broken());
    CHECK_FALSE(c->is_usable(false));
    CHECK_THROWS_WITH_AS(c->execute("SELECT 1"), doctest::Contains("closed"), InterfaceError);
    CHECK_THROWS_AS(c->execute_script("SELECT 1"), InterfaceError);
    c->close();  // idempotent
    c->rollback();  // nothing to roll back: no-op
    c->cancel();    // harmless
}

TEST_CASE("a read-only database refuses writes") {
    TempDir dir;
    open(dir.url("ro.db"))->execute_script("CREATE TABLE t (x)");
    auto c = open(dir.url("ro.db", "mode=ro"));
    CHECK(scalar_int(*c, "SELECT count(*) FROM t") == 0);
    auto [state, what] = failure<OperationalError>(*c, "INSERT INTO t VALUES (1)");
    CHECK(state == "25006");
    CHECK(what.find("SQLITE_READONLY") != std::string::npos);
    // The same type a write on a PostgreSQL hot standby gets.
    CHECK(failure<ReadOnlyError>(*c, "INSERT INTO t VALUES (2)").first == "25006");
    still_usable(*c);
}
