// Conformance: fibers and the connection pool in both modes. Each test runs in every mode; the
// ones about the loop staying free while queries run only mean something in async mode and skip
// elsewhere. Timing is never the pass/fail criterion beyond generous sanity bounds: a "ticker"
// fiber counts how often it got to run while queries were in flight, which is zero whenever a
// query blocks the loop and hundreds when it does not.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/ranges.h>

#include "drivers/bridge/bridge.hpp"
#include "drivers/bridge/join_all.hpp"
#include "tests/conformance/harness.hpp"

using namespace orm;
using namespace orm::db;
using namespace weft::conformance;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// Counts to `n` in a recursive CTE: CPU work inside the database on any SQL backend.
std::string counting_query(std::int64_t n) {
    return fmt::format("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {}) "
                       "SELECT COUNT(*) FROM c",
                       n);
}
constexpr std::int64_t heavy_rows = 1'000'000;

// A fiber that sleeps 1 ms at a time until stopped. It counts its ticks, the ticks that ended
// while `busy` (a count of queries in flight) was non-zero, and its worst lateness.
class Ticker {
public:
    explicit Ticker(const int* busy = nullptr) : busy_(busy), task_(orm::spawn("ticker", [this] { tick(); })) {}
    ~Ticker() {
        try {
            stop();
        } catch (...) {
        }
    }
    Ticker(const Ticker&) = delete;
    Ticker& operator=(const Ticker&) = delete;

    void stop() {
        stop_ = true;
        if (task_.valid()) task_.get();
    }
    int ticks() const { return ticks_; }
    int busy_ticks() const { return busy_ticks_; }
    std::chrono::microseconds worst_delay() const {
        return std::chrono::duration_cast<std::chrono::microseconds>(worst_);
    }

private:
    void tick() {
        while (!stop_) {
            const auto t0 = Clock::now();
            orm::sleep_for(1ms);
            worst_ = std::max(worst_, Clock::now() - t0 - 1ms);
            ++ticks_;
            if (busy_ && *busy_ > 0) ++busy_ticks_;
        }
    }

    const int* busy_;
    bool stop_ = false;
    int ticks_ = 0, busy_ticks_ = 0;
    Clock::duration worst_{};
    orm::Task<void> task_;  // last: the fiber may only start once the counters exist
};

// Restores the mode switch when a test that flips it ends, however it ends.
struct RestoreMode {
    bool was = orm::is_async();
    ~RestoreMode() { orm::set_async(was); }
};

std::string us(std::chrono::microseconds d) { return fmt::format("{:.3f} ms", double(d.count()) / 1000.0); }

}  // namespace

CONFORMANCE_TEST("fibers: 200 fibers share a pool of 4 with correct results, never exceeding it") {
    auto db = ctx.open_with("pool_size=4&pool_timeout=60s");
    const auto& d = db->dialect();
    const std::size_t size = db->pool().options().max_size;  // 1 for a database that allows one connection
    const std::string sql = "SELECT CAST(" + d.placeholder(1) + " AS BIGINT) * 2 + CAST(" + d.placeholder(2) + " AS BIGINT)";
    std::size_t max_in_use = 0, max_open = 0, max_waiting = 0;
    auto sample = [&] {
        PoolStats s = db->pool().stats();
        max_in_use = std::max(max_in_use, s.in_use);
        max_open = std::max(max_open, s.open);
        max_waiting = std::max(max_waiting, s.waiting);
    };
    std::vector<Task<std::pair<std::int64_t, std::int64_t>>> tasks;
    for (std::int64_t i = 0; i < 200; ++i)
        tasks.push_back(orm::spawn(fmt::format("query-{}", i), [&, i] {
            auto c = db->acquire();
            sample();
            auto a = c->execute(sql, {i, 1}).scalar<std::int64_t>().value_or(-1);
            // Holding the connection across a switch makes the others wait for it, in every mode.
            orm::yield_now();
            sample();
            auto b = c->execute(sql, {i, 2}).scalar<std::int64_t>().value_or(-1);
            return std::pair{a, b};
        }));
    // join_all, not get() one by one: a failing fiber must not leave the others running against
    // this frame's locals once the test has thrown (see drivers/bridge/join_all.hpp).
    auto results = orm::join_all(tasks);
    int right = 0;
    for (std::int64_t i = 0; i < 200; ++i) {
        auto [a, b] = results[std::size_t(i)];
        if (a == 2 * i + 1 && b == 2 * i + 2) ++right;
        else CT_FAIL_AT(fmt::format("fiber {} got {} and {}", i, a, b));
    }
    CT_CHECK_EQ(right, 200);
    CT_CHECK(max_in_use <= size);
    CT_CHECK(max_open <= size);
    CT_CHECK(max_waiting > 0);  // the pool was the bottleneck: fibers did wait in acquire()
    auto s = db->pool().stats();
    CT_CHECK_EQ(s.in_use, std::size_t{0});
    CT_CHECK_EQ(s.waiting, std::size_t{0});
    CT_CHECK(s.created <= size);
    CT_CHECK_EQ(s.timeouts, std::uint64_t{0});
}

