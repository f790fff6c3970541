// Automatic pipelining (async mode, databases with Features::supports_pipelining: PostgreSQL)
// and explicit batches (orm::gather, every backend and mode).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include "drivers/bridge/bridge.hpp"
#include "drivers/bridge/join_all.hpp"
#include "drivers/pipeline.hpp"
#include "orm/session.hpp"
#include "tests/conformance/test_orm_models.hpp"
#include "tests/conformance/test_rel_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;

namespace {

// Whether the URL under test pipelines: the backend can (Features::supports_pipelining) and the
// URL leaves it on (pipelining=off, or transaction_pooling=on for PgBouncer, turn it off).
// Opening a Database connects nothing.
bool pipelines(Context& ctx) {
    return ctx.features().supports_pipelining && db::Database::open(ctx.url())->sharing().on();
}

void require_pipelining(Context& ctx) {
    require_async();
    ctx.require(&db::Features::supports_pipelining, "supports_pipelining");
    if (!pipelines(ctx)) throw Skip{"the URL turns pipelining off (pipelining=off or transaction_pooling=on)"};
}

// Re-registers "default" (Tables registered it with the plain URL) with extra URL options.
db::Database& reopen(Context& ctx, std::string_view options) {
    return orm::connect(ctx.url_with(options), "default");
}

std::vector<std::int64_t> seed_authors(int n) {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < n; ++i) ids.push_back(Author::objects.create({.name = fmt::format("a{:04}", i)}).id);
    return ids;
}

// A statement that keeps the server busy for `seconds` and then returns every author.
std::string slow_authors_sql(double seconds) {
    return fmt::format("SELECT id, name, email FROM weft_ct_orm_author WHERE (SELECT 1 FROM pg_sleep({})) = 1",
                       seconds);
}

}  // namespace

CONFORMANCE_TEST("pipeline: statements of many fibers share one connection, errors interleaved with successes") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    auto ids = seed_authors(10);
    auto& db = reopen(ctx, "pool_size=1");
    db.sharing().reset_peak();
    constexpr int fibers = 40;
    std::vector<Task<int>> tasks;
    for (int i = 0; i < fibers; ++i)
        tasks.push_back(orm::spawn([i, &ids]() -> int {
            switch (i % 4) {
                case 0: return Author::objects.get("id", ids[i % 10]).name == fmt::format("a{:04}", i % 10) ? 1 : -1;
                case 1:
                    try {
                        Author::objects.create({.name = "a0003"});  // taken: unique violation
                        return -2;
                    } catch (const IntegrityError&) {
                        return 2;
                    }
                case 2:
                    try {
                        (void)Author::objects.raw("SELECT id, name, email FROM weft_ct_orm_author WHERE id = 1 / 0");
                        return -3;
                    } catch (const DataError&) {
                        return 3;
                    }
                default: return Author::objects.filter("name__startswith", "a").count() >= 10 ? 4 : -4;
            }
        }));
    auto results = orm::join_all(tasks);
    for (int i = 0; i < fibers; ++i) CT_CHECK_EQ(results[i], i % 4 + 1);
    CT_CHECK(db.sharing().peak_leases() > 1);  // they were in flight on one connection together
    CT_CHECK_EQ(db.pool().stats().open, std::size_t{1});
    CT_CHECK_EQ(db.pool().stats().discarded, std::uint64_t{0});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{10});  // the failed inserts left nothing
}

