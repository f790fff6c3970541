// A silent network between weft and PostgreSQL: a TCP proxy that freezes (stops reading,
// writing and accepting, as a SIGSTOPped proxy or a dead route would) must not hold a query past
// statement_timeout plus the cancel grace, in either mode; and the cancel requests that cannot get
// through must not occupy the workers that SQLite and run_in_thread need. The driver's own waits
// (the health-check ping, ROLLBACK before reuse, cancel(), connecting) end at connect_timeout even
// without statement_timeout.
#include "tests/postgres/pg_test.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "drivers/database.hpp"

using namespace std::chrono_literals;
using pgtest::expect_error;
using Clock = std::chrono::steady_clock;

namespace {

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Forwards 127.0.0.1:port() to the test server's TCP port until frozen; frozen, it does nothing
// at all (connections and bytes pile up in the kernel), like a stopped process.
class FreezableProxy {
public:
    explicit FreezableProxy(int target_port) : target_(target_port) {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(listen_, 64) == 0);
        socklen_t len = sizeof a;
        ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~FreezableProxy() {
        stop_ = true;
        thread_.join();
        for (auto& [a, b] : pairs_) {
            ::close(a);
            ::close(b);
        }
        ::close(listen_);
    }
    int port() const { return port_; }
    void freeze() { frozen_ = true; }
    void thaw() { frozen_ = false; }

private:
    void run() {
        while (!stop_) {
            if (frozen_) {
                std::this_thread::sleep_for(5ms);
                continue;
            }
            std::vector<pollfd> fds{{listen_, POLLIN, 0}};
            for (auto& [a, b] : pairs_) {
                fds.push_back({a, POLLIN, 0});
                fds.push_back({b, POLLIN, 0});
            }
            if (::poll(fds.data(), fds.size(), 5) <= 0) continue;
            if (frozen_) continue;
            if (fds[0].revents & POLLIN) accept_one();
            for (std::size_t i = 1; i < fds.size(); ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                auto& [a, b] = pairs_[(i - 1) / 2];
                const int from = fds[i].fd, to = from == a ? b : a;
                char buf[16384];
                const ssize_t n = ::recv(from, buf, sizeof buf, 0);
                if (n <= 0) {
                    ::shutdown(to, SHUT_WR);
                    continue;
                }
                for (ssize_t off = 0; off < n;) {
                    const ssize_t w = ::send(to, buf + off, std::size_t(n - off), MSG_NOSIGNAL);
                    if (w <= 0) break;
                    off += w;
                }
            }
        }
    }
    void accept_one() {
        const int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(std::uint16_t(target_));
        if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(c);
            ::close(s);
            return;
        }
        pairs_.emplace_back(c, s);
    }

    int target_;
    int listen_ = -1;
    int port_ = 0;
    std::atomic<bool> frozen_{false}, stop_{false};
    std::vector<std::pair<int, int>> pairs_;
    std::thread thread_;
};

std::string proxied_url(const FreezableProxy& p, const std::string& options) {
    return "postgresql://postgres:" + pgtest::env("WEFT_TEST_PG_PASSWORD") + "@127.0.0.1:" + std::to_string(p.port()) +
           "/weft_test?" + options;
}

}  // namespace

TEST_CASE("a frozen network: a query ends at statement_timeout plus the cancel grace, in both modes") {
    const std::string port = pgtest::env("WEFT_TEST_PG_PORT");
    REQUIRE_FALSE(port.empty());
    pgtest::both_modes([&] {
        FreezableProxy proxy(std::stoi(port));
        auto& b = pgtest::backend();
        auto c = b.connect(b.parse_url(proxied_url(proxy, "statement_timeout=500ms")));
        CHECK(pgtest::scalar_int(*c, "SELECT 7") == 7);  // through the proxy, while it runs
        proxy.freeze();
        const auto start = Clock::now();
        auto e = expect_error<orm::TimeoutError>([&] { c->execute("SELECT 1"); });
        const auto took = Clock::now() - start;
        proxy.thaw();
        // Before: the query returned only when the network came back, in both modes.
        CHECK(took >= 2400ms);  // 500 ms, then 2 s for an answer to the cancel
        CHECK(took < 5s);
        const std::string m = e.what();
        CHECK(contains(m, "within 500 ms (statement_timeout)"));
        CHECK(contains(m, "abandoned"));
        CHECK(c->is_broken());
    });
}

