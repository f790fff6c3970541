// Timeouts, cancel, lost connections, health checks and close.
#include "tests/postgres/pg_test.hpp"

#include <thread>

using namespace std::chrono_literals;
using orm::Value;
using pgtest::expect_error;
using Clock = std::chrono::steady_clock;

namespace {

// Waits until the server process `pid` is gone (pg_terminate_backend only signals it).
void wait_until_gone(orm::db::Connection& observer, int pid) {
    for (int i = 0; i < 100; ++i) {
        if (pgtest::scalar_int(observer, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid)) ==
            0)
            return;
        pgtest::pause(50ms);
    }
    FAIL("backend " << pid << " did not exit");
}

int backend_pid(orm::db::Connection& c) { return static_cast<int>(pgtest::scalar_int(c, "SELECT pg_backend_pid()")); }

void terminate(orm::db::Connection& victim) {
    auto killer = pgtest::connect();
    int pid = backend_pid(victim);
    CHECK(killer->execute("SELECT pg_terminate_backend($1::int)", {pid}).scalar<bool>() == true);
    wait_until_gone(*killer, pid);
}

}  // namespace

TEST_CASE("statement_timeout from the URL: the server cancels, the connection survives") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect("statement_timeout=100ms");
        CHECK(c->features().supports_statement_timeout);
        CHECK(c->execute("SHOW statement_timeout").scalar<std::string>() == "100ms");
        auto start = Clock::now();
        auto e = expect_error<orm::TimeoutError>([&] { c->execute("SELECT pg_sleep(2)"); });
        CHECK(Clock::now() - start < 1500ms);
        CHECK(e.sqlstate() == "57014");
        CHECK(std::string(e.what()).find("statement timeout") != std::string::npos);
        CHECK(pgtest::scalar_int(*c, "SELECT 7") == 7);
        CHECK(c->is_usable(true));
    });
}

TEST_CASE("set_statement_timeout applies to following statements") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        c->set_statement_timeout(100ms);
        CHECK(c->config().statement_timeout == 100ms);
        CHECK(expect_error<orm::TimeoutError>([&] { c->execute("SELECT pg_sleep(2)"); }).sqlstate() == "57014");
        c->set_statement_timeout(0ms);
        c->execute("SELECT pg_sleep(0.2)");
        CHECK(c->execute("SHOW statement_timeout").scalar<std::string>() == "0");
    });
}

TEST_CASE("cancel() from another thread stops the running statement") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        CHECK(c->features().supports_cancel);
        c->cancel();  // nothing running: harmless
        std::thread canceller([&] {
            pgtest::pause(300ms);
            c->cancel();
        });
        auto start = Clock::now();
        auto e = expect_error<orm::TimeoutError>([&] { c->execute("SELECT pg_sleep(10)"); });
        canceller.join();
        CHECK(Clock::now() - start < 5s);
        CHECK(e.sqlstate() == "57014");
        CHECK(pgtest::scalar_int(*c, "SELECT 8") == 8);
        // In a transaction, the canceled statement fails the transaction like any error.
        c->begin();
        std::thread again([&] {
            pgtest::pause(300ms);
            c->cancel();
        });
        expect_error<orm::TimeoutError>([&] { c->execute("SELECT pg_sleep(10)"); });
        again.join();
        CHECK(c->transaction_state() == orm::db::TransactionState::failed);
        c->rollback();
        CHECK(c->is_usable(true));
    });
}

TEST_CASE("a terminated backend: the next execute throws ConnectionError, and forever after") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        c->execute("SELECT 1");
        terminate(*c);
        auto e = expect_error<orm::ConnectionError>([&] { c->execute("SELECT 1"); });
        CHECK_FALSE(e.sqlstate().empty());
        CHECK(c->is_broken());
        CHECK_FALSE(c->is_usable(false));
        CHECK_FALSE(c->is_usable(true));
        CHECK(c->transaction_state() == orm::db::TransactionState::idle);
        CHECK(expect_error<orm::ConnectionError>([&] { c->execute("SELECT 1"); }).sqlstate() == "08003");
        expect_error<orm::ConnectionError>([&] { c->execute_script("SELECT 1"); });
        expect_error<orm::ConnectionError>([&] { c->begin(); });
        c->cancel();  // no-op on a dead connection
        c->close();
    });
}

TEST_CASE("a terminated backend inside a transaction") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        c->begin();
        c->execute("SELECT 1");
        terminate(*c);
        expect_error<orm::ConnectionError>([&] { c->execute("SELECT 2"); });
        CHECK(c->is_broken());
        expect_error<orm::ConnectionError>([&] { c->rollback(); });
    });
}

TEST_CASE("is_usable notices a terminated backend without a round trip") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        CHECK(c->is_usable(false));
        CHECK(c->is_usable(true));
        terminate(*c);
        CHECK_FALSE(c->is_usable(false));  // local check: reads the FATAL message and EOF
        CHECK(c->is_broken());
    });
}

TEST_CASE("close: idempotent, and a closed connection refuses work") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        c->close();
        c->close();
        CHECK(c->is_broken());
        CHECK_FALSE(c->is_usable(true));
        expect_error<orm::InterfaceError>([&] { c->execute("SELECT 1"); });
    });
}