CONFORMANCE_TEST("pipeline: reads that fibers queue in one loop round share one Sync, so one server transaction") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    auto ids = seed_authors(3);
    auto& db = reopen(ctx, "pool_size=1&pipeline_depth=64");
    // transaction_timestamp() is the start of the server's transaction: the same value for
    // statements that share a Sync, a new one for each statement with a Sync of its own.
    const std::string sql =
        "SELECT id, name, transaction_timestamp()::text AS email FROM weft_ct_orm_author WHERE id = $1";
    CT_REQUIRE(Author::objects.raw(sql, {Value(ids[0])}).size() == 1);  // prepared on the connection
    constexpr int fibers = 40;
    std::vector<Task<std::string>> tasks;
    for (int i = 0; i < fibers; ++i)
        tasks.push_back(orm::spawn([i, &ids, &sql]() -> std::string {
            auto rows = Author::objects.raw(sql, {Value(ids[i % 3])});
            if (rows.size() != 1 || rows[0].id != ids[i % 3] || rows[0].name != fmt::format("a{:04}", i % 3))
                return "wrong row";
            return rows[0].email.value_or("null");
        }));
    auto stamps = orm::join_all(tasks);
    CT_CHECK(std::find(stamps.begin(), stamps.end(), "wrong row") == stamps.end());
    std::sort(stamps.begin(), stamps.end());
    const auto distinct = static_cast<int>(std::unique(stamps.begin(), stamps.end()) - stamps.begin());
    CT_CHECK(distinct <= fibers / 4);  // 40 reads in a handful of server transactions
    CT_CHECK_EQ(db.pool().stats().open, std::size_t{1});
}

CONFORMANCE_TEST("pipeline: a read failing in a shared Sync costs the statements after it nothing: each runs once") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    auto ids = seed_authors(3);
    auto& db = reopen(ctx, "pool_size=1&pipeline_depth=64");
    const std::string failing = "SELECT id, name, email FROM weft_ct_orm_author WHERE id = 1 / $1::int";
    // Each statement once before, so that the fibers' statements are prepared (and may share a Sync).
    (void)Author::objects.get("id", ids[0]);
    CT_CHECK_THROWS_AS(Author::objects.raw(failing, {Value(0)}), DataError);
    Author::objects.create({.name = "warm"});
    constexpr int fibers = 60;
    std::vector<Task<int>> tasks;
    for (int i = 0; i < fibers; ++i)
        tasks.push_back(orm::spawn([i, &ids, &failing]() -> int {
            switch (i % 5) {
                case 1:
                    try {
                        (void)Author::objects.raw(failing, {Value(0)});
                        return -2;
                    } catch (const DataError&) {
                        return 2;
                    }
                case 3:
                    // A write after a failing read in the same round: the server skipped it with
                    // the rest of the group, so it is sent again, and must land exactly once.
                    return Author::objects.create({.name = fmt::format("w{:03}", i)}).id > 0 ? 4 : -4;
                default: return Author::objects.get("id", ids[i % 3]).name == fmt::format("a{:04}", i % 3) ? 1 : -1;
            }
        }));
    auto results = orm::join_all(tasks);
    for (int i = 0; i < fibers; ++i) CT_CHECK_EQ(results[i], i % 5 == 1 ? 2 : i % 5 == 3 ? 4 : 1);
    for (int i = 3; i < fibers; i += 5)
        CT_CHECK_EQ(Author::objects.filter("name", fmt::format("w{:03}", i)).count(), std::int64_t{1});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{3 + 1 + fibers / 5});
    CT_CHECK_EQ(db.pool().stats().discarded, std::uint64_t{0});
}