// Issue 16: through a pooler that refused every statement, the 200-fiber test above crashed or
// hung. The pool was not at fault: the test joined its fibers one by one, the first get() threw,
// and 199 fibers went on running against the destroyed test frame (its Database, its lambdas).
// Here every statement fails in 200 fibers sharing a pool of 4: each failure must stay in its
// fiber, every fiber must be joined before the test frame goes, and the pool must come out whole.
CONFORMANCE_TEST("fibers: 200 fibers whose statements all fail share a pool of 4; errors stay per fiber, the pool stays whole") {
    auto db = ctx.open_with("pool_size=4&pool_timeout=60s");
    const std::size_t size = db->pool().options().max_size;
    const std::string missing = ctx.table("never_created");
    const std::string bad = "SELECT x FROM " + db->dialect().quote_name(missing);
    std::atomic<int> finished{0};
    std::size_t max_in_use = 0;
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 200; ++i)
        tasks.push_back(orm::spawn(fmt::format("failing-{}", i), [&, i] {
            if (i == 0) {  // the first to be joined fails before any other fiber has run
                ++finished;
                throw std::runtime_error("fiber 0 gave up at once");
            }
            auto c = db->acquire();
            max_in_use = std::max(max_in_use, db->pool().stats().in_use);
            int errors = 0;
            for (int k = 0; k < 3; ++k) {
                try {
                    c->execute(bad);
                } catch (const ProgrammingError&) {
                    ++errors;
                }
                orm::yield_now();  // holding the connection while failing: others queue up
            }
            // The same connection still answers after its errors.
            const bool fine = c->execute("SELECT 1").scalar<std::int64_t>() == 1;
            ++finished;
            return fine ? errors : -1;
        }));
    try {
        (void)orm::join_all(tasks);
        CT_FAIL_AT("join_all returned although fiber 0 threw");
    } catch (const std::runtime_error& e) {
        CT_CHECK_EQ(std::string(e.what()), std::string("fiber 0 gave up at once"));
        // Every other fiber had finished when the first failure reached the joiner.
        CT_CHECK_EQ(finished.load(), 200);
    }
    for (auto& t : tasks) CT_CHECK(!t.valid());
    auto s = db->pool().stats();
    CT_CHECK(max_in_use <= size);
    CT_CHECK_EQ(s.in_use, std::size_t{0});
    CT_CHECK_EQ(s.waiting, std::size_t{0});
    CT_CHECK_EQ(s.timeouts, std::uint64_t{0});
    CT_CHECK(s.created <= size);  // a failed statement never cost a connection
    // The errors themselves, counted fiber by fiber, on a second round that succeeds as a whole.
    std::vector<Task<int>> again;
    for (int i = 0; i < 200; ++i)
        again.push_back(orm::spawn(fmt::format("failing-again-{}", i), [&] {
            auto c = db->acquire();
            try {
                c->execute(bad);
            } catch (const ProgrammingError&) {
                orm::yield_now();
                return c->execute("SELECT 2").scalar<std::int64_t>() == 2 ? 1 : -1;
            }
            return -2;
        }));
    int ok = 0;
    for (int v : orm::join_all(again)) ok += v == 1;
    CT_CHECK_EQ(ok, 200);
    CT_CHECK_EQ(db->pool().stats().in_use, std::size_t{0});
}

