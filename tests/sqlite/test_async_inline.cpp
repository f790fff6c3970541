// Async SQLite's placement of statements (sqlite_connection.hpp): a prepared query runs on the
// loop's thread under a time budget; out of time or at a lock it is stopped and re-run on a
// worker; writes always run on a worker; a query's rows stream in batches. Where a statement ran
// is shown three ways: SqliteConnection::offload_stats(), an SQL function reporting its thread,
// and a ticker fiber counting how often the loop ran while a statement was in flight.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include <sqlite3.h>

#include "drivers/bridge/bridge.hpp"
#include "drivers/database.hpp"
#include "drivers/sqlite/sqlite_connection.hpp"
#include "helpers.hpp"

using namespace orm;
using namespace orm::db;
using namespace sqlite_test;
using namespace std::chrono_literals;

namespace {

constexpr const char* long_query =
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000000) "
    "SELECT count(*), sum(x), max(weft_thread()) FROM n";

struct Mode {
    explicit Mode(bool async) { orm::set_async(async); }
    ~Mode() { orm::set_async(false); }
};

std::int64_t this_thread_tag() {
    return static_cast<std::int64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()) >> 1);
}

std::atomic<std::int64_t> produced{0};

sqlite::SqliteConnection& sq(Connection& c) { return dynamic_cast<sqlite::SqliteConnection&>(c); }

// weft_thread(): the tag of the thread running the statement; weft_count(x): x, counting calls.
void add_functions(Connection& c) {
    auto* raw = sq(c).native_handle();
    REQUIRE(sqlite3_create_function_v2(
                raw, "weft_thread", 0, SQLITE_UTF8, nullptr,
                [](sqlite3_context* ctx, int, sqlite3_value**) { sqlite3_result_int64(ctx, this_thread_tag()); },
                nullptr, nullptr, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_create_function_v2(
                raw, "weft_count", 1, SQLITE_UTF8, nullptr,
                [](sqlite3_context* ctx, int, sqlite3_value** argv) {
                    ++produced;
                    sqlite3_result_int64(ctx, sqlite3_value_int64(argv[0]));
                },
                nullptr, nullptr, nullptr) == SQLITE_OK);
}

std::vector<Value> first_row(Connection& c, std::string_view sql, std::initializer_list<Value> params = {}) {
    Result r = c.execute(sql, std::vector<Value>(params));
    REQUIRE(r.next());
    std::vector<Value> out;
    for (std::size_t i = 0; i < r.column_count(); ++i) out.push_back(r.row().value(i));
    return out;
}

class Ticker {
public:
    explicit Ticker(const int& busy) : busy_(busy), task_(orm::spawn("ticker", [this] { run(); })) {}
    ~Ticker() {
        try {
            stop();
        } catch (...) {
        }
    }
    void stop() {
        stop_ = true;
        if (task_.valid()) task_.get();
    }
    int busy_ticks() const { return busy_ticks_; }

private:
    void run() {
        while (!stop_) {
            orm::sleep_for(1ms);
            if (busy_ > 0) ++busy_ticks_;
        }
    }
    const int& busy_;
    bool stop_ = false;
    int busy_ticks_ = 0;
    orm::Task<void> task_;
};

}  // namespace