CONFORMANCE_TEST("pipeline: a read calling a function of the user's keeps a Sync of its own, so what it wrote stays") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    seed_authors(1);
    ctx.conn().execute("DROP TABLE IF EXISTS weft_ct_pipe_log", {});
    ctx.conn().execute("CREATE TABLE weft_ct_pipe_log (n int NOT NULL)", {});
    ctx.conn().execute("CREATE OR REPLACE FUNCTION weft_ct_pipe_touch(n int) RETURNS int LANGUAGE sql "
                       "AS 'INSERT INTO weft_ct_pipe_log VALUES ($1) RETURNING $1'",
                       {});
    struct Cleanup {
        Context& ctx;
        ~Cleanup() {
            try {
                ctx.conn().execute("DROP FUNCTION IF EXISTS weft_ct_pipe_touch(int)", {});
                ctx.conn().execute("DROP TABLE IF EXISTS weft_ct_pipe_log", {});
            } catch (...) {
            }
        }
    } cleanup{ctx};
    (void)reopen(ctx, "pool_size=1&pipeline_depth=64");
    const std::string touch = "SELECT weft_ct_pipe_touch($1)::bigint AS id, 'x' AS name, NULL::text AS email";
    const std::string failing = "SELECT id, name, email FROM weft_ct_orm_author WHERE id = 1 / $1::int";
    CT_REQUIRE(Author::objects.raw(touch, {Value(-1)}).size() == 1);
    CT_CHECK_THROWS_AS(Author::objects.raw(failing, {Value(0)}), DataError);
    constexpr int fibers = 40;
    std::vector<Task<int>> tasks;
    for (int i = 0; i < fibers; ++i)
        tasks.push_back(orm::spawn([i, &touch, &failing]() -> int {
            try {
                if (i % 2 == 0) return Author::objects.raw(touch, {Value(i)}).at(0).id == i ? 1 : -1;
                (void)Author::objects.raw(failing, {Value(0)});
                return -2;
            } catch (const DataError&) {
                return 2;
            }
        }));
    auto results = orm::join_all(tasks);
    for (int i = 0; i < fibers; ++i) CT_CHECK_EQ(results[i], i % 2 == 0 ? 1 : 2);
    // Every call's INSERT was committed once, although a failing read came right after each.
    auto r = ctx.conn().execute("SELECT count(*), count(DISTINCT n) FROM weft_ct_pipe_log WHERE n >= 0", {});
    CT_REQUIRE(r.next());
    CT_CHECK_EQ(r.row().get<std::int64_t>(0), std::int64_t{fibers / 2});
    CT_CHECK_EQ(r.row().get<std::int64_t>(1), std::int64_t{fibers / 2});
}

CONFORMANCE_TEST("pipeline: a statement timeout in the middle of a pipeline ends that statement only") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    auto ids = seed_authors(3);
    auto& db = reopen(ctx, "pool_size=1&statement_timeout=300ms");
    db.sharing().reset_peak();
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 21; ++i)
        tasks.push_back(orm::spawn([i, &ids]() -> int {
            if (i == 10) {
                try {
                    (void)Author::objects.raw(slow_authors_sql(5));
                    return -1;
                } catch (const TimeoutError&) {
                    return 2;
                }
            }
            return Author::objects.get("id", ids[i % 3]).id == ids[i % 3] ? 1 : -1;
        }));
    auto results = orm::join_all(tasks);
    for (int i = 0; i < 21; ++i) CT_CHECK_EQ(results[i], i == 10 ? 2 : 1);
    CT_CHECK(db.sharing().peak_leases() > 1);
    CT_CHECK_EQ(db.pool().stats().discarded, std::uint64_t{0});  // the connection stayed usable
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{3});
}

CONFORMANCE_TEST("pipeline: the server ending the session fails each of 50 statements in flight, the pool recovers") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    seed_authors(3);
    auto& db = reopen(ctx, "pool_size=1&pool_timeout=10s");
    db.sharing().reset_peak();
    // The server process of the pool's only connection.
    auto me = Author::objects.raw("SELECT pg_backend_pid() AS id, 'pid' AS name, NULL::text AS email");
    CT_REQUIRE(me.size() == 1);
    const std::int64_t pid = me[0].id;
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 50; ++i)
        tasks.push_back(orm::spawn([i]() -> int {
            try {
                if (i == 0) (void)Author::objects.raw(slow_authors_sql(3));  // holds the others back
                else (void)Author::objects.filter("id__gt", i).count();
                return 0;
            } catch (const ConnectionError&) {
                return 1;
            } catch (const std::exception&) {
                return -1;
            }
        }));
    orm::sleep_for(std::chrono::milliseconds(300));
    ctx.conn().execute("SELECT pg_terminate_backend($1)", {Value(pid)});
    const auto start = std::chrono::steady_clock::now();
    auto results = orm::join_all(tasks);
    const auto waited = std::chrono::steady_clock::now() - start;
    for (int i = 0; i < 50; ++i) CT_CHECK_EQ(results[i], 1);
    CT_CHECK(waited < std::chrono::seconds(3));  // nobody waited for the slow statement's end
    CT_CHECK_EQ(db.sharing().peak_leases(), std::size_t{50});
    // Recovered: a new connection serves the next statements (sharing it again).
    std::vector<Task<std::int64_t>> again;
    for (int i = 0; i < 10; ++i) again.push_back(orm::spawn([] { return Author::objects.count(); }));
    for (auto n : orm::join_all(again)) CT_CHECK_EQ(n, std::int64_t{3});
    CT_CHECK(db.pool().stats().discarded >= 1);
    CT_CHECK_EQ(db.pool().stats().open, std::size_t{1});
}

