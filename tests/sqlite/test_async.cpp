// The SQLite driver in async mode: statements that write, scripts, opening and closing, and the
// first run of every query run on a worker thread (orm::run_in_thread) while the calling fiber
// waits, so the loop runs other fibers meanwhile (later runs of a cached query start on the loop
// thread under a time budget: test_async_inline.cpp).
// Checked directly: an SQL function, an auto-extension and a close trace report the thread they
// run on. Timing is only a sanity bound; "the loop kept running" is shown by a ticker fiber that
// counts how often it ran while a statement was in flight (never, when a statement blocks it).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <mutex>
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
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* heavy_query =
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 500000) SELECT count(*) FROM n";

// Sets the mode for a test and restores sync mode afterwards, however the test ends.
struct Mode {
    explicit Mode(bool async) { orm::set_async(async); }
    ~Mode() { orm::set_async(false); }
};

std::int64_t tag(std::thread::id id) { return static_cast<std::int64_t>(std::hash<std::thread::id>{}(id) >> 1); }
std::int64_t this_thread_tag() { return tag(std::this_thread::get_id()); }

// weft_thread(): the tag of the thread running the statement.
void add_thread_function(Connection& c) {
    auto* raw = dynamic_cast<sqlite::SqliteConnection&>(c).native_handle();
    int rc = sqlite3_create_function_v2(
        raw, "weft_thread", 0, SQLITE_UTF8, nullptr,
        [](sqlite3_context* ctx, int, sqlite3_value**) { sqlite3_result_int64(ctx, this_thread_tag()); }, nullptr,
        nullptr, nullptr);
    REQUIRE(rc == SQLITE_OK);
}

// Records the thread of every connection opened while it lives (sqlite3_auto_extension).
class OpenRecorder {
public:
    OpenRecorder() { sqlite3_auto_extension(reinterpret_cast<void (*)()>(&OpenRecorder::on_open)); }
    ~OpenRecorder() { sqlite3_cancel_auto_extension(reinterpret_cast<void (*)()>(&OpenRecorder::on_open)); }
    static std::int64_t last() { return last_.load(); }

private:
    static int on_open(sqlite3*, char**, const void*) {
        last_ = this_thread_tag();
        return SQLITE_OK;
    }
    static inline std::atomic<std::int64_t> last_{0};
};

// Records the thread that closes the connection (sqlite3_trace_v2 with SQLITE_TRACE_CLOSE).
struct CloseRecorder {
    std::atomic<std::int64_t> thread{0};
    void watch(Connection& c) {
        auto* raw = dynamic_cast<sqlite::SqliteConnection&>(c).native_handle();
        sqlite3_trace_v2(
            raw, SQLITE_TRACE_CLOSE,
            [](unsigned, void* self, void*, void*) {
                static_cast<CloseRecorder*>(self)->thread = this_thread_tag();
                return 0;
            },
            this);
    }
};

// A fiber sleeping 1 ms at a time; counts the ticks that ended while *busy > 0.
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

std::int64_t scalar(Connection& c, std::string_view sql, std::initializer_list<Value> params = {}) {
    auto v = c.execute(sql, params).scalar<std::int64_t>();
    REQUIRE(v.has_value());
    return *v;
}

}  // namespace

