// Conformance: transactions, savepoints, isolation between connections, statement cache, timeouts.
#include <atomic>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>

#include "tests/conformance/harness.hpp"

using namespace orm;
using namespace orm::db;
using namespace weft::conformance;

namespace {

std::string items(Context& ctx) {
    return ctx.create_table(TableSpec{"items",
                                      {{.name = "id", .type = ColumnType::int64, .primary_key = true, .auto_increment = true},
                                       {.name = "name", .type = ColumnType::text}},
                                      {}});
}

struct Sql {
    std::string insert, count;
};
Sql sql_for(Context& ctx, const std::string& t) {
    const auto& d = ctx.conn().dialect();
    return {"INSERT INTO " + d.quote_name(t) + " (name) VALUES (" + d.placeholder(1) + ")",
            "SELECT COUNT(*) FROM " + d.quote_name(t)};
}

std::int64_t scalar(Connection& c, const std::string& sql) {
    return c.execute(sql).scalar<std::int64_t>().value_or(-1);
}

// A statement that runs for many seconds on any SQL backend unless interrupted.
std::string slow_query() {
    return "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
           "SELECT COUNT(*) FROM c";
}

}  // namespace

CONFORMANCE_TEST("transactions: commit keeps and rollback discards") {
    auto t = items(ctx);
    auto s = sql_for(ctx, t);
    auto& c = ctx.conn();
    c.begin();
    CT_CHECK(c.transaction_state() == TransactionState::active);
    c.execute(s.insert, {"kept"});
    c.commit();
    CT_CHECK(c.transaction_state() == TransactionState::idle);
    c.begin();
    c.execute(s.insert, {"dropped"});
    c.rollback();
    CT_CHECK_EQ(scalar(c, s.count), std::int64_t{1});
}