CONFORMANCE_TEST("pipeline: flipping to sync mode with a pipeline in flight") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    auto ids = seed_authors(5);
    auto& db = reopen(ctx, "pool_size=2");
    db.sharing().reset_peak();
    std::vector<Task<std::int64_t>> tasks;
    for (int i = 0; i < 30; ++i)
        tasks.push_back(orm::spawn([i, &ids]() -> std::int64_t {
            if (i == 0) return static_cast<std::int64_t>(Author::objects.raw(slow_authors_sql(0.3)).size());
            std::int64_t id = Author::objects.get("id", ids[i % 5]).id;
            // The second statement runs in whatever mode is set by then.
            return Author::objects.filter("id", id).count() == 1 ? id : -1;
        }));
    orm::sleep_for(std::chrono::milliseconds(50));
    orm::set_async(false);
    std::vector<std::int64_t> results;
    try {
        // Sync mode now: a statement of this thread blocks, on an exclusive connection.
        CT_CHECK_EQ(Author::objects.count(), std::int64_t{5});
        results = orm::join_all(tasks);
    } catch (...) {
        orm::set_async(true);
        throw;
    }
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{5});
    orm::set_async(true);
    CT_REQUIRE(results.size() == 30);
    CT_CHECK_EQ(results[0], std::int64_t{5});
    for (int i = 1; i < 30; ++i) CT_CHECK_EQ(results[i], ids[i % 5]);
    CT_CHECK(db.sharing().peak_leases() > 1);
    CT_CHECK_EQ(db.pool().stats().discarded, std::uint64_t{0});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{5});
}

CONFORMANCE_TEST("pipeline: 1,000 fibers over a pool of 2") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    auto ids = seed_authors(20);
    auto& db = reopen(ctx, "pool_size=2");
    db.sharing().reset_peak();
    std::vector<Task<std::int64_t>> tasks;
    for (int i = 0; i < 1000; ++i)
        tasks.push_back(orm::spawn([i, &ids]() -> std::int64_t {
            const std::int64_t id = ids[(i * 7) % 20];
            auto a = Author::objects.get("id", id);
            if (a.name != fmt::format("a{:04}", (i * 7) % 20)) return -1;
            return Author::objects.filter("id__lte", id).count();
        }));
    auto results = orm::join_all(tasks);
    for (int i = 0; i < 1000; ++i) CT_CHECK_EQ(results[i], std::int64_t{(i * 7) % 20 + 1});
    CT_CHECK(db.pool().stats().created <= 2);
    CT_CHECK(db.sharing().peak_leases() > 2);
    CT_CHECK_EQ(db.pool().stats().timeouts, std::uint64_t{0});
}