CONFORMANCE_TEST("fibers: a fiber waiting on a full pool times out after pool_timeout while other fibers run") {
    auto db = ctx.open_with("pool_size=1&pool_timeout=300ms");
    auto held = db->acquire();
    auto& c = ctx.conn();  // another database object: queries on it go on meanwhile
    bool stop = false;
    int queries = 0;
    Ticker ticker;
    auto worker = orm::spawn("worker", [&] {
        while (!stop) {
            if (c.execute("SELECT 1").scalar<std::int64_t>() == 1) ++queries;
            orm::sleep_for(2ms);
        }
    });
    const auto start = Clock::now();
    auto waiter = orm::spawn("waiter", [&] { return db->acquire(); });
    CT_CHECK_THROWS_WITH(waiter.get(), TimeoutError, "pool_size=1");
    const auto waited = Clock::now() - start;
    const int ticks = ticker.ticks();
    const int done = queries;
    stop = true;
    worker.get();
    ticker.stop();
    CT_CHECK(waited >= 250ms);
    CT_CHECK(waited < 10s);
    CT_CHECK(ticks >= 20);  // ~300 if the loop was free; a blocked wait would allow ~0
    CT_CHECK(done >= 5);
    CT_CHECK_EQ(db->pool().stats().timeouts, std::uint64_t{1});
    held.release();
    auto again = orm::spawn("again", [&] { return db->acquire()->execute("SELECT 2").scalar<std::int64_t>(); });
    CT_CHECK_EQ(again.get(), std::optional<std::int64_t>(2));
}

CONFORMANCE_TEST("fibers: a full pool serves waiters in arrival order; one giving back and asking again lines up") {
    auto db = ctx.open_with("pool_size=1&pool_timeout=30s");
    std::vector<std::string> order;
    auto use = [&](const std::string& who) {
        auto c = db->acquire();
        order.push_back(who);
        CT_CHECK_EQ(c->execute("SELECT 1").scalar<std::int64_t>(), std::optional<std::int64_t>(1));
        orm::yield_now();  // the others get to queue up meanwhile
    };
    std::vector<Task<void>> tasks;
    tasks.push_back(orm::spawn("first", [&] {
        use("first");
        use("first again");  // given back while three wait: asks again behind them
    }));
    for (const char* name : {"a", "b", "c"}) tasks.push_back(orm::spawn(name, [&, name] { use(name); }));
    orm::join_all(tasks);
    CT_CHECK_EQ(fmt::format("{}", fmt::join(order, ",")), std::string("first,a,b,c,first again"));
    auto s = db->pool().stats();
    CT_CHECK_EQ(s.waiting, std::size_t{0});
    CT_CHECK_EQ(s.timeouts, std::uint64_t{0});
}

CONFORMANCE_TEST("fibers: the loop keeps running other fibers while queries run") {
    if (!orm::is_async()) throw Skip{"async only: in sync mode a query blocks its thread by design"};
    auto db = ctx.open_with("pool_size=3&pool_timeout=60s");
    int in_flight = 0;
    Ticker ticker(&in_flight);
    const std::string heavy = counting_query(heavy_rows);
    const auto start = Clock::now();
    std::vector<Task<int>> workers;
    for (int w = 0; w < 3; ++w)
        workers.push_back(orm::spawn(fmt::format("heavy-{}", w), [&] {
            auto c = db->acquire();
            int right = 0;
            for (int i = 0; i < 2; ++i) {
                ++in_flight;
                auto n = c->execute(heavy).scalar<std::int64_t>();
                --in_flight;
                if (n == heavy_rows) ++right;
            }
            return right;
        }));
    int right = 0;
    for (int r : orm::join_all(workers)) right += r;
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    ticker.stop();
    CT_CHECK_EQ(right, 6);
    // Were the loop blocked by a query, the ticker could only run between queries: 0 busy ticks.
    CT_CHECK(ticker.busy_ticks() >= 20);
    CT_CHECK(ticker.worst_delay() < 2s);  // sanity only; the figure itself goes to the note
    ctx.note(fmt::format("ticker: {} ticks while queries ran ({} in all) over {} ms; worst loop delay {}",
                         ticker.busy_ticks(), ticker.ticks(), took.count(), us(ticker.worst_delay())));
}