CONFORMANCE_TEST("transactions: the Transaction guard rolls back when an exception leaves the scope") {
    auto t = items(ctx);
    auto s = sql_for(ctx, t);
    auto& c = ctx.conn();
    try {
        Transaction tx(c);
        c.execute(s.insert, {"a"});
        c.execute(s.insert, {"b"});
        throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    CT_CHECK(c.transaction_state() == TransactionState::idle);
    CT_CHECK_EQ(scalar(c, s.count), std::int64_t{0});
    {
        Transaction tx(c);
        c.execute(s.insert, {"c"});
        tx.commit();
    }
    CT_CHECK_EQ(scalar(c, s.count), std::int64_t{1});
}

CONFORMANCE_TEST("transactions: savepoints roll back part of a transaction, even after a failed statement") {
    CT_REQUIRE_FEATURE(supports_savepoints);
    auto t = items(ctx);
    auto s = sql_for(ctx, t);
    auto& c = ctx.conn();
    c.begin();
    c.execute(s.insert, {"outer"});
    c.savepoint("sp1");
    c.execute(s.insert, {"inner"});
    c.rollback_to_savepoint("sp1");
    c.savepoint("sp2");
    CT_CHECK_THROWS_AS(c.execute("SELECT * FROM weft_missing_table_for_sp"), ProgrammingError);
    c.rollback_to_savepoint("sp2");
    CT_CHECK(c.transaction_state() == TransactionState::active);
    c.execute(s.insert, {"after"});
    c.release_savepoint("sp2");
    c.commit();
    auto r = c.execute("SELECT name FROM " + c.dialect().quote_name(t) + " ORDER BY id");
    std::vector<std::string> names;
    while (r.next()) names.push_back(r.row().get<std::string>(0));
    CT_CHECK(names == (std::vector<std::string>{"outer", "after"}));
}

CONFORMANCE_TEST("transactions: uncommitted writes are invisible to another connection") {
    ctx.require_multiple_connections();
    auto t = items(ctx);
    auto s = sql_for(ctx, t);
    auto& c = ctx.conn();
    auto other = ctx.db().connect();
    c.begin();
    c.execute(s.insert, {"pending"});
    CT_CHECK_EQ(scalar(*other, s.count), std::int64_t{0});
    c.commit();
    CT_CHECK_EQ(scalar(*other, s.count), std::int64_t{1});
}

CONFORMANCE_TEST("transactions: rows_affected counts updated and deleted rows") {
    auto t = items(ctx);
    auto s = sql_for(ctx, t);
    auto& c = ctx.conn();
    for (const char* n : {"a", "b", "c"}) c.execute(s.insert, {n});
    const auto& d = c.dialect();
    CT_CHECK_EQ(c.execute("UPDATE " + d.quote_name(t) + " SET name = " + d.placeholder(1) + " WHERE name <> " +
                              d.placeholder(2),
                          {"z", "a"})
                    .rows_affected(),
                std::int64_t{2});
    CT_CHECK_EQ(c.execute("DELETE FROM " + d.quote_name(t)).rows_affected(), std::int64_t{3});
}

CONFORMANCE_TEST("transactions: inserted keys come back through RETURNING") {
    CT_REQUIRE_FEATURE(supports_returning);
    auto t = items(ctx);
    auto& c = ctx.conn();
    const auto& d = c.dialect();
    std::int64_t first = c.execute("INSERT INTO " + d.quote_name(t) + " (name) VALUES (" + d.placeholder(1) +
                                       ") RETURNING id",
                                   {"x"})
                             .scalar<std::int64_t>()
                             .value_or(-1);
    std::int64_t second = c.execute("INSERT INTO " + d.quote_name(t) + " (name) VALUES (" + d.placeholder(1) +
                                        ") RETURNING id",
                                    {"y"})
                              .scalar<std::int64_t>()
                              .value_or(-1);
    CT_CHECK(first > 0);
    CT_CHECK_EQ(second, first + 1);
}

CONFORMANCE_TEST("transactions: last_insert_id gives the new key where the backend has it") {
    CT_REQUIRE_FEATURE(has_last_insert_id);
    auto t = items(ctx);
    auto s = sql_for(ctx, t);
    auto& c = ctx.conn();
    c.execute(s.insert, {"x"});
    auto id1 = c.last_insert_id();
    c.execute(s.insert, {"y"});
    CT_CHECK_EQ(c.last_insert_id(), id1 + 1);
}

CONFORMANCE_TEST("statements: the prepared statement cache hits on repeated SQL") {
    auto& c = ctx.conn();
    if (c.statement_cache_stats().capacity == 0)
        throw Skip{"needs a statement cache (this URL has none: statement_cache_size=0, or transaction_pooling=on)"};
    const std::string sql = "SELECT " + c.dialect().placeholder(1) + " + 1";
    c.clear_statement_cache();
    auto before = c.statement_cache_stats();
    for (int i = 0; i < 5; ++i) CT_CHECK_EQ(c.execute(sql, {i}).scalar<std::int64_t>().value_or(-1), std::int64_t{i + 1});
    auto after = c.statement_cache_stats();
    CT_CHECK_EQ(after.misses - before.misses, std::uint64_t{1});
    CT_CHECK_EQ(after.hits - before.hits, std::uint64_t{4});
    CT_CHECK(after.size >= 1);
}

CONFORMANCE_TEST("statements: query_first hands over the first row only, and leaves the connection ready") {
    auto t = items(ctx);
    auto s = sql_for(ctx, t);
    auto& c = ctx.conn();
    const auto& d = c.dialect();
    for (const char* name : {"ann", "bob", "cy"}) c.execute(s.insert, {name});
    const std::string by_id = "SELECT id, name FROM " + d.quote_name(t) + " WHERE id >= " + d.placeholder(1) + " ORDER BY id";
    struct Seen {
        int calls = 0;
        std::int64_t id = 0;
        std::string name;
    } seen;
    auto take = [](void* ctx_, const Row& row) {
        auto& x = *static_cast<Seen*>(ctx_);
        ++x.calls;
        x.id = row.get<std::int64_t>(0);
        x.name = row.get<std::string>(1);
    };
    const Value two(std::int64_t{2});
    CT_CHECK(c.query_first(by_id, std::span<const Value>(&two, 1), take, &seen));
    CT_CHECK_EQ(seen.calls, 1);  // two rows match: only the first is handed over
    CT_CHECK_EQ(seen.id, std::int64_t{2});
    CT_CHECK_EQ(seen.name, std::string("bob"));
    // No row: false, and the callback is not called.
    const Value none(std::int64_t{99});
    CT_CHECK(!c.query_first(by_id, std::span<const Value>(&none, 1), take, &seen));
    CT_CHECK_EQ(seen.calls, 1);
    // An exception from the callback reaches the caller; the statement is not left running.
    auto boom = [](void*, const Row&) { throw std::runtime_error("callback failed"); };
    CT_CHECK_THROWS_WITH(c.query_first(by_id, std::span<const Value>(&two, 1), boom, nullptr), std::runtime_error,
                         "callback failed");
    CT_CHECK_EQ(scalar(c, s.count), std::int64_t{3});
    CT_CHECK(c.query_first(by_id, std::span<const Value>(&two, 1), take, &seen));
    CT_CHECK_EQ(seen.calls, 2);
    // A wrong parameter count is the same ProgrammingError as execute() gives.
    CT_CHECK_THROWS_AS(c.query_first(by_id, {}, take, &seen), ProgrammingError);
    // A statement that writes runs to its end, whatever it returns.
    if (c.features().supports_returning) {
        const std::string ins = "INSERT INTO " + d.quote_name(t) + " (name) VALUES (" + d.placeholder(1) + ") RETURNING id, name";
        const Value dee("dee");
        CT_CHECK(c.query_first(ins, std::span<const Value>(&dee, 1), take, &seen));
        CT_CHECK_EQ(seen.name, std::string("dee"));
        CT_CHECK_EQ(scalar(c, s.count), std::int64_t{4});
    } else {
        c.execute(s.insert, {"dee"});
    }
    // Inside a transaction, a rollback still undoes what was read and written around it.
    c.begin();
    c.execute(s.insert, {"eve"});
    CT_CHECK(c.query_first(by_id, std::span<const Value>(&two, 1), take, &seen));
    c.rollback();
    CT_CHECK_EQ(scalar(c, s.count), std::int64_t{4});
    CT_CHECK(c.transaction_state() == TransactionState::idle);
}

CONFORMANCE_TEST("statements: a statement past its timeout fails with TimeoutError and the connection survives") {
    CT_REQUIRE_FEATURE(supports_statement_timeout);
    auto& c = ctx.conn();
    c.set_statement_timeout(std::chrono::milliseconds(150));
    auto start = std::chrono::steady_clock::now();
    CT_CHECK_THROWS_AS(c.execute(slow_query()), TimeoutError);
    auto took = std::chrono::steady_clock::now() - start;
    CT_CHECK(took < std::chrono::seconds(10));
    c.set_statement_timeout(std::chrono::milliseconds(0));
    CT_CHECK_EQ(c.execute("SELECT 3").scalar<std::int64_t>(), std::optional<std::int64_t>(3));
}

CONFORMANCE_TEST("statements: statement_timeout from the URL applies to every connection") {
    CT_REQUIRE_FEATURE(supports_statement_timeout);
    auto db = ctx.open_with("statement_timeout=150ms");
    auto c = db->acquire();
    CT_CHECK_THROWS_AS(c->execute(slow_query()), TimeoutError);
    CT_CHECK_EQ(c->execute("SELECT 4").scalar<std::int64_t>(), std::optional<std::int64_t>(4));
}

CONFORMANCE_TEST("statements: cancel() from another thread stops a running statement") {
    CT_REQUIRE_FEATURE(supports_cancel);
    auto& c = ctx.conn();
    std::atomic<bool> stop{false};
    std::thread canceller([&] {
        // Keep cancelling until the statement is gone: the first cancel may arrive before it starts.
        for (int i = 0; i < 200 && !stop; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            c.cancel();
        }
    });
    bool cancelled = false;
    try {
        c.execute(slow_query());
    } catch (const OperationalError&) {
        cancelled = true;
    }
    stop = true;
    join(canceller);
    CT_CHECK(cancelled);
    CT_CHECK_EQ(c.execute("SELECT 5").scalar<std::int64_t>(), std::optional<std::int64_t>(5));
}