CONFORMANCE_TEST("pipeline: prepared statements are shared and evicted with statements in flight") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    auto ids = seed_authors(8);
    // A cache of 2 for 6 distinct statements: evictions (and DEALLOCATEs) while others run.
    auto& db = reopen(ctx, "pool_size=1&statement_cache_size=2");
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 60; ++i)
        tasks.push_back(orm::spawn([i, &ids]() -> int {
            switch (i % 6) {
                case 0: return Author::objects.get("id", ids[i % 8]).id == ids[i % 8] ? 1 : -1;
                case 1: return Author::objects.filter("name__startswith", "a0").count() == 8 ? 1 : -1;
                case 2: return Author::objects.filter("id__gt", ids[0]).count() == 7 ? 1 : -1;
                case 3: return Author::objects.filter("email__isnull", true).count() == 8 ? 1 : -1;
                case 4: return Author::objects.filter("id__gt", 0).exclude("id", ids[1]).count() == 7 ? 1 : -1;
                default: return Author::objects.order_by("-id").first()->id == ids[7] ? 1 : -1;
            }
        }));
    for (int r : orm::join_all(tasks)) CT_CHECK_EQ(r, 1);
    CT_CHECK_EQ(db.pool().stats().discarded, std::uint64_t{0});
    auto stats = ctx.conn().statement_cache_stats();
    (void)stats;
    // The same connection, exclusive again (sync-style use), still runs every statement.
    CT_CHECK_EQ(Author::objects.filter("id__gt", ids[0]).count(), std::int64_t{7});
}

CONFORMANCE_TEST("pipeline: exactly which statements are pipelined") {
    require_pipelining(ctx);
    auto* mx = dynamic_cast<db::Multiplexed*>(&ctx.conn());
    CT_REQUIRE(mx != nullptr);
    for (const char* sql :
         {"SELECT * FROM t WHERE id = $1", "  select 1", "INSERT INTO t (a) VALUES ($1) RETURNING id",
          "UPDATE t SET a = 1 WHERE id = $1", "DELETE FROM t WHERE id = $1", "WITH x AS (SELECT 1) SELECT * FROM x",
          "VALUES (1)", "SELECT temperature FROM t;"})
        if (!mx->shareable(sql)) CT_FAIL_AT(fmt::format("should be pipelined: {}", sql));
    for (const char* sql :
         {"SET statement_timeout = 0", "CREATE TEMP TABLE x (a int)", "SELECT * FROM t FOR UPDATE",
          "SELECT * FROM t FOR NO KEY UPDATE", "SELECT * FROM t FOR SHARE", "SELECT * FROM t FOR KEY SHARE",
          "SELECT set_config('a.b', '1', false)", "SELECT pg_advisory_lock(1)", "SELECT pg_try_advisory_lock(1)",
          "SELECT lastval()", "SELECT currval('s')", "SELECT setval('s', 1)", "SELECT * INTO t2 FROM t",
          "BEGIN", "COMMIT", "LISTEN x", "DISCARD ALL", "PREPARE p AS SELECT 1", "SELECT 1; SELECT 2",
          "INSERT INTO pg_temp.t VALUES (1)", "COPY t FROM STDIN", "CREATE TABLE t (a int)", "RESET ALL",
          "DECLARE c CURSOR FOR SELECT 1", "CALL p()", "DO $$ BEGIN END $$", "LOCK TABLE t", "VACUUM"})
        if (mx->shareable(sql)) CT_FAIL_AT(fmt::format("must not be pipelined: {}", sql));
}

CONFORMANCE_TEST("pipeline: SET through raw SQL stays on the lease's own connection") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    seed_authors(2);
    auto& db = reopen(ctx, "pool_size=2");
    // Inside one lease (raw() is one), a SET and the statement after it run on one exclusive
    // session; no other fiber's pipelined statement sees the setting.
    std::vector<Task<std::string>> tasks;
    for (int i = 0; i < 20; ++i)
        tasks.push_back(orm::spawn([] {
            auto rows = Author::objects.raw(
                "SELECT 0 AS id, current_setting('application_name') AS name, NULL::text AS email");
            return rows.empty() ? std::string() : rows[0].name;
        }));
    {
        detail::Lease lease("default");
        CT_CHECK(lease.shared());
        lease.execute("SET application_name = 'pipe_leak_check'", {});
        CT_CHECK(!lease.shared());  // traded for an exclusive connection
        auto r = lease.execute("SELECT current_setting('application_name')", {});
        CT_REQUIRE(r.next());
        CT_CHECK_EQ(std::string(r.row().get<std::string_view>(0)), std::string("pipe_leak_check"));
        lease.execute("RESET application_name", {});
    }
    for (const auto& name : orm::join_all(tasks)) CT_CHECK(name != "pipe_leak_check");
    (void)db;
}

