// Conformance: bad input gets the right error family and SQLSTATE, and the connection stays usable.
#include "tests/conformance/harness.hpp"

using namespace orm;
using namespace orm::db;
using namespace weft::conformance;

namespace {

std::string people(Context& ctx) {
    ctx.create_table(TableSpec{"parent", {{.name = "id", .type = ColumnType::int64, .primary_key = true}}, {}});
    return ctx.create_table(TableSpec{
        "people",
        {
            {.name = "id", .type = ColumnType::int64, .primary_key = true, .auto_increment = true},
            {.name = "email", .type = ColumnType::varchar, .max_length = 100, .unique = true},
            {.name = "age", .type = ColumnType::int32, .nullable = true},
            {.name = "parent_id", .type = ColumnType::int64, .nullable = true,
             .references = ForeignKeySpec{"parent", "id", ReferentialAction::no_action}},
        },
        {}});
}

std::string ph(Context& ctx, std::size_t i) { return ctx.conn().dialect().placeholder(i); }
std::string q(Context& ctx, std::string_view n) { return ctx.conn().dialect().quote_name(n); }

std::int64_t count(Context& ctx, const std::string& table) {
    return ctx.conn().execute("SELECT COUNT(*) FROM " + q(ctx, table)).scalar<std::int64_t>().value_or(-1);
}

}  // namespace

CONFORMANCE_TEST("errors: syntax error is a ProgrammingError with SQLSTATE 42601") {
    auto& c = ctx.conn();
    try {
        c.execute("SELEC 1");
        CT_FAIL_AT("no exception");
    } catch (const ProgrammingError& e) {
        CT_CHECK_EQ(e.sqlstate(), std::string("42601"));
        CT_CHECK(std::string_view(e.what()).find("SELEC") != std::string_view::npos);
    }
    CT_CHECK_EQ(c.execute("SELECT 1").scalar<std::int64_t>(), std::optional<std::int64_t>(1));
}

CONFORMANCE_TEST("errors: missing table is a ProgrammingError with SQLSTATE 42P01") {
    auto& c = ctx.conn();
    try {
        c.execute("SELECT * FROM weft_no_such_table_anywhere");
        CT_FAIL_AT("no exception");
    } catch (const ProgrammingError& e) {
        CT_CHECK_EQ(e.sqlstate(), std::string("42P01"));
        CT_CHECK(std::string_view(e.what()).find("weft_no_such_table_anywhere") != std::string_view::npos);
    }
    CT_CHECK_EQ(c.execute("SELECT 2").scalar<std::int64_t>(), std::optional<std::int64_t>(2));
}

CONFORMANCE_TEST("errors: constraint violations map to their IntegrityError subclasses") {
    auto t = people(ctx);
    auto& c = ctx.conn();
    const std::string ins = "INSERT INTO " + q(ctx, t) + " (email, age, parent_id) VALUES (" + ph(ctx, 1) + ", " +
                            ph(ctx, 2) + ", " + ph(ctx, 3) + ")";
    c.execute(ins, {"a@x", 30, Value()});
    try {
        c.execute(ins, {"a@x", 31, Value()});
        CT_FAIL_AT("duplicate accepted");
    } catch (const UniqueViolation& e) {
        CT_CHECK_EQ(e.sqlstate(), std::string("23505"));
    }
    try {
        c.execute(ins, {Value(), 1, Value()});
        CT_FAIL_AT("NULL accepted");
    } catch (const NotNullViolation& e) {
        CT_CHECK_EQ(e.sqlstate(), std::string("23502"));
    }
    try {
        c.execute(ins, {"b@x", 1, std::int64_t{424242}});
        CT_FAIL_AT("dangling foreign key accepted");
    } catch (const ForeignKeyViolation& e) {
        CT_CHECK_EQ(e.sqlstate(), std::string("23503"));
    }
    CT_CHECK_EQ(count(ctx, t), std::int64_t{1});
}