TEST_CASE("cancel requests stuck on a frozen network leave run_in_thread's workers (SQLite's) free") {
    const std::string port = pgtest::env("WEFT_TEST_PG_PORT");
    REQUIRE_FALSE(port.empty());
    pgtest::AsyncMode async;
    FreezableProxy proxy(std::stoi(port));
    orm::run([&] {
        auto& b = pgtest::backend();
        std::vector<std::unique_ptr<orm::db::Connection>> conns;
        for (int i = 0; i < 9; ++i) conns.push_back(b.connect(b.parse_url(proxied_url(proxy, "statement_timeout=300ms"))));
        proxy.freeze();
        std::vector<orm::Task<void>> stuck;
        for (auto& c : conns)
            stuck.push_back(orm::spawn([&c] { expect_error<orm::TimeoutError>([&] { c->execute("SELECT 1"); }); }));
        // Past the 300 ms deadline the nine cancels are under way and cannot get through. Work
        // offloaded now (as async SQLite offloads each statement) runs at once all the same;
        // before, it queued behind nine blocked PQcancel calls for the whole silence.
        orm::sleep_for(800ms);
        const auto start = Clock::now();
        CHECK(orm::run_in_thread([] { return 42; }) == 42);
        CHECK(Clock::now() - start < 500ms);
        for (auto& t : stuck) t.get();
    });
    proxy.thaw();
}

// ---- the driver's own waits, without statement_timeout -----------------------------------------
// None of these is a user statement, so none may wait for ever: each is bounded by connect_timeout
// (1 s here) in both modes. Before, each hung for as long as the network stayed silent; the
// watchdog below thaws the proxy after 8 s, so the old code fails the time checks instead of
// hanging the suite.

namespace {

// Thaws `proxy` at the latest `after` from now (or when destroyed).
class ThawWatchdog {
public:
    ThawWatchdog(FreezableProxy& proxy, std::chrono::milliseconds after)
        : thread_([this, &proxy, until = Clock::now() + after] {
              while (!done_ && Clock::now() < until) std::this_thread::sleep_for(10ms);
              proxy.thaw();
          }) {}
    ~ThawWatchdog() {
        done_ = true;
        thread_.join();
    }

private:
    std::atomic<bool> done_{false};
    std::thread thread_;
};

// Freezes `proxy`, runs `call`, which must fail with a TimeoutError at connect_timeout=1s, and
// checks when it ended; returns the error's message.
template <class F>
std::string timeout_behind_frozen_proxy(FreezableProxy& proxy, F&& call) {
    proxy.freeze();
    ThawWatchdog watchdog(proxy, 8s);
    const auto start = Clock::now();
    auto e = expect_error<orm::TimeoutError>(std::forward<F>(call));
    const auto took = Clock::now() - start;
    CHECK(took >= 900ms);
    CHECK(took < 3s);
    return e.what();
}

}  // namespace

TEST_CASE("a frozen network: the health-check ping at checkout ends at connect_timeout, and the pool recovers") {
    const std::string port = pgtest::env("WEFT_TEST_PG_PORT");
    REQUIRE_FALSE(port.empty());
    pgtest::both_modes([&] {
        FreezableProxy proxy(std::stoi(port));
        // No statement_timeout; every checkout pings (health_check_interval=0).
        auto db = orm::db::Database::open(
            proxied_url(proxy, "connect_timeout=1s&health_check_interval=0&pool_size=1&pipelining=off"));
        {
            auto c = db->acquire();
            CHECK(pgtest::scalar_int(*c, "SELECT 7") == 7);
        }
        proxy.freeze();
        Clock::duration took{};
        {
            ThawWatchdog watchdog(proxy, 8s);
            const auto start = Clock::now();
            // The ping times out and the connection is discarded; the fresh one the pool then
            // opens cannot connect either (connect_timeout; libpq's whole seconds make it 2 s in
            // sync mode).
            auto e = expect_error<orm::ConnectionError>([&] { auto c = db->acquire(); });
            took = Clock::now() - start;
            CHECK(contains(e.what(), "could not connect to PostgreSQL"));
        }
        CHECK(took >= 1s);
        CHECK(took < 5s);
        CHECK(db->pool().stats().discarded >= 1);
        proxy.thaw();
        // The pool recovers: a fresh connection, which answers.
        auto c = db->acquire();
        CHECK(pgtest::scalar_int(*c, "SELECT 8") == 8);
    });
}

TEST_CASE("a frozen network: the ping alone times out with a TimeoutError naming it and connect_timeout") {
    const std::string port = pgtest::env("WEFT_TEST_PG_PORT");
    REQUIRE_FALSE(port.empty());
    pgtest::both_modes([&] {
        FreezableProxy proxy(std::stoi(port));
        auto& b = pgtest::backend();
        auto c = b.connect(b.parse_url(proxied_url(proxy, "connect_timeout=1s&pipelining=off")));
        CHECK(c->is_usable(true));
        const std::string what = timeout_behind_frozen_proxy(proxy, [&] { (void)c->is_usable(true); });
        CHECK(contains(what, "to the health-check ping at checkout within 1000 ms (connect_timeout)"));
        CHECK(c->is_broken());
    });
}