TEST_CASE("async: every sqlite3 call of an operation runs on a worker thread, sync mode runs them here") {
    TempDir dir;
    const std::int64_t here = this_thread_tag();
    OpenRecorder opens;
    CloseRecorder closes;

    SUBCASE("async mode inside a fiber") {
        Mode mode(true);
        orm::run([&] {
            auto c = open(dir.url("where.db"));
            CHECK(OpenRecorder::last() != here);
            CHECK(OpenRecorder::last() != 0);
            add_thread_function(*c);
            CHECK(scalar(*c, "SELECT weft_thread()") != here);
            c->execute_script("CREATE TABLE t (th INTEGER); INSERT INTO t VALUES (weft_thread());");
            c->begin();
            c->execute("INSERT INTO t VALUES (weft_thread())");
            c->savepoint("sp");
            c->execute("INSERT INTO t VALUES (weft_thread())");
            c->release_savepoint("sp");
            c->commit();
            CHECK(scalar(*c, "SELECT count(*) FROM t") == 3);
            CHECK(scalar(*c, "SELECT count(*) FROM t WHERE th = ?", {here}) == 0);
            closes.watch(*c);
            c->close();
            CHECK(closes.thread != here);
            CHECK(closes.thread != 0);
        });
    }
    SUBCASE("sync mode inside a fiber") {
        Mode mode(false);
        orm::run([&] {
            auto c = open(dir.url("where.db"));
            CHECK(OpenRecorder::last() == here);
            add_thread_function(*c);
            c->execute_script("CREATE TABLE t (th INTEGER); INSERT INTO t VALUES (weft_thread());");
            c->begin();
            c->execute("INSERT INTO t VALUES (weft_thread())");
            c->commit();
            CHECK(scalar(*c, "SELECT count(*) FROM t WHERE th = ?", {here}) == 2);
            closes.watch(*c);
            c->close();
            CHECK(closes.thread == here);
        });
    }
    SUBCASE("async mode outside any fiber, with no fibers to keep running: inline, the same") {
        Mode mode(true);
        auto c = open(dir.url("where.db"));
        CHECK(OpenRecorder::last() == here);
        add_thread_function(*c);
        CHECK(scalar(*c, "SELECT weft_thread()") == here);
    }
    SUBCASE("async mode outside any fiber while this thread has fibers: offloaded, the loop runs on") {
        Mode mode(true);
        auto c = open(dir.url("where.db"));
        add_thread_function(*c);
        int in_flight = 0;
        Ticker ticker(in_flight);
        ++in_flight;
        CHECK(scalar(*c, "SELECT weft_thread()") != here);
        CHECK(scalar(*c, heavy_query) == 500000);
        --in_flight;
        ticker.stop();
        CHECK(ticker.busy_ticks() > 0);
    }
}