TEST_CASE("async inline: a prepared short query runs on the loop thread, a first run and writes on a worker") {
    Mode mode(true);
    TempDir dir;
    orm::run([&] {
        auto c = open(dir.url("inline.db"));
        add_functions(*c);
        c->execute_script("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
        const std::int64_t here = this_thread_tag();
        auto before = sq(*c).offload_stats();
        // First run: prepared (and cached) on a worker.
        CHECK(first_row(*c, "SELECT weft_thread(), ?", {1})[0].as_int64() != here);
        auto after_first = sq(*c).offload_stats();
        CHECK(after_first.worker_runs == before.worker_runs + 1);
        CHECK(after_first.inline_runs == before.inline_runs);
        // Second run: the cached statement runs here.
        CHECK(first_row(*c, "SELECT weft_thread(), ?", {2})[0].as_int64() == here);
        auto after_second = sq(*c).offload_stats();
        CHECK(after_second.inline_runs == after_first.inline_runs + 1);
        CHECK(after_second.worker_runs == after_first.worker_runs);
        // A write never runs here, however often it ran before.
        for (int i = 1; i <= 3; ++i) c->execute("INSERT INTO t (id, v) VALUES (?, 'x')", {i});
        auto after_writes = sq(*c).offload_stats();
        CHECK(after_writes.worker_runs == after_second.worker_runs + 3);
        CHECK(after_writes.inline_runs == after_second.inline_runs);
        // query_first (the ORM's get) takes the same path.
        std::int64_t thread = 0;
        auto read_thread = [](void* out, const Row& row) { *static_cast<std::int64_t*>(out) = row.value(0).as_int64(); };
        const Value two(std::int64_t{2}), missing(std::int64_t{99});
        for (int round = 0; round < 2; ++round)
            CHECK(c->query_first("SELECT weft_thread() FROM t WHERE id = ?", std::span<const Value>(&two, 1),
                                 read_thread, &thread));
        CHECK(thread == here);
        CHECK_FALSE(c->query_first("SELECT weft_thread() FROM t WHERE id = ?", std::span<const Value>(&missing, 1),
                                   read_thread, &thread));
    });
}

TEST_CASE("async inline: a long query is stopped on the loop thread and re-run on a worker, same answer") {
    TempDir dir;
    std::vector<Value> sync_answer;
    {
        auto c = open(dir.url("long.db"));
        add_functions(*c);
        sync_answer = first_row(*c, long_query);
    }
    Mode mode(true);
    orm::run([&] {
        auto c = open(dir.url("long.db"));
        add_functions(*c);
        const std::int64_t here = this_thread_tag();
        (void)first_row(*c, "SELECT 1");  // open the file
        int in_flight = 0;
        Ticker ticker(in_flight);
        for (int round = 0; round < 2; ++round) {  // the first run prepares it on a worker
            auto before = sq(*c).offload_stats();
            ++in_flight;
            auto answer = first_row(*c, long_query);
            --in_flight;
            CHECK(answer[0].as_int64() == sync_answer[0].as_int64());
            CHECK(answer[1].as_int64() == sync_answer[1].as_int64());
            CHECK(answer[2].as_int64() != here);  // every row of the answer was made on a worker
            auto after = sq(*c).offload_stats();
            if (round == 1) {
                CHECK(after.moved_by_budget == before.moved_by_budget + 1);
                CHECK(after.worker_runs == before.worker_runs + 1);
            }
        }
        // Having run out of time, it goes straight to a worker next time.
        auto before = sq(*c).offload_stats();
        CHECK(first_row(*c, long_query)[0].as_int64() == sync_answer[0].as_int64());
        CHECK(sq(*c).offload_stats().moved_by_budget == before.moved_by_budget);
        ticker.stop();
        CHECK(ticker.busy_ticks() >= 20);  // the loop ran while the queries did
    });
}

TEST_CASE("async inline: a query stopped inside a transaction leaves the transaction and its writes alone") {
    Mode mode(true);
    TempDir dir;
    orm::run([&] {
        auto c = open(dir.url("tx.db"));
        add_functions(*c);
        c->execute_script("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)");
        const std::string long_count =
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000000) "
            "SELECT count(*) + (SELECT count(*) FROM t) FROM n";
        (void)first_row(*c, long_count);  // prepared
        c->begin();
        c->execute("INSERT INTO t (id, v) VALUES (1, 10)");
        auto before = sq(*c).offload_stats();
        CHECK(first_row(*c, long_count)[0].as_int64() == 2000001);
        CHECK(sq(*c).offload_stats().moved_by_budget == before.moved_by_budget + 1);
        CHECK(c->transaction_state() == TransactionState::active);
        c->execute("INSERT INTO t (id, v) VALUES (2, 20)");
        // A long write runs once, on a worker: exactly its rows, not twice as many.
        c->execute("INSERT INTO t (id, v) WITH RECURSIVE n(x) AS (SELECT 3 UNION ALL SELECT x + 1 FROM n "
                   "WHERE x < 300000) SELECT x, x FROM n");
        c->commit();
        CHECK(first_row(*c, "SELECT count(*), sum(v) FROM t")[0].as_int64() == 300000);
        CHECK(first_row(*c, "SELECT v FROM t WHERE id = 1")[0].as_int64() == 10);
        CHECK(first_row(*c, "SELECT v FROM t WHERE id = 2")[0].as_int64() == 20);
    });
}