CONFORMANCE_TEST("pipeline: URL options turn it off and cap statements per connection") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    auto ids = seed_authors(4);
    {
        auto& db = reopen(ctx, "pool_size=2&pipelining=off");
        CT_CHECK(!db.sharing().on());
        std::vector<Task<std::int64_t>> tasks;
        for (int i = 0; i < 20; ++i) tasks.push_back(orm::spawn([&] { return Author::objects.count(); }));
        for (auto n : orm::join_all(tasks)) CT_CHECK_EQ(n, std::int64_t{4});
        CT_CHECK_EQ(db.sharing().peak_leases(), std::size_t{0});
    }
    {
        auto& db = reopen(ctx, "pool_size=2&pipeline_depth=3");
        CT_CHECK(db.sharing().on());
        CT_CHECK_EQ(db.sharing().depth(), std::size_t{3});
        std::vector<Task<std::int64_t>> tasks;
        for (int i = 0; i < 50; ++i)
            tasks.push_back(orm::spawn([&, i] { return Author::objects.get("id", ids[i % 4]).id; }));
        auto got = orm::join_all(tasks);
        for (int i = 0; i < 50; ++i) CT_CHECK_EQ(got[i], ids[i % 4]);
        CT_CHECK(db.sharing().peak_leases() <= 3);
        CT_CHECK(db.sharing().peak_leases() > 1);
    }
    try {
        orm::connect(ctx.url_with("pipeline_depth=0"), "pipe_bad");
        CT_FAIL_AT("pipeline_depth=0 accepted");
    } catch (const InterfaceError& e) {
        CT_CHECK(std::string(e.what()).find("pipeline_depth") != std::string::npos);
    }
    try {
        orm::connect(ctx.url_with("pipelining=maybe"), "pipe_bad");
        CT_FAIL_AT("pipelining=maybe accepted");
    } catch (const InterfaceError& e) {
        CT_CHECK(std::string(e.what()).find("pipelining") != std::string::npos);
    }
    try {
        orm::connect(ctx.url_with("pipelining=on&transaction_pooling=on"), "pipe_bad");
        CT_FAIL_AT("pipelining with transaction_pooling accepted");
    } catch (const InterfaceError& e) {
        CT_CHECK(std::string(e.what()).find("transaction_pooling") != std::string::npos);
    }
    CT_CHECK(!orm::connect(ctx.url_with("transaction_pooling=on"), "pipe_bad").sharing().on());
    orm::disconnect("pipe_bad");
}

CONFORMANCE_TEST("pipeline: fibers waiting for room are all served, or time out after pool_timeout") {
    require_pipelining(ctx);
    Tables<Author> tables(ctx);
    auto ids = seed_authors(2);
    {
        // One connection carrying 2 statements at most: 38 of the 40 fibers wait at first, and
        // each lease that ends hands its place to the oldest of them.
        auto& db = reopen(ctx, "pool_size=1&pipeline_depth=2");
        db.sharing().reset_peak();
        std::vector<Task<std::int64_t>> tasks;
        for (int i = 0; i < 40; ++i)
            tasks.push_back(orm::spawn([&, i] { return Author::objects.get("id", ids[i % 2]).id; }));
        auto got = orm::join_all(tasks);
        for (int i = 0; i < 40; ++i) CT_CHECK_EQ(got[i], ids[i % 2]);
        CT_CHECK_EQ(db.sharing().peak_leases(), std::size_t{2});
    }
    {
        // The only connection carries its one statement, a slow one: the next statement waits for
        // room as long as pool_timeout, not until the slow one ends.
        reopen(ctx, "pool_size=1&pipeline_depth=1&pool_timeout=200ms");
        auto slow = orm::spawn([] { return Author::objects.raw(slow_authors_sql(1.5)).size(); });
        orm::sleep_for(std::chrono::milliseconds(50));  // its statement is in flight
        const auto start = std::chrono::steady_clock::now();
        std::string message;
        try {
            (void)Author::objects.get("id", ids[0]);
            CT_FAIL_AT("a statement found room on a connection that had none");
        } catch (const TimeoutError& e) {
            message = e.what();
        }
        const auto waited = std::chrono::steady_clock::now() - start;
        CT_CHECK(message.find("pipeline_depth=1") != std::string::npos);
        CT_CHECK(waited >= std::chrono::milliseconds(150));
        CT_CHECK(waited < std::chrono::milliseconds(1400));
        CT_CHECK_EQ(slow.get(), std::size_t{2});
        CT_CHECK_EQ(Author::objects.get("id", ids[1]).id, ids[1]);  // the connection serves again
    }
}