TEST_CASE("async: round trips of every value kind, buffered rows, RETURNING, rows_affected, savepoints") {
    Mode mode(true);
    orm::run([] {
        auto c = open_memory();
        c->execute_script(
            "CREATE TABLE v (id INTEGER PRIMARY KEY, b BOOLEAN, i INTEGER, d REAL, s TEXT, y BLOB, ts TIMESTAMP, "
            "dt DATE)");
        const Timestamp ts = parse_timestamp("2024-02-29 13:14:15.123456");
        const Date dt = parse_date("2024-02-29");
        const Bytes blob{0, 1, 2, 255};
        const std::string text("na\0me \xc3\xa9", 8);
        auto r = c->execute("INSERT INTO v (b, i, d, s, y, ts, dt) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                            {true, std::int64_t{1} << 40, 2.5, text, blob, ts, dt});
        REQUIRE(r.next());
        const auto id = r.row().get<std::int64_t>(0);
        CHECK_FALSE(r.next());
        CHECK(c->last_insert_id() == id);

        auto row = c->execute("SELECT b, i, d, s, y, ts, dt, NULL FROM v WHERE id = ?", {id});
        REQUIRE(row.next());
        auto x = row.row();
        CHECK(x.get<bool>(0));
        CHECK(x.get<std::int64_t>(1) == (std::int64_t{1} << 40));
        CHECK(x.get<double>(2) == 2.5);
        CHECK(x.get<std::string>(3) == text);
        CHECK(x.get<Bytes>(4) == blob);
        CHECK(x.get<Timestamp>(5) == ts);
        CHECK(x.get<Date>(6) == dt);
        CHECK(x.get<std::optional<std::int64_t>>(7) == std::nullopt);
        CHECK(row.column_name(3) == "s");
        CHECK(x.value(0) == Value(true));  // declared BOOLEAN survives buffering

        // Many rows come back whole.
        std::int64_t n = 0, sum = 0;
        for (auto rw : c->execute("WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 20000) "
                                  "SELECT k, 'row ' || k FROM s")) {
            ++n;
            sum += rw.get<std::int64_t>(0);
            if (rw.get<std::string_view>(1) != "row " + std::to_string(rw.get<std::int64_t>(0))) FAIL("bad row");
        }
        CHECK(n == 20000);
        CHECK(sum == std::int64_t{20000} * 20001 / 2);

        for (int i = 0; i < 5; ++i) c->execute("INSERT INTO v (i) VALUES (?)", {i});
        CHECK(c->execute("UPDATE v SET i = i + 1 WHERE i < 3").rows_affected() == 3);
        CHECK(c->execute("SELECT * FROM v").rows_affected() == 0);

        c->begin();
        c->execute("DELETE FROM v WHERE i = 4");
        c->savepoint("s1");
        c->execute("DELETE FROM v");
        c->rollback_to_savepoint("s1");
        c->release_savepoint("s1");
        c->commit();
        CHECK(scalar(*c, "SELECT count(*) FROM v") == 5);
        c->begin();
        c->execute("DELETE FROM v");
        c->rollback();
        CHECK(c->transaction_state() == TransactionState::idle);
        CHECK(scalar(*c, "SELECT count(*) FROM v") == 5);

        // The statement cache is shared by both modes.
        c->clear_statement_cache();
        auto before = c->statement_cache_stats();
        for (int i = 0; i < 4; ++i) CHECK(scalar(*c, "SELECT ? * 3", {i}) == i * 3);
        orm::set_async(false);
        CHECK(scalar(*c, "SELECT ? * 3", {7}) == 21);
        orm::set_async(true);
        auto after = c->statement_cache_stats();
        CHECK(after.misses - before.misses == 1);
        CHECK(after.hits - before.hits == 4);
    });
}

TEST_CASE("async: errors keep their type, SQLSTATE and message, also through Task::get()") {
    Mode mode(true);
    TempDir dir;
    orm::run([&] {
        auto c = open_memory();
        c->execute_script(
            "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE k (id INTEGER PRIMARY KEY, u TEXT UNIQUE NOT NULL, "
            "p INTEGER REFERENCES p(id)); INSERT INTO k (u) VALUES ('x');");
        try {
            c->execute("INSERT INTO k (u) VALUES (?)", {"x"});
            FAIL("no error");
        } catch (const UniqueViolation& e) {
            CHECK(e.sqlstate() == "23505");
            CHECK(std::string(e.what()).find("UNIQUE constraint failed: k.u") != std::string::npos);
        }
        CHECK_THROWS_AS(c->execute("INSERT INTO k (u) VALUES (NULL)"), NotNullViolation);
        CHECK_THROWS_AS(c->execute("INSERT INTO k (u, p) VALUES ('y', 42)"), ForeignKeyViolation);
        CHECK_THROWS_AS(c->execute("SELEC 1"), ProgrammingError);
        CHECK_THROWS_AS(c->execute("SELECT ?, ?", {1}), ProgrammingError);
        CHECK_THROWS_AS(c->execute("SELECT ?", {std::nan("")}), DataError);
        CHECK_THROWS_AS(c->execute_script("CREATE TABLE p (x)"), ProgrammingError);
        c->begin();
        CHECK_THROWS_WITH_AS(c->begin(), doctest::Contains("within a transaction"), OperationalError);
        c->rollback();

        // Through a Task: the exception object crosses the worker and the fiber unchanged.
        auto dup = orm::spawn([&] { c->execute("INSERT INTO k (u) VALUES ('x')"); });
        CHECK_THROWS_AS(dup.get(), UniqueViolation);
        CHECK(scalar(*c, "SELECT count(*) FROM k") == 1);

        // Opening fails on the worker and reports as in sync mode.
        {
            std::FILE* f = std::fopen(dir.file("junk.db").c_str(), "wb");
            REQUIRE(f);
            std::fputs("this is not an SQLite database, not even close to one.......................", f);
            std::fclose(f);
        }
        CHECK_THROWS_AS(open(dir.url("junk.db")), ConnectionError);
        CHECK_THROWS_WITH_AS(open(dir.url("no/such/dir/x.db")), doctest::Contains("SQLITE_CANTOPEN"), ConnectionError);
    });
}

TEST_CASE("async: busy_timeout waits on a worker while the loop runs other fibers") {
    Mode mode(true);
    TempDir dir;
    orm::run([&] {
        auto a = open(dir.url("busy.db", "busy_timeout=300ms"));
        a->execute_script("CREATE TABLE t (x)");
        auto b = open(dir.url("busy.db", "busy_timeout=300ms"));
        int in_flight = 0;

        SUBCASE("the waiter gives up after busy_timeout") {
            a->begin();
            a->execute("INSERT INTO t VALUES (1)");
            Ticker ticker(in_flight);
            auto start = Clock::now();
            auto waiter = orm::spawn("writer-b", [&] {
                ++in_flight;
                struct Done {
                    int& n;
                    ~Done() { --n; }
                } done{in_flight};
                b->execute("INSERT INTO t VALUES (2)");
            });
            try {
                waiter.get();
                FAIL("the second writer was not blocked");
            } catch (const OperationalError& e) {
                CHECK(e.sqlstate() == "55P03");
                CHECK(std::string(e.what()).find("busy_timeout=300ms") != std::string::npos);
            }
            auto waited = Clock::now() - start;
            ticker.stop();
            CHECK(waited >= 250ms);
            CHECK(waited < 5s);
            CHECK(ticker.busy_ticks() >= 20);  // ~300 if the loop is free; 0 if the wait blocked it
            a->commit();
            b->execute("INSERT INTO t VALUES (2)");
            CHECK(scalar(*b, "SELECT count(*) FROM t") == 2);
        }
        SUBCASE("the holder commits from another fiber while the waiter waits, and the waiter gets through") {
            auto b5 = open(dir.url("busy.db", "busy_timeout=10s"));
            a->begin();
            a->execute("INSERT INTO t VALUES (1)");
            bool waiting = false;
            auto waiter = orm::spawn("writer-b", [&] {
                waiting = true;
                b5->execute("INSERT INTO t VALUES (2)");  // waits for a's lock, on a worker
            });
            auto holder = orm::spawn("holder-a", [&] {
                while (!waiting) orm::yield_now();
                orm::sleep_for(100ms);
                a->commit();  // needs this thread's loop: a blocked loop would deadlock here for 10 s
            });
            auto start = Clock::now();
            holder.get();
            waiter.get();
            CHECK(Clock::now() - start < 8s);
            CHECK(scalar(*a, "SELECT count(*) FROM t") == 2);
        }
    });
}

TEST_CASE("async: with one CPU slot, writers waiting in the busy handler let the lock holder commit") {
    // Each statement holds a CPU slot on its worker; SQLite's busy handler gives it up while it
    // sleeps. Were it kept, the waiting writers would hold the only slot and the holder's COMMIT
    // could not run until every waiter gave up (busy_timeout, long here: the test would fail).
    Mode mode(true);
    TempDir dir;
    auto saved = orm::fiber_options();
    auto o = saved;
    o.offload_cpu_slots = 1;
    orm::set_fiber_options(o);
    struct Restore {
        orm::FiberOptions o;
        ~Restore() { orm::set_fiber_options(o); }
    } restore{saved};
    orm::run([&] {
        auto holder = open(dir.url("slots.db", "busy_timeout=60s"));
        holder->execute_script("CREATE TABLE t (x)");
        std::vector<std::unique_ptr<Connection>> waiters;
        for (int i = 0; i < 3; ++i) waiters.push_back(open(dir.url("slots.db", "busy_timeout=60s")));
        holder->begin();
        holder->execute("INSERT INTO t VALUES (0)");
        int waiting = 0;
        std::vector<orm::Task<void>> tasks;
        for (int i = 0; i < 3; ++i)
            tasks.push_back(orm::spawn([&, i] {
                ++waiting;
                waiters[static_cast<std::size_t>(i)]->execute("INSERT INTO t VALUES (?)", {i + 1});
            }));
        while (waiting < 3) orm::yield_now();
        orm::sleep_for(50ms);  // the writers are in the busy handler now
        holder->commit();
        for (auto& t : tasks) t.get();
        CHECK(scalar(*holder, "SELECT count(*) FROM t") == 4);
    });
}

TEST_CASE("async: cancel() and the statement timeout stop a statement running on a worker") {
    Mode mode(true);
    orm::run([] {
        auto c = open_memory();
        SUBCASE("cancel from another fiber") {
            bool running = true;
            int cancels = 0;
            auto canceller = orm::spawn("canceller", [&] {
                while (running) {
                    orm::sleep_for(20ms);
                    c->cancel();
                    ++cancels;
                }
            });
            try {
                c->execute(endless_query);
                FAIL("not interrupted");
            } catch (const TimeoutError& e) {
                CHECK(e.sqlstate() == "57014");
                CHECK(std::string(e.what()).find("Connection::cancel") != std::string::npos);
            }
            running = false;
            canceller.get();
            CHECK(cancels >= 1);  // it ran while the statement did
        }
        SUBCASE("cancel from a plain thread") {
            std::atomic<bool> done{false};
            std::thread canceller([&] {
                while (!done) {
                    std::this_thread::sleep_for(20ms);
                    c->cancel();
                }
            });
            CHECK_THROWS_AS(c->execute(endless_query), TimeoutError);
            done = true;
            canceller.join();
        }
        SUBCASE("statement timeout") {
            c->set_statement_timeout(150ms);
            CHECK_THROWS_WITH_AS(c->execute(endless_query), doctest::Contains("statement timeout (150ms)"),
                                 TimeoutError);
            CHECK_THROWS_AS(c->execute_script(std::string(endless_query) + ";"), TimeoutError);
            c->set_statement_timeout(0ms);
        }
        CHECK(scalar(*c, "SELECT 5") == 5);
        CHECK(c->is_usable(true));
    });
}

TEST_CASE("async: a connection used by two fibers at once fails loudly instead of corrupting the handle") {
    Mode mode(true);
    orm::run([] {
        auto c = open_memory();
        auto slow = orm::spawn("slow", [&] { c->execute(endless_query); });
        auto other = orm::spawn("intruder", [&] {
            orm::sleep_for(20ms);  // slow's statement is running on a worker by now
            try {
                c->execute("SELECT 1");
                FAIL("a second operation ran on a busy connection");
            } catch (const InterfaceError& e) {
                CHECK(std::string(e.what()).find("another operation is running") != std::string::npos);
            }
            c->cancel();
        });
        other.get();
        CHECK_THROWS_AS(slow.get(), TimeoutError);
        CHECK(scalar(*c, "SELECT 1") == 1);
    });
}

TEST_CASE("async: switching modes on an open connection; a sync cursor finishes in sync mode") {
    TempDir dir;
    auto c = open(dir.url("flip.db"));  // opened in sync mode
    c->execute_script("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3);");
    auto live = c->execute("SELECT x FROM t ORDER BY x");  // a live cursor, stepped here
    REQUIRE(live.next());
    CHECK(live.row().get<int>(0) == 1);
    Mode mode(true);
    orm::run([&] {
        // Another statement on the connection, on a worker, while the sync cursor is open.
        CHECK(scalar(*c, "SELECT count(*) FROM t") == 3);
        std::vector<int> rest;
        while (live.next()) rest.push_back(live.row().get<int>(0));
        CHECK(rest == std::vector<int>{2, 3});
        c->execute("INSERT INTO t VALUES (4)");
        orm::set_async(false);
        c->execute("INSERT INTO t VALUES (5)");
        orm::set_async(true);
        CHECK(scalar(*c, "SELECT sum(x) FROM t") == 15);
        c->close();
    });
    CHECK(c->is_broken());
}

TEST_CASE("async: the pool in async mode and with plain threads in sync mode") {
    TempDir dir;
    SUBCASE("fibers waiting for a connection suspend; a plain thread's release wakes them") {
        Mode mode(true);
        auto db = Database::open(dir.url("pool.db", "pool_size=2&pool_timeout=10s"));
        orm::run([&] {
            auto a = db->acquire();
            auto b = db->acquire();
            a->execute_script("CREATE TABLE t (x)");
            int in_flight = 1;  // counts the waits below as "in flight"
            Ticker ticker(in_flight);
            std::thread releaser([&] {
                std::this_thread::sleep_for(100ms);
                a.release();
            });
            auto waiter = orm::spawn([&] { return scalar(*db->acquire(), "SELECT 7"); });
            CHECK(waiter.get() == 7);
            releaser.join();
            in_flight = 0;
            ticker.stop();
            CHECK(ticker.busy_ticks() >= 20);
            CHECK(db->pool().stats().created == 2);
            CHECK(db->pool().stats().waiting == 0);
        });
    }
    SUBCASE("sync mode: a plain thread blocks in acquire until a fiber on another thread releases") {
        Mode mode(false);
        auto db = Database::open(dir.url("pool.db", "pool_size=1&pool_timeout=10s"));
        auto held = std::make_unique<PooledConnection>(db->acquire());
        std::atomic<bool> got{false};
        std::thread waiter([&] {
            auto c = db->acquire();  // no fibers on this thread: a plain blocking wait
            got = scalar(*c, "SELECT 1") == 1;
        });
        orm::run([&] {
            orm::sleep_for(100ms);
            CHECK(db->pool().stats().waiting == 1);
            held.reset();
        });
        waiter.join();
        CHECK(got);
    }
    SUBCASE("sync mode: a plain thread's acquire still times out") {
        Mode mode(false);
        auto db = Database::open(dir.url("pool.db", "pool_size=1&pool_timeout=150ms"));
        auto held = db->acquire();
        std::thread waiter([&] {
            auto start = Clock::now();
            CHECK_THROWS_WITH_AS(db->acquire(), doctest::Contains("within"), TimeoutError);
            CHECK(Clock::now() - start >= 140ms);
        });
        waiter.join();
        CHECK(db->pool().stats().timeouts == 1);
    }
    SUBCASE("async mode: opening connections and health checks run inside the acquiring fiber") {
        Mode mode(true);
        OpenRecorder opens;
        const std::int64_t here = this_thread_tag();
        auto db = Database::open(dir.url("pool.db", "pool_size=2&health_check_interval=0ms"));
        orm::run([&] {
            { auto c = db->acquire(); }
            CHECK(OpenRecorder::last() != here);
            auto c = db->acquire();  // the idle one, pinged (health_check_interval=0) on a worker
            CHECK(c->is_usable(true));
            CHECK(db->pool().stats().created == 1);
        });
    }
}
