// Waiting and stopping: busy timeout between two connections, cancel from another thread,
// statement timeout.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "helpers.hpp"

using namespace orm;
using namespace orm::db;
using namespace sqlite_test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::chrono::milliseconds ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
}

}  // namespace

TEST_CASE("a second writer waits for busy_timeout, then fails with an OperationalError") {
    TempDir dir;
    auto a = open(dir.url("busy.db", "busy_timeout=300ms"));
    auto b = open(dir.url("busy.db", "busy_timeout=300ms"));
    a->execute_script("CREATE TABLE t (x)");
    a->begin();
    a->execute("INSERT INTO t VALUES (1)");

    auto start = Clock::now();
    try {
        b->execute("INSERT INTO t VALUES (2)");
        FAIL("the second writer was not blocked");
    } catch (const OperationalError& e) {
        auto waited = ms_since(start);
        CHECK(waited >= 250ms);
        CHECK(waited < 3000ms);
        CHECK(e.sqlstate() == "55P03");
        std::string what = e.what();
        CHECK(what.find("database is locked") != std::string::npos);
        CHECK(what.find("busy_timeout=300ms") != std::string::npos);
        CHECK(what.find("INSERT INTO t VALUES (2)") != std::string::npos);
    }
    // Once the first writer commits, the second one gets through.
    a->commit();
    b->execute("INSERT INTO t VALUES (2)");
    CHECK(scalar_int(*a, "SELECT count(*) FROM t") == 2);
}

TEST_CASE("a writer waiting on the lock gets it when the holder commits within busy_timeout") {
    TempDir dir;
    auto a = open(dir.url("wait.db", "busy_timeout=5s"));
    auto b = open(dir.url("wait.db", "busy_timeout=5s"));
    a->execute_script("CREATE TABLE t (x)");
    a->begin();
    a->execute("INSERT INTO t VALUES (1)");
    std::thread committer([&] {
        std::this_thread::sleep_for(200ms);
        a->commit();
    });
    auto start = Clock::now();
    b->execute("INSERT INTO t VALUES (2)");
    committer.join();
    CHECK(ms_since(start) >= 150ms);
    CHECK(scalar_int(*b, "SELECT count(*) FROM t") == 2);
}

TEST_CASE("cancel() from another thread interrupts a long query") {
    auto c = open_memory();
    std::atomic<bool> done{false};
    std::thread canceller([&] {
        std::this_thread::sleep_for(200ms);
        while (!done) {
            c->cancel();
            std::this_thread::sleep_for(20ms);
        }
    });
    auto start = Clock::now();
    try {
        c->execute(endless_query);
        FAIL("the query was not interrupted");
    } catch (const TimeoutError& e) {
        CHECK(e.sqlstate() == "57014");
        CHECK(std::string(e.what()).find("cancel") != std::string::npos);
        CHECK(std::string(e.what()).find("SQLITE_INTERRUPT") != std::string::npos);
    }
    done = true;
    canceller.join();
    CHECK(ms_since(start) < 10s);
    CHECK(c->execute("SELECT 5").scalar<int>() == std::optional<int>(5));
    CHECK(c->is_usable(true));
}

TEST_CASE("cancel() with nothing running does not poison the next statement") {
    auto c = open_memory();
    c->cancel();
    CHECK(c->execute("SELECT 6").scalar<int>() == std::optional<int>(6));
}

TEST_CASE("statement timeout stops a runaway query with a TimeoutError") {
    auto c = open_memory();
    CHECK(c->features().supports_statement_timeout);
    c->set_statement_timeout(200ms);
    auto start = Clock::now();
    try {
        c->execute(endless_query);
        FAIL("no timeout");
    } catch (const TimeoutError& e) {
        CHECK(e.sqlstate() == "57014");
        CHECK(std::string(e.what()).find("statement timeout (200ms)") != std::string::npos);
    }
    auto took = ms_since(start);
    CHECK(took >= 150ms);
    CHECK(took < 5s);
    // Quick statements are unaffected, and the connection is fine.
    for (int i = 0; i < 100; ++i) CHECK(c->execute("SELECT ?", {i}).scalar<int>() == std::optional<int>(i));
    c->set_statement_timeout(0ms);
    CHECK(c->execute("SELECT count(*) FROM (WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE "
                     "x < 300000) SELECT x FROM n)")
              .scalar<int>() == std::optional<int>(300000));
}

TEST_CASE("statement timeout from the URL, also for execute_script") {
    auto c = open_memory("statement_timeout=150ms");
    CHECK_THROWS_AS(c->execute(endless_query), TimeoutError);
    CHECK_THROWS_AS(c->execute_script(std::string(endless_query) + ";"), TimeoutError);
    CHECK(c->execute("SELECT 1").scalar<int>() == std::optional<int>(1));
}

TEST_CASE("the statement timeout counts time spent in the database, not time spent reading rows") {
    auto c = open_memory();
    c->set_statement_timeout(300ms);
    auto r = c->execute("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3");
    int n = 0;
    while (r.next()) {
        ++n;
        std::this_thread::sleep_for(150ms);  // a slow consumer, 450ms in all
    }
    CHECK(n == 3);
}

TEST_CASE("connections on one file from several threads") {
    TempDir dir;
    open(dir.url("mt.db"))->execute_script("CREATE TABLE t (x integer)");
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            try {
                auto c = open(dir.url("mt.db", "busy_timeout=10s"));
                for (int i = 0; i < 50; ++i) {
                    Transaction tx(*c);
                    c->execute("INSERT INTO t VALUES (?)", {t * 1000 + i});
                    tx.commit();
                }
            } catch (const std::exception& e) {
                MESSAGE(e.what());
                ++failures;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(failures == 0);
    CHECK(scalar_int(*open(dir.url("mt.db")), "SELECT count(*) FROM t") == 200);
}