CONFORMANCE_TEST("pipeline: transactions and select_for_update keep their own connection") {
    require_pipelining(ctx);
    ctx.require(&db::Features::supports_select_for_update, "supports_select_for_update");
    Tables<Author> tables(ctx);
    auto ids = seed_authors(3);
    reopen(ctx, "pool_size=3");
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 10; ++i)
        tasks.push_back(orm::spawn([i, &ids]() -> int {
            if (i % 2 == 0) {
                return Author::objects.get("id", ids[i % 3]).id == ids[i % 3] ? 1 : -1;
            }
            int ok = 1;
            atomic([&] {
                detail::Lease lease("default");
                if (lease.shared() || !lease.in_transaction()) ok = -1;
                auto locked = Author::objects.filter("id", ids[i % 3]).select_for_update().list();
                if (locked.size() != 1) ok = -1;
                locked[0].email = fmt::format("tx{}", i);
                locked[0].save();
            });
            return ok;
        }));
    for (int r : orm::join_all(tasks)) CT_CHECK_EQ(r, 1);
    CT_CHECK_EQ(Author::objects.filter("email__isnull", false).count(), std::int64_t{3});
}

// ---- orm::gather: every backend, both modes ----------------------------------------------------

CONFORMANCE_TEST("batch: gather runs independent queries and returns each result") {
    Tables<Author, Book> tables(ctx);
    auto ids = seed_authors(5);
    Book::objects.create({.title = "t1", .author_id = ids[0]});
    Book::objects.create({.title = "t2", .author_id = ids[1]});
    // One connection: on PostgreSQL the callables' statements can only overlap by sharing it.
    if (pipelines(ctx)) reopen(ctx, "pool_size=1");
    const bool pipelines = database().sharing().on();
    database().sharing().reset_peak();
    std::int64_t authors = -1, books = -1;
    std::optional<Author> first;
    std::vector<Book> titles;
    std::vector<int> order;
    orm::gather({[&] {
                     authors = Author::objects.count();
                     order.push_back(0);
                 },
                 [&] {
                     books = Book::objects.count();
                     order.push_back(1);
                 },
                 [&] {
                     first = Author::objects.get("id", ids[2]);
                     order.push_back(2);
                 },
                 [&] {
                     titles = Book::objects.order_by("title").list();
                     order.push_back(3);
                 }});
    CT_CHECK_EQ(authors, std::int64_t{5});
    CT_CHECK_EQ(books, std::int64_t{2});
    CT_REQUIRE(first.has_value());
    CT_CHECK_EQ(first->name, std::string("a0002"));
    CT_REQUIRE(titles.size() == 2);
    CT_CHECK_EQ(titles[1].title, std::string("t2"));
    CT_CHECK_EQ(order.size(), std::size_t{4});
    if (pipelines) {
        CT_CHECK(database().sharing().peak_leases() > 1);  // in flight together, in sync mode too
    } else {
        CT_CHECK((order == std::vector<int>{0, 1, 2, 3}));  // one after another
        CT_CHECK_EQ(database().sharing().peak_leases(), std::size_t{0});
    }
}