CONFORMANCE_TEST("fibers: flipping set_async while fibers run queries; operations finish in their mode") {
    RestoreMode restore;
    auto db = ctx.open_with("pool_size=4&pool_timeout=60s");
    const auto& d = db->dialect();
    const std::string sql = "SELECT CAST(" + d.placeholder(1) + " AS BIGINT) + CAST(" + d.placeholder(2) + " AS BIGINT)";
    bool stop = false;
    int flips = 0;
    auto flipper = orm::spawn("flipper", [&] {
        while (!stop) {
            orm::set_async(!orm::is_async());
            ++flips;
            orm::sleep_for(1ms);
        }
    });
    std::vector<Task<int>> workers;
    for (int w = 0; w < 20; ++w)
        workers.push_back(orm::spawn(fmt::format("worker-{}", w), [&, w] {
            int right = 0;
            for (int i = 0; i < 25; ++i) {
                auto c = db->acquire();
                if (c->execute(sql, {w, i}).scalar<std::int64_t>() == w + i) ++right;
                orm::yield_now();
                if (c->execute(sql, {w, -i}).scalar<std::int64_t>() == w - i) ++right;
                if (i % 5 == 0) orm::sleep_for(1ms);
            }
            return right;
        }));
    int right = 0;
    for (int r : orm::join_all(workers)) right += r;
    stop = true;
    flipper.get();
    CT_CHECK_EQ(right, 20 * 25 * 2);
    CT_CHECK(flips >= 2);

    // An operation started in async mode stays async when the switch flips to sync meanwhile:
    // the loop keeps running the ticker until it ends.
    orm::set_async(true);
    int in_flight = 0;
    bool finished = false;
    Ticker ticker(&in_flight);
    auto heavy = orm::spawn("heavy", [&] {
        struct Finish {
            bool& f;
            ~Finish() { f = true; }
        } finish{finished};
        auto c = db->acquire();
        ++in_flight;
        auto n = c->execute(counting_query(heavy_rows)).scalar<std::int64_t>();
        --in_flight;
        return n;
    });
    int ticks_after_flip = -1;
    auto flip = orm::spawn("flip-to-sync", [&] {
        while (in_flight == 0 && !finished) orm::yield_now();
        orm::sleep_for(2ms);
        orm::set_async(false);
        const int at_flip = ticker.busy_ticks();
        while (!finished) orm::sleep_for(1ms);
        ticks_after_flip = ticker.busy_ticks() - at_flip;
    });
    CT_CHECK_EQ(heavy.get(), std::optional<std::int64_t>(heavy_rows));
    flip.get();
    ticker.stop();
    CT_CHECK(ticks_after_flip >= 5);
    // And the next operation runs in the new mode, on the same pooled connections.
    CT_CHECK_EQ(db->acquire()->execute(sql, {40, 2}).scalar<std::int64_t>(), std::optional<std::int64_t>(42));
}

CONFORMANCE_TEST("fibers: an exception thrown by a query in a fiber reaches Task::get() with its type") {
    auto t = ctx.create_table(TableSpec{"fiberuniq", {{.name = "k", .type = ColumnType::int64, .unique = true}}, {}});
    auto& c = ctx.conn();
    const auto& d = c.dialect();
    const std::string insert = "INSERT INTO " + d.quote_name(t) + " (k) VALUES (" + d.placeholder(1) + ")";
    c.execute(insert, {1});
    auto dup = orm::spawn("duplicate", [&] { c.execute(insert, {1}); });
    CT_CHECK_THROWS_AS(dup.get(), UniqueViolation);
    auto dup2 = orm::spawn("duplicate-2", [&] { return c.execute(insert, {1}).rows_affected(); });
    try {
        dup2.get();
        CT_FAIL_AT("the duplicate insert did not throw");
    } catch (const UniqueViolation& e) {
        CT_CHECK_EQ(e.sqlstate(), std::string("23505"));
    }
    auto bad = orm::spawn("bad-sql", [&] { c.execute("SELECT * FROM weft_no_such_table_in_fiber"); });
    CT_CHECK_THROWS_AS(bad.get(), ProgrammingError);
    // The connection is fine afterwards, from a fiber and from here.
    auto ok = orm::spawn("after", [&] { return c.execute(insert, {2}).rows_affected(); });
    CT_CHECK_EQ(ok.get(), std::int64_t{1});
    CT_CHECK_EQ(c.execute("SELECT COUNT(*) FROM " + d.quote_name(t)).scalar<std::int64_t>(),
                std::optional<std::int64_t>(2));
}

