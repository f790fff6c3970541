// Async mode specifics: fibers overlapping on many connections, client-side statement deadlines
// that cancel on the server, lost servers under waiting fibers, nonblocking connects, flipping
// the mode while queries run, and calls from outside any fiber.
#include "tests/postgres/pg_test.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "drivers/pool.hpp"

using namespace std::chrono_literals;
using orm::Value;
using pgtest::expect_error;
using Clock = std::chrono::steady_clock;

namespace {

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

int backend_pid(orm::db::Connection& c) { return static_cast<int>(pgtest::scalar_int(c, "SELECT pg_backend_pid()")); }

// What pg_stat_activity says the backend `pid` is doing ("idle", "active", ...; "" when gone).
std::string backend_state(orm::db::Connection& observer, int pid) {
    return observer.execute("SELECT state FROM pg_stat_activity WHERE pid = $1::int", {pid})
        .scalar<std::string>()
        .value_or("");
}

// The driver layer's pool over the test server (its acquire() suspends only the calling fiber).
std::unique_ptr<orm::db::Pool> make_pool(std::size_t size) {
    orm::db::PoolOptions options;
    options.max_size = size;
    options.acquire_timeout = 30s;
    return std::make_unique<orm::db::Pool>([] { return pgtest::connect(); }, options, "postgres_tests");
}

// A TCP port on 127.0.0.1 held for the object's lifetime. Listening: connections are accepted
// (the kernel completes the handshake) but never answered, like a hung server. Not listening:
// connections are refused, and no other process can take the port meanwhile.
class Listener {
public:
    explicit Listener(bool listening) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        if (listening) REQUIRE(::listen(fd_, 16) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
    }
    ~Listener() { ::close(fd_); }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    int port() const { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
};

// Counts how often the loop let it run, to show that a wait did not block the thread.
struct Ticker {
    std::atomic<bool> stop{false};
    int ticks = 0;
    orm::Task<void> task = orm::spawn("ticker", [this] {
        while (!stop) {
            orm::sleep_for(10ms);
            ++ticks;
        }
    });
    int finish() {
        stop = true;
        task.get();
        return ticks;
    }
};

}  // namespace

TEST_CASE("async: 64 fibers with a connection each, connecting and querying concurrently") {
    pgtest::AsyncMode async;
    orm::run([] {
        std::vector<orm::Task<std::int64_t>> tasks;
        for (int i = 0; i < 64; ++i)
            tasks.push_back(orm::spawn("client-" + std::to_string(i), [i] {
                auto c = pgtest::connect();
                std::int64_t sum = 0;
                for (int k = 0; k < 20; ++k) sum += *c->execute("SELECT $1::bigint * 1000 + $2::int", {i, k}).scalar<std::int64_t>();
                return sum;
            }));
        for (int i = 0; i < 64; ++i) CHECK(tasks[i].get() == 20 * 1000 * i + 190);
    });
}

TEST_CASE("async: 64 fibers share a pool of 8 connections for point selects") {
    pgtest::AsyncMode async;
    orm::run([] {
        auto pool = make_pool(8);
        const std::string table = pgtest::table("points");
        {
            auto c = pool->acquire();
            c->execute_script("DROP TABLE IF EXISTS \"" + table + "\"; CREATE TABLE \"" + table +
                              "\" (id int PRIMARY KEY, name text NOT NULL); INSERT INTO \"" + table +
                              "\" SELECT g, 'row ' || g FROM generate_series(1, 1000) g");
        }
        std::vector<orm::Task<int>> tasks;
        for (int f = 0; f < 64; ++f)
            tasks.push_back(orm::spawn([&pool, &table, f] {
                int correct = 0;
                for (int k = 0; k < 50; ++k) {
                    int id = 1 + (f * 50 + k) % 1000;
                    auto c = pool->acquire();
                    auto name = c->execute("SELECT name FROM \"" + table + "\" WHERE id = $1", {id}).scalar<std::string>();
                    if (name == "row " + std::to_string(id)) ++correct;
                    if (k % 7 == 0) orm::yield_now();  // lets other fibers take the connection in between
                }
                return correct;
            }));
        for (auto& t : tasks) CHECK(t.get() == 50);
        CHECK(pool->stats().created == 8);
        auto c = pool->acquire();
        c->execute_script("DROP TABLE \"" + table + "\"");
    });
}

TEST_CASE("async: waits overlap: 8 x pg_sleep(0.2) on 8 connections take about 0.2 s, not 1.6 s") {
    pgtest::AsyncMode async;
    orm::run([] {
        std::vector<std::unique_ptr<orm::db::Connection>> conns;
        for (int i = 0; i < 8; ++i) conns.push_back(pgtest::connect());
        auto start = Clock::now();
        std::vector<orm::Task<void>> tasks;
        for (auto& c : conns) tasks.push_back(orm::spawn([&c] { c->execute("SELECT pg_sleep(0.2)"); }));
        for (auto& t : tasks) t.get();
        auto took = Clock::now() - start;
        CHECK(took >= 200ms);
        CHECK(took < 1200ms);  // serialized would be >= 1.6 s
    });
}

TEST_CASE("async: the client-side statement deadline cancels on the server; the connection survives") {
    pgtest::AsyncMode async;
    orm::run([] {
        auto observer = pgtest::connect();
        auto check_timeout = [&](orm::db::Connection& c, std::chrono::milliseconds limit) {
            // Only our deadline can fire: the server-side timeout is switched off behind our back.
            c.execute_script("SET statement_timeout = 0");
            int pid = backend_pid(c);
            Ticker ticker;
            auto start = Clock::now();
            auto e = expect_error<orm::TimeoutError>([&] { c.execute("SELECT pg_sleep(30)"); });
            auto took = Clock::now() - start;
            CHECK(ticker.finish() >= 3);  // the loop ran on while the fiber waited and cancelled
            CHECK(took >= limit);
            CHECK(took < limit + 1500ms);
            CHECK(e.sqlstate() == "57014");
            std::string m = e.what();
            CHECK(contains(m, "statement timeout"));
            CHECK(contains(m, "cancelled on the server"));
            CHECK(contains(m, std::to_string(limit.count()) + " ms"));
            CHECK(contains(m, "pg_sleep(30)"));
            CHECK_FALSE(c.is_broken());
            CHECK(backend_state(*observer, pid) == "idle");  // stopped on the server, not only abandoned
            CHECK(pgtest::scalar_int(c, "SELECT 6") == 6);
        };
        SUBCASE("statement_timeout from the URL") {
            auto c = pgtest::connect("statement_timeout=200ms");
            check_timeout(*c, 200ms);
        }
        SUBCASE("set_statement_timeout overrides it per connection") {
            auto c = pgtest::connect("statement_timeout=10s");
            c->set_statement_timeout(150ms);
            check_timeout(*c, 150ms);
            // Inside a transaction the cancelled statement fails the transaction, like any error.
            c->begin();
            expect_error<orm::TimeoutError>([&] { c->execute("SELECT pg_sleep(30)"); });
            CHECK(c->transaction_state() == orm::db::TransactionState::failed);
            c->rollback();
            c->set_statement_timeout(0ms);  // none: a long statement runs to its end
            c->execute("SELECT pg_sleep(0.3)");
        }
    });
}

TEST_CASE("async: a server that does not answer the cancel: abandoned after the grace, connection closed") {
    pgtest::AsyncMode async;
    orm::run([] {
        auto c = pgtest::connect("statement_timeout=200ms");
        int pid = backend_pid(*c);
        // A stopped backend cannot act on the cancel (nor on anything else).
        if (::kill(pid, SIGSTOP) != 0) {
            MESSAGE("cannot stop the backend (" << std::strerror(errno) << "): the server runs as another user; skipped");
            return;
        }
        struct Resume {
            int pid;
            ~Resume() { ::kill(pid, SIGCONT); }
        } resume{pid};
        auto start = Clock::now();
        auto e = expect_error<orm::TimeoutError>([&] { c->execute("SELECT 1"); });
        auto took = Clock::now() - start;
        CHECK(took >= 2200ms);  // the deadline, then the 2 s grace
        CHECK(took < 4000ms);
        std::string m = e.what();
        CHECK(contains(m, "within 200 ms (statement_timeout)"));
        CHECK(contains(m, "abandoned"));
        CHECK(c->is_broken());
        expect_error<orm::ConnectionError>([&] { c->execute("SELECT 1"); });
    });
}

TEST_CASE("async: a backend terminated under a waiting fiber is a quick ConnectionError, not a hang") {
    pgtest::AsyncMode async;
    orm::run([] {
        auto victim = pgtest::connect();
        int pid = backend_pid(*victim);
        auto killer = orm::spawn("killer", [pid] {
            orm::sleep_for(300ms);
            auto k = pgtest::connect();
            CHECK(k->execute("SELECT pg_terminate_backend($1::int)", {pid}).scalar<bool>() == true);
        });
        auto start = Clock::now();
        auto e = expect_error<orm::ConnectionError>([&] { victim->execute("SELECT pg_sleep(30)"); });
        CHECK(Clock::now() - start < 5s);
        killer.get();
        CHECK(contains(e.what(), "terminating connection due to administrator command"));
        CHECK(e.sqlstate() == "57P01");
        CHECK(victim->is_broken());
        CHECK(expect_error<orm::ConnectionError>([&] { victim->execute("SELECT 1"); }).sqlstate() == "08003");
    });
}

TEST_CASE("async: several fibers waiting when their backends are terminated all fail cleanly") {
    pgtest::AsyncMode async;
    orm::run([] {
        std::vector<std::unique_ptr<orm::db::Connection>> conns;
        for (int i = 0; i < 4; ++i) conns.push_back(pgtest::connect("application_name=weft_victim"));
        std::vector<orm::Task<void>> tasks;
        for (auto& c : conns)
            tasks.push_back(orm::spawn([&c] { expect_error<orm::ConnectionError>([&] { c->execute("SELECT pg_sleep(30)"); }); }));
        orm::sleep_for(300ms);
        auto start = Clock::now();
        auto k = pgtest::connect();
        CHECK(pgtest::scalar_int(*k, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                     "WHERE application_name = 'weft_victim'") == 4);
        for (auto& t : tasks) t.get();
        CHECK(Clock::now() - start < 5s);
        for (auto& c : conns) CHECK(c->is_broken());
    });
}

TEST_CASE("async: nonblocking connect") {
    pgtest::AsyncMode async;
    auto& b = pgtest::backend();
    orm::run([&] {
        SUBCASE("a closed port is a ConnectionError") {
            Listener closed(false);
            auto cfg = b.parse_url("postgresql://postgres@127.0.0.1:" + std::to_string(closed.port()) +
                                   "/weft_test?connect_timeout=3s");
            auto start = Clock::now();
            auto e = expect_error<orm::ConnectionError>([&] { b.connect(cfg); });
            CHECK(Clock::now() - start < 3s);
            CHECK(e.sqlstate() == "08001");
            CHECK(contains(e.what(), std::to_string(closed.port())));
        }
        SUBCASE("a server that never answers times out at connect_timeout, without blocking the loop") {
            Listener silent(true);
            auto cfg = b.parse_url("postgresql://postgres@127.0.0.1:" + std::to_string(silent.port()) +
                                   "/weft_test?connect_timeout=400ms");
            Ticker ticker;
            auto start = Clock::now();
            auto e = expect_error<orm::ConnectionError>([&] { b.connect(cfg); });
            auto took = Clock::now() - start;
            CHECK(ticker.finish() >= 10);
            CHECK(took >= 400ms);
            CHECK(took < 1500ms);
            std::string m = e.what();
            CHECK(contains(m, "timed out after 400 ms (connect_timeout)"));
            CHECK(contains(m, std::to_string(silent.port())));
        }
    });
}

TEST_CASE("async: flipping set_async while fibers run queries on a pool") {
    orm::run([] {
        auto pool = make_pool(4);
        std::atomic<int> done{0};
        int ok = 0, started_async = 0, started_sync = 0;
        std::vector<orm::Task<void>> tasks;
        for (int f = 0; f < 16; ++f)
            tasks.push_back(orm::spawn([&, f] {
                for (int k = 0; k < 40; ++k) {
                    auto c = pool->acquire();
                    int v = f * 1000 + k;
                    ++(orm::is_async() ? started_async : started_sync);
                    if (c->execute("SELECT $1::int + 1", {v}).scalar<int>() == v + 1) ++ok;
                    if (k % 10 == 0) c->execute("SELECT pg_sleep(0.005)");
                }
                ++done;
            }));
        pgtest::AsyncMode restore;  // sync again at the end, whatever the last flip was
        int flips = 0;
        while (done < 16) {
            orm::set_async(flips % 2 == 0);
            ++flips;
            orm::sleep_for(2ms);
        }
        for (auto& t : tasks) t.get();
        CHECK(ok == 16 * 40);
        CHECK(flips > 4);
        CHECK(started_async > 0);  // both modes really ran
        CHECK(started_sync > 0);
    });
    CHECK_FALSE(orm::is_async());
}

TEST_CASE("async: an operation in flight finishes in the mode it started in") {
    orm::run([] {
        auto c = pgtest::connect();
        pgtest::AsyncMode async;
        auto slow = orm::spawn([&] { return c->execute("SELECT pg_sleep(0.3), 5").fetch_all().size(); });
        orm::sleep_for(50ms);    // `slow` is now waiting on its socket, in async mode
        orm::set_async(false);   // the next operation would block; this one goes on suspended
        CHECK(slow.get() == 1);
        CHECK(pgtest::scalar_int(*c, "SELECT 9") == 9);  // sync now, on the same connection
    });
}

TEST_CASE("async: calling from outside any fiber drives the loop") {
    pgtest::AsyncMode async;
    CHECK_FALSE(orm::in_fiber());
    auto c = pgtest::connect();  // nonblocking connect, driven from here
    CHECK(pgtest::scalar_int(*c, "SELECT 11") == 11);
    // Other fibers progress while this thread waits for its own query.
    auto other = pgtest::connect();
    auto task = orm::spawn([&] { return other->execute("SELECT pg_sleep(0.2), 12").fetch_all().size(); });
    auto start = Clock::now();
    c->execute("SELECT pg_sleep(0.2)");
    CHECK(task.get() == 1);
    CHECK(Clock::now() - start < 390ms);  // overlapped
    expect_error<orm::DataError>([&] { c->execute("SELECT 1/0"); });
    CHECK(pgtest::scalar_int(*c, "SELECT 13") == 13);
}

TEST_CASE("async: cancel() from another fiber stops a running statement") {
    pgtest::AsyncMode async;
    orm::run([] {
        auto c = pgtest::connect();
        auto canceller = orm::spawn([&] {
            orm::sleep_for(200ms);
            c->cancel();  // PQcancel runs on a worker thread; this fiber waits, the loop does not
        });
        auto start = Clock::now();
        auto e = expect_error<orm::TimeoutError>([&] { c->execute("SELECT pg_sleep(10)"); });
        canceller.get();
        CHECK(Clock::now() - start < 3s);
        CHECK(e.sqlstate() == "57014");
        CHECK(pgtest::scalar_int(*c, "SELECT 14") == 14);
    });
}

TEST_CASE("async: a connection used by a second fiber meanwhile refuses it, and the first is unharmed") {
    pgtest::AsyncMode async;
    orm::run([] {
        auto c = pgtest::connect();
        auto first = orm::spawn([&] { return c->execute("SELECT pg_sleep(0.2), 15").fetch_all().size(); });
        orm::sleep_for(50ms);
        auto e = expect_error<orm::InterfaceError>([&] { c->execute("SELECT 16"); });
        CHECK(contains(e.what(), "busy with an operation of another fiber"));
        CHECK_FALSE(c->is_usable(false));  // busy: a pool would not hand it out
        CHECK(first.get() == 1);
        CHECK(pgtest::scalar_int(*c, "SELECT 17") == 17);
    });
}

TEST_CASE("async: a pool discards a connection whose backend died under a waiting fiber") {
    pgtest::AsyncMode async;
    orm::run([] {
        auto pool = make_pool(2);
        int pid = 0;
        auto victim = orm::spawn([&] {
            auto c = pool->acquire();
            pid = backend_pid(*c);
            expect_error<orm::ConnectionError>([&] { c->execute("SELECT pg_sleep(30)"); });
        });
        orm::sleep_for(200ms);
        {
            auto k = pool->acquire();
            CHECK(k->execute("SELECT pg_terminate_backend($1::int)", {pid}).scalar<bool>() == true);
        }
        victim.get();
        CHECK(pool->stats().discarded == 1);
        for (int i = 0; i < 3; ++i) {
            auto c = pool->acquire();
            CHECK(backend_pid(*c) != pid);
            CHECK(pgtest::scalar_int(*c, "SELECT 18") == 18);
        }
    });
}