CONFORMANCE_TEST("batch: on PostgreSQL gather's reads share one Sync, in sync mode too") {
    if (!pipelines(ctx)) throw Skip{"the backend or the URL does not pipeline"};
    Tables<Author> tables(ctx);
    auto ids = seed_authors(3);
    reopen(ctx, "pool_size=1");
    // As in the pipelining test above: the start of the server's transaction tells which reads
    // shared a Sync.
    const std::string sql =
        "SELECT id, name, transaction_timestamp()::text AS email FROM weft_ct_orm_author WHERE id = $1";
    CT_REQUIRE(Author::objects.raw(sql, {Value(ids[0])}).size() == 1);  // prepared on the connection
    constexpr int reads = 20;
    std::vector<std::string> stamps(reads);
    std::vector<std::function<void()>> fns;
    for (int i = 0; i < reads; ++i)
        fns.push_back([i, &ids, &sql, &stamps] {
            auto rows = Author::objects.raw(sql, {Value(ids[i % 3])});
            stamps[std::size_t(i)] = rows.size() == 1 && rows[0].id == ids[i % 3] ? rows[0].email.value_or("null")
                                                                                    : "wrong row";
        });
    orm::gather(std::span<const std::function<void()>>(fns));
    CT_CHECK(std::find(stamps.begin(), stamps.end(), "wrong row") == stamps.end());
    std::sort(stamps.begin(), stamps.end());
    const auto distinct = static_cast<int>(std::unique(stamps.begin(), stamps.end()) - stamps.begin());
    CT_CHECK(distinct <= reads / 4);
}

CONFORMANCE_TEST("batch: a failing callable is rethrown after the others finished") {
    Tables<Author> tables(ctx);
    seed_authors(2);
    std::int64_t before = -1, after = -1;
    try {
        orm::gather({[&] { before = Author::objects.count(); },
                     [&] { Author::objects.create({.name = "a0001"}); },  // unique violation
                     [&] { after = Author::objects.filter("name", "a0000").count(); }});
        CT_FAIL_AT("no error");
    } catch (const IntegrityError&) {
    }
    CT_CHECK_EQ(before, std::int64_t{2});
    CT_CHECK_EQ(after, std::int64_t{1});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{2});
    try {
        orm::gather({[] {}}, "no_such_alias");
        CT_FAIL_AT("unknown alias accepted");
    } catch (const InterfaceError&) {
    }
}

CONFORMANCE_TEST("batch: inside a transaction the callables run in it, in order") {
    Tables<Author> tables(ctx);
    seed_authors(1);
    std::vector<int> order;
    std::int64_t seen = -1;
    try {
        atomic([&] {
            Author::objects.create({.name = "inside"});
            orm::gather({[&] {
                             seen = Author::objects.count();
                             order.push_back(0);
                         },
                         [&] {
                             Author::objects.filter("name", "inside").update({{"email", Value("x")}});
                             order.push_back(1);
                         }});
            throw std::runtime_error("roll back");
        });
    } catch (const std::runtime_error&) {
    }
    CT_CHECK_EQ(seen, std::int64_t{2});  // saw the transaction's own insert
    CT_CHECK((order == std::vector<int>{0, 1}));
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{1});  // and rolled back with it
}

CONFORMANCE_TEST("batch: prefetch_related of several relations at one level reads them together") {
    namespace rm = weft::conformance::rel_models;
    rm::Library tables(ctx);
    auto s = rm::seed_library();
    // One connection: on PostgreSQL the two prefetch queries can only overlap by sharing it.
    if (pipelines(ctx)) reopen(ctx, "pool_size=1");
    database().sharing().reset_peak();
    auto both = rm::Author::objects.order_by("name").prefetch_related("books", "edited").list();
    CT_REQUIRE(both.size() == 4);
    CT_CHECK_EQ(both[1].books.count(), std::int64_t{2});
    CT_CHECK_EQ(both[1].edited.count(), std::int64_t{1});
    if (pipelines(ctx))
        CT_CHECK_EQ(database().sharing().peak_leases(), std::size_t{2});  // in flight together, both modes
    else
        CT_CHECK_EQ(database().sharing().peak_leases(), std::size_t{0});
    (void)s;
}
