// SQLite through the registry, Database and the pool.
#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

#include "drivers/database.hpp"
#include "drivers/pool.hpp"
#include "helpers.hpp"

using namespace orm;
using namespace orm::db;
using namespace sqlite_test;
using namespace std::chrono_literals;

TEST_CASE("the registry sends sqlite URLs to this backend") {
    CHECK(&backend_for_url("sqlite::memory:") == &backend());
    CHECK(&backend_for_url("SQLITE:///x.db") == &backend());
    auto schemes = registered_schemes();
    CHECK(std::find(schemes.begin(), schemes.end(), "sqlite") != schemes.end());
    CHECK(parse_url("sqlite:///a/b.db").target == "/a/b.db");
}

TEST_CASE("Database over a file: pooled connections share it") {
    TempDir dir;
    auto db = Database::open(dir.url("pool.db", "pool_size=2&pool_timeout=200ms"));
    CHECK(db->features().is_embedded);
    {
        auto c = db->acquire();
        c->execute_script("CREATE TABLE t (x)");
        c->execute("INSERT INTO t VALUES (?)", {1});
    }
    auto a = db->acquire();
    auto b = db->acquire();
    CHECK(scalar_int(*a, "SELECT count(*) FROM t") == 1);
    CHECK(scalar_int(*b, "SELECT count(*) FROM t") == 1);
    CHECK_THROWS_AS(db->acquire(), TimeoutError);  // both in use
    b.release();
    CHECK_NOTHROW(db->acquire());
}

TEST_CASE("Database over :memory: keeps one connection, so the data stays") {
    auto db = Database::open("sqlite::memory:?pool_size=4&pool_timeout=100ms");
    CHECK(db->pool().options().max_size == 1);
    {
        auto c = db->acquire();
        c->execute_script("CREATE TABLE t (x); INSERT INTO t VALUES (1);");
    }
    {
        auto c = db->acquire();
        CHECK(scalar_int(*c, "SELECT count(*) FROM t") == 1);
        CHECK_THROWS_AS(db->acquire(), TimeoutError);
    }
}

TEST_CASE("a connection returned inside a transaction is rolled back; a closed one is replaced") {
    TempDir dir;
    auto db = Database::open(dir.url("pool2.db", "pool_size=1&health_check_interval=0ms"));
    {
        auto c = db->acquire();
        c->execute_script("CREATE TABLE t (x)");
        c->begin();
        c->execute("INSERT INTO t VALUES (1)");
    }
    {
        auto c = db->acquire();
        CHECK(c->transaction_state() == TransactionState::idle);
        CHECK(scalar_int(*c, "SELECT count(*) FROM t") == 0);
        c->close();
    }
    auto c = db->acquire();
    CHECK_FALSE(c->is_broken());
    CHECK(scalar_int(*c, "SELECT count(*) FROM t") == 0);
    CHECK(db->pool().stats().discarded >= 1);
}

TEST_CASE("pooled connections move between threads") {
    TempDir dir;
    auto db = Database::open(dir.url("threads.db", "pool_size=2&busy_timeout=10s"));
    db->acquire()->execute_script("CREATE TABLE t (x)");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                auto c = db->acquire();
                c->execute("INSERT INTO t VALUES (?)", {t * 100 + i});
            }
        });
    for (auto& th : threads) th.join();
    CHECK(scalar_int(*db->acquire(), "SELECT count(*) FROM t") == 100);
}