CONFORMANCE_TEST("errors: CHECK constraint violation is a CheckViolation") {
    auto t = ctx.table("checked");
    auto& c = ctx.conn();
    c.execute_script("CREATE TABLE " + q(ctx, t) + " (n INTEGER NOT NULL CHECK (n > 0))");
    c.execute("INSERT INTO " + q(ctx, t) + " (n) VALUES (" + ph(ctx, 1) + ")", {5});
    try {
        c.execute("INSERT INTO " + q(ctx, t) + " (n) VALUES (" + ph(ctx, 1) + ")", {-5});
        CT_FAIL_AT("check not enforced");
    } catch (const CheckViolation& e) {
        CT_CHECK_EQ(e.sqlstate(), std::string("23514"));
    }
    CT_CHECK_EQ(count(ctx, t), std::int64_t{1});
}

CONFORMANCE_TEST("errors: wrong parameter count is a ProgrammingError naming both counts") {
    auto& c = ctx.conn();
    const std::string sql = "SELECT " + ph(ctx, 1) + ", " + ph(ctx, 2);
    CT_CHECK_THROWS_WITH(c.execute(sql, {1}), ProgrammingError, "2");
    CT_CHECK_THROWS_AS(c.execute(sql, {1, 2, 3}), ProgrammingError);
    auto r = c.execute(sql, {1, 2});
    CT_REQUIRE(r.next());
    CT_CHECK_EQ(r.row().get<std::int64_t>(1), std::int64_t{2});
}

CONFORMANCE_TEST("errors: text into an integer column is refused where types are strict") {
    CT_REQUIRE_FEATURE(strict_column_types);
    auto t = people(ctx);
    auto& c = ctx.conn();
    CT_CHECK_THROWS_AS(c.execute("INSERT INTO " + q(ctx, t) + " (email, age) VALUES (" + ph(ctx, 1) + ", " + ph(ctx, 2) + ")",
                                 {"x@y", "not a number"}),
                       DataError);
    CT_CHECK_EQ(count(ctx, t), std::int64_t{0});
}

CONFORMANCE_TEST("errors: injection-shaped values are data, never SQL") {
    auto t = people(ctx);
    auto& c = ctx.conn();
    const std::string evil = "x'); DROP TABLE " + t + "; --";
    c.execute("INSERT INTO " + q(ctx, t) + " (email) VALUES (" + ph(ctx, 1) + ")", {evil});
    auto r = c.execute("SELECT email FROM " + q(ctx, t) + " WHERE email = " + ph(ctx, 1), {evil});
    CT_REQUIRE(r.next());
    CT_CHECK_EQ(r.row().get<std::string>(0), evil);
    CT_CHECK(!r.next());
    CT_CHECK_EQ(count(ctx, t), std::int64_t{1});
}

CONFORMANCE_TEST("errors: a failed statement in a transaction leaves it failed or active, never committed") {
    auto t = people(ctx);
    auto& c = ctx.conn();
    const std::string ins = "INSERT INTO " + q(ctx, t) + " (email) VALUES (" + ph(ctx, 1) + ")";
    c.begin();
    c.execute(ins, {"one@x"});
    CT_CHECK_THROWS_AS(c.execute(ins, {"one@x"}), UniqueViolation);
    CT_CHECK(c.transaction_state() != TransactionState::idle);
    c.rollback();
    CT_CHECK(c.transaction_state() == TransactionState::idle);
    CT_CHECK_EQ(count(ctx, t), std::int64_t{0});
}

CONFORMANCE_TEST("errors: executing on a closed connection is a clean error") {
    auto own = ctx.db().connect();
    own->close();
    CT_CHECK(own->is_broken());
    CT_CHECK(!own->is_usable(false));
    CT_CHECK_THROWS_AS(own->execute("SELECT 1"), Error);
}

CONFORMANCE_TEST("errors: bad URLs name the problem") {
    CT_CHECK_THROWS_WITH(Database::open("nosuchdb://x/y"), InterfaceError, "nosuchdb");
    CT_CHECK_THROWS_WITH(Database::open(ctx.url_with("pool_size=abc")), InterfaceError, "pool_size");
    CT_CHECK_THROWS_WITH(Database::open(ctx.url_with("no_such_option=1")), InterfaceError, "no_such_option");
    CT_CHECK_THROWS_WITH(Database::open(ctx.url_with("statement_timeout=5parsecs")), InterfaceError,
                         "statement_timeout");
}