TEST_CASE("a frozen network: ROLLBACK of a connection returned mid-transaction ends at connect_timeout") {
    const std::string port = pgtest::env("WEFT_TEST_PG_PORT");
    REQUIRE_FALSE(port.empty());
    pgtest::both_modes([&] {
        FreezableProxy proxy(std::stoi(port));
        auto db = orm::db::Database::open(proxied_url(proxy, "connect_timeout=1s&pool_size=1&pipelining=off"));
        std::optional<orm::db::PooledConnection> c(db->acquire());
        (*c)->begin();
        CHECK(pgtest::scalar_int(**c, "SELECT 9") == 9);
        proxy.freeze();
        Clock::duration took{};
        {
            ThawWatchdog watchdog(proxy, 8s);
            const auto start = Clock::now();
            c.reset();  // the pool rolls back before reuse: no answer, so the connection is discarded
            took = Clock::now() - start;
        }
        CHECK(took >= 900ms);
        CHECK(took < 3s);
        CHECK(db->pool().stats().discarded == 1);
        proxy.thaw();
        auto fresh = db->acquire();
        CHECK(fresh->transaction_state() == orm::db::TransactionState::idle);
        CHECK(pgtest::scalar_int(*fresh, "SELECT 10") == 10);
    });
}

TEST_CASE("a frozen network: cancel() gives up at connect_timeout with a TimeoutError") {
    const std::string port = pgtest::env("WEFT_TEST_PG_PORT");
    REQUIRE_FALSE(port.empty());
    pgtest::both_modes([&] {
        FreezableProxy proxy(std::stoi(port));
        auto& b = pgtest::backend();
        auto c = b.connect(b.parse_url(proxied_url(proxy, "connect_timeout=1s&pipelining=off")));
        CHECK(pgtest::scalar_int(*c, "SELECT 11") == 11);
        const std::string what = timeout_behind_frozen_proxy(proxy, [&] { c->cancel(); });
        CHECK(contains(what, "cancel request"));
        CHECK(contains(what, "within 1000 ms (connect_timeout)"));
    });
}

// Reads that share sync points (automatic pipelining) wait in libpq's buffer until the loop is
// about to poll, and are then written with their Sync; behind a frozen network that write stops
// part way (30 MB of statements against the kernel's buffers), and the rest must go out when the
// network comes back: every statement completes with its own answer after the thaw. (The fiber
// reading the connection is woken to write the rest; here the earlier groups' answers would also
// wake it, so this guards the path rather than proving that wake-up needed.)
TEST_CASE("pipelined reads behind a frozen network: more than the socket buffers hold, all answered after the thaw") {
    const std::string port = pgtest::env("WEFT_TEST_PG_PORT");
    REQUIRE_FALSE(port.empty());
    pgtest::AsyncMode async;
    orm::run([&] {
        FreezableProxy proxy(std::stoi(port));
        // statement_timeout: a hang would end as a TimeoutError (10 s plus the grace), not hang.
        auto db = orm::db::Database::open(proxied_url(proxy, "pool_size=1&pipeline_depth=1024&statement_timeout=10s"));
        REQUIRE(db->sharing().on());
        const std::string sql = "SELECT length($1::text)";
        auto run_one = [&](std::int64_t n) -> std::int64_t {
            auto ticket = db->sharing().take();
            orm::db::Multiplexed* mx = ticket.multiplexed();
            REQUIRE(mx != nullptr);
            REQUIRE(mx->shareable(sql));
            auto r = mx->execute_shared(sql, std::vector<orm::Value>{orm::Value(std::string(std::size_t(n), 'x'))});
            REQUIRE(r.next());
            return r.row().get<std::int64_t>(0);
        };
        CHECK(run_one(5) == 5);  // prepared on the connection: the fibers' reads may share a Sync
        proxy.freeze();
        std::vector<orm::Task<std::int64_t>> tasks;
        // Two such reads fill a group (32 KB), so the odd one out waits for the Sync that the
        // loop sends before it polls; the fiber after it, which sends nothing, makes it wait.
        constexpr int fibers = 999;
        for (int i = 0; i < fibers; ++i) tasks.push_back(orm::spawn([&, i] { return run_one(30'000 + i); }));
        auto idle = orm::spawn([] { return std::int64_t{0}; });
        orm::sleep_for(300ms);  // they queue, and the writes fill the kernel's buffers
        proxy.thaw();
        const auto start = Clock::now();
        for (int i = 0; i < fibers; ++i) CHECK(tasks[std::size_t(i)].get() == 30'000 + i);
        CHECK(idle.get() == 0);
        CHECK(Clock::now() - start < 8s);
        CHECK(db->pool().stats().discarded == 0);
    });
}