CONFORMANCE_TEST("fibers: transactions stay on the connection of the fiber that opened them") {
    ctx.require_multiple_connections();
    if (!orm::is_async() && !ctx.features().supports_concurrent_writers)
        throw Skip{"in sync mode needs supports_concurrent_writers: a fiber waiting for the write lock "
                   "blocks the thread that the lock holder's fiber needs"};
    auto t = ctx.create_table(TableSpec{"fibertx", {{.name = "name", .type = ColumnType::text}}, {}});
    const auto& d = ctx.conn().dialect();
    const std::string insert = "INSERT INTO " + d.quote_name(t) + " (name) VALUES (" + d.placeholder(1) + ")";
    const std::string count = "SELECT COUNT(*) FROM " + d.quote_name(t) + " WHERE name = " + d.placeholder(1);
    std::vector<std::string> problems;
    auto writer = [&](std::string name, std::string other, bool commit) {
        return orm::spawn("tx-" + name, [&, name, other, commit] {
            auto c = ctx.db().acquire();
            c->begin();
            for (std::int64_t i = 0; i < 5; ++i) {
                c->execute(insert, {name});
                orm::yield_now();  // the other fiber runs its statements in between
                if (c->transaction_state() != TransactionState::active)
                    problems.push_back(name + ": the transaction is no longer active");
                auto own = c->execute(count, {name}).scalar<std::int64_t>().value_or(-1);
                if (own != i + 1) problems.push_back(fmt::format("{} sees {} of its own rows, not {}", name, own, i + 1));
                auto theirs = c->execute(count, {other}).scalar<std::int64_t>().value_or(-1);
                if (theirs != 0 && theirs != 5)
                    problems.push_back(fmt::format("{} sees {} uncommitted rows of {}", name, theirs, other));
                orm::yield_now();
            }
            if (commit) c->commit();
            else c->rollback();
            if (c->transaction_state() != TransactionState::idle) problems.push_back(name + ": still in a transaction");
        });
    };
    auto a = writer("a", "b", true);
    auto b = writer("b", "a", false);
    a.get();
    b.get();
    for (const auto& p : problems) CT_FAIL_AT(p);
    auto& c = ctx.conn();
    CT_CHECK_EQ(c.execute(count, {"a"}).scalar<std::int64_t>(), std::optional<std::int64_t>(5));
    CT_CHECK_EQ(c.execute(count, {"b"}).scalar<std::int64_t>(), std::optional<std::int64_t>(0));
}

CONFORMANCE_TEST("pool: a fiber waiting for a connection is woken by a release on another thread") {
    auto db = ctx.open_with("pool_size=1&pool_timeout=10s");
    auto held = db->acquire();
    orm::Event waiting;
    std::thread releaser([&] {
        waiting.wait_until(orm::deadline_after(10s));
        std::this_thread::sleep_for(50ms);
        held.release();
    });
    Ticker ticker;
    auto waiter = orm::spawn("waiter", [&] {
        waiting.set();
        auto c = db->acquire();
        return c->execute("SELECT 8").scalar<std::int64_t>();
    });
    std::optional<std::int64_t> got;
    try {
        got = waiter.get();
    } catch (...) {
        join(releaser);
        throw;
    }
    join(releaser);
    const int ticks = ticker.ticks();
    ticker.stop();
    CT_CHECK_EQ(got, std::optional<std::int64_t>(8));
    CT_CHECK(ticks >= 5);  // the waiter's loop ran on while it waited (~50 ticks)
    CT_CHECK_EQ(db->pool().stats().timeouts, std::uint64_t{0});
}

CONFORMANCE_TEST("pool: fibers on several threads, each thread running its own loop, share one pool") {
    auto db = ctx.open_with("pool_size=2&pool_timeout=60s");
    const std::size_t size = db->pool().options().max_size;
    const std::string sql = "SELECT " + db->dialect().placeholder(1) + " + 1";
    std::atomic<int> right{0};
    std::atomic<std::size_t> max_in_use{0};
    std::mutex mu;
    std::vector<std::string> problems;
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([&, t] {
            try {
                orm::run([&] {
                    std::vector<Task<void>> fibers;
                    for (int f = 0; f < 10; ++f)
                        fibers.push_back(orm::spawn([&, f] {
                            for (int i = 0; i < 5; ++i) {
                                auto c = db->acquire();
                                const std::size_t in_use = db->pool().stats().in_use;
                                std::size_t seen = max_in_use.load();
                                while (in_use > seen && !max_in_use.compare_exchange_weak(seen, in_use)) {
                                }
                                const std::int64_t v = t * 1000 + f * 10 + i;
                                if (c->execute(sql, {v}).scalar<std::int64_t>() == v + 1) ++right;
                                orm::yield_now();  // hold it across a switch: others wait, here and elsewhere
                            }
                        }));
                    for (auto& f : fibers) f.get();  // rethrows a fiber's error here
                });
            } catch (const std::exception& e) {
                std::lock_guard lock(mu);
                problems.push_back(fmt::format("thread {}: {}", t, e.what()));
            }
        });
    for (auto& th : threads) join(th);
    for (const auto& p : problems) CT_FAIL_AT(p);
    CT_CHECK_EQ(right.load(), 3 * 10 * 5);
    CT_CHECK(max_in_use.load() <= size);
    CT_CHECK_EQ(db->pool().stats().in_use, std::size_t{0});
    CT_CHECK_EQ(db->pool().stats().timeouts, std::uint64_t{0});
}