TEST_CASE("async inline: a query meeting a lock waits on a worker, not on the loop") {
    Mode mode(true);
    TempDir dir;
    orm::run([&] {
        // Rollback-journal mode: a writer's exclusive lock keeps readers out (WAL would not).
        auto a = open(dir.url("lock.db", "journal_mode=delete&transaction_mode=exclusive"));
        a->execute_script("CREATE TABLE t (x INTEGER)");
        a->execute("INSERT INTO t VALUES (1)");
        auto b = open(dir.url("lock.db", "journal_mode=delete&busy_timeout=10s"));
        CHECK(first_row(*b, "SELECT count(*) FROM t")[0].as_int64() == 1);  // prepared and cached
        a->begin();  // BEGIN EXCLUSIVE
        a->execute("INSERT INTO t VALUES (2)");
        int in_flight = 0;
        Ticker ticker(in_flight);
        auto before = sq(*b).offload_stats();
        auto reader = orm::spawn("reader", [&] {
            ++in_flight;
            auto n = first_row(*b, "SELECT count(*) FROM t")[0].as_int64();
            --in_flight;
            return n;
        });
        auto holder = orm::spawn("holder", [&] {
            orm::sleep_for(100ms);
            a->commit();  // needs the loop: had the reader blocked it, this would wait 10 s
        });
        holder.get();
        CHECK(reader.get() == 2);
        ticker.stop();
        CHECK(ticker.busy_ticks() >= 20);
        CHECK(sq(*b).offload_stats().moved_by_lock >= before.moved_by_lock + 1);
    });
}

TEST_CASE("async inline: a query's rows stream in batches, and the mode may flip in between") {
    Mode mode(true);
    TempDir dir;
    const std::string many =
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000) SELECT weft_count(x) FROM n";
    orm::run([&] {
        auto c = open(dir.url("stream.db"));
        add_functions(*c);
        for (int round = 0; round < 2; ++round) {  // a first run (worker) and a cached one
            produced = 0;
            Result r = c->execute(many);
            REQUIRE(r.next());
            CHECK(r.row().value(0).as_int64() == 1);
            // Rows arrived with at most a batch or two made: the query has not run to its end.
            CHECK(produced.load() <= 3 * 1024);
            std::int64_t expect = 2, rows = 1;
            bool in_order = true;
            while (r.next()) {
                in_order = in_order && r.row().value(0).as_int64() == expect;
                ++expect;
                ++rows;
            }
            CHECK(in_order);
            CHECK(rows == 200000);
        }
        SUBCASE("flipped to sync mode part-way: the rest is read on the calling thread") {
            Result r = c->execute(many);
            std::int64_t rows = 0;
            for (int i = 0; i < 5000 && r.next(); ++i) ++rows;
            orm::set_async(false);
            while (r.next()) ++rows;
            CHECK(rows == 200000);
            orm::set_async(true);
        }
        SUBCASE("dropped part-way: the statement is reset and the connection works on") {
            {
                Result r = c->execute(many);
                REQUIRE(r.next());
            }
            CHECK(first_row(*c, "SELECT count(*) FROM (SELECT 1 UNION ALL SELECT 2)")[0].as_int64() == 2);
            Result again = c->execute(many);
            std::int64_t rows = 0;
            while (again.next()) ++rows;
            CHECK(rows == 200000);
        }
    });
}

TEST_CASE("async inline: async_inline=off runs every statement on a worker") {
    Mode mode(true);
    TempDir dir;
    orm::run([&] {
        auto c = open(dir.url("off.db", "async_inline=off"));
        add_functions(*c);
        const std::int64_t here = this_thread_tag();
        for (int round = 0; round < 3; ++round) {
            CHECK(first_row(*c, "SELECT weft_thread()")[0].as_int64() != here);
            std::int64_t thread = 0;
            CHECK(c->query_first("SELECT weft_thread()", {},
                                 [](void* out, const Row& row) { *static_cast<std::int64_t*>(out) = row.value(0).as_int64(); },
                                 &thread));
            CHECK(thread != here);
        }
        CHECK(sq(*c).offload_stats().inline_runs == 0);
        CHECK(sq(*c).offload_stats().worker_runs == 6);
    });
}

TEST_CASE("async inline: the statement timeout, cancel() and a PRAGMA busy_timeout still hold") {
    Mode mode(true);
    TempDir dir;
    orm::run([&] {
        auto c = open(dir.url("timeout.db", "statement_timeout=100ms"));
        for (int round = 0; round < 2; ++round)  // the second run starts on the loop thread
            CHECK_THROWS_WITH_AS(c->execute(endless_query), doctest::Contains("statement timeout"), TimeoutError);
        c->execute("PRAGMA busy_timeout = 1234");
        for (int round = 0; round < 3; ++round) CHECK(scalar_int(*c, "SELECT 1") == 1);
        CHECK(scalar_int(*c, "PRAGMA busy_timeout") == 1234);
    });
}
