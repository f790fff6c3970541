// Conformance: the connection pool (bounds, timeouts, discarding broken connections, threads).
#include <atomic>
#include <thread>

#include "tests/conformance/harness.hpp"

using namespace orm;
using namespace orm::db;
using namespace weft::conformance;

CONFORMANCE_TEST("pool: acquire beyond pool_size times out with a message naming the pool") {
    ctx.require_multiple_connections();
    auto db = ctx.open_with("pool_size=2&pool_timeout=100ms");
    auto a = db->acquire();
    auto b = db->acquire();
    auto start = std::chrono::steady_clock::now();
    CT_CHECK_THROWS_WITH(db->acquire(), TimeoutError, "pool_size=2");
    auto waited = std::chrono::steady_clock::now() - start;
    CT_CHECK(waited >= std::chrono::milliseconds(90));
    CT_CHECK(waited < std::chrono::seconds(5));
    CT_CHECK_EQ(db->pool().stats().timeouts, std::uint64_t{1});
    b.release();
    auto c = db->acquire();  // the returned connection is handed out again
    CT_CHECK(c.get() != nullptr);
    CT_CHECK_EQ(db->pool().stats().open, std::size_t{2});
}

CONFORMANCE_TEST("pool: a waiter gets the connection released by another thread") {
    ctx.require_multiple_connections();
    auto db = ctx.open_with("pool_size=2&pool_timeout=5s");
    auto a = db->acquire();
    auto b = db->acquire();
    std::thread releaser([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        a.release();
    });
    auto c = db->acquire();
    join(releaser);
    CT_CHECK_EQ(c->execute("SELECT 1").scalar<std::int64_t>(), std::optional<std::int64_t>(1));
    CT_CHECK_EQ(db->pool().stats().created, std::uint64_t{2});
}

CONFORMANCE_TEST("pool: a broken connection is discarded and replaced") {
    auto db = ctx.open_with("pool_size=1");
    Connection* first = nullptr;
    {
        auto c = db->acquire();
        first = c.get();
        c->close();  // the connection is now unusable; the pool must not hand it out again
    }
    CT_CHECK_EQ(db->pool().stats().discarded, std::uint64_t{1});
    auto c = db->acquire();
    CT_CHECK(!c->is_broken());
    CT_CHECK_EQ(c->execute("SELECT 7").scalar<std::int64_t>(), std::optional<std::int64_t>(7));
    CT_CHECK_EQ(db->pool().stats().created, std::uint64_t{2});
    (void)first;
}

CONFORMANCE_TEST("pool: a connection returned inside a transaction is rolled back") {
    ctx.require_multiple_connections();  // the table must be visible from a second Database object
    auto t = ctx.create_table(TableSpec{"pooltx", {{.name = "n", .type = ColumnType::int64}}, {}});
    auto db = ctx.open_with("pool_size=1");
    const auto& d = db->dialect();
    {
        auto c = db->acquire();
        c->begin();
        c->execute("INSERT INTO " + d.quote_name(t) + " (n) VALUES (" + d.placeholder(1) + ")", {1});
    }
    auto c = db->acquire();
    CT_CHECK(c->transaction_state() == TransactionState::idle);
    CT_CHECK_EQ(c->execute("SELECT COUNT(*) FROM " + d.quote_name(t)).scalar<std::int64_t>(),
                std::optional<std::int64_t>(0));
}

CONFORMANCE_TEST("pool: many threads share a small pool without exceeding it") {
    ctx.require_multiple_connections();
    auto db = ctx.open_with("pool_size=3&pool_timeout=30s");
    std::atomic<int> ok{0}, errors{0};
    std::atomic<std::size_t> max_open{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                try {
                    auto c = db->acquire();
                    auto v = c->execute("SELECT " + db->dialect().placeholder(1), {t * 1000 + i}).scalar<std::int64_t>();
                    if (v == t * 1000 + i) ++ok;
                    std::size_t open = db->pool().stats().open;
                    std::size_t seen = max_open.load();
                    while (open > seen && !max_open.compare_exchange_weak(seen, open)) {
                    }
                } catch (const std::exception&) {
                    ++errors;
                }
            }
        });
    for (auto& th : threads) join(th);
    CT_CHECK_EQ(ok.load(), 400);
    CT_CHECK_EQ(errors.load(), 0);
    CT_CHECK(max_open.load() <= 3);
    CT_CHECK(db->pool().stats().in_use == 0);
}

CONFORMANCE_TEST("pool: one connection handed between threads is never held twice and no waiter is left behind") {
    auto db = ctx.open_with("pool_size=1&pool_timeout=20s");
    std::atomic<int> holders{0}, most{0}, ok{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 300; ++i) {
                try {
                    auto c = db->acquire();
                    int now = ++holders;
                    int seen = most.load();
                    while (now > seen && !most.compare_exchange_weak(seen, now)) {
                    }
                    auto v = c->execute("SELECT " + db->dialect().placeholder(1), {t * 1000 + i}).scalar<std::int64_t>();
                    if (v == t * 1000 + i) ++ok;
                    --holders;
                } catch (const std::exception&) {
                    ++errors;
                }
            }
        });
    for (auto& th : threads) join(th);
    CT_CHECK_EQ(ok.load(), 1200);
    CT_CHECK_EQ(errors.load(), 0);  // a lost wake-up would end in a TimeoutError
    CT_CHECK_EQ(most.load(), 1);
    auto s = db->pool().stats();
    CT_CHECK_EQ(s.open, std::size_t{1});
    CT_CHECK_EQ(s.idle, std::size_t{1});
    CT_CHECK_EQ(s.in_use, std::size_t{0});
    CT_CHECK_EQ(s.created, std::uint64_t{1});
}

CONFORMANCE_TEST("pool: close() closes idle connections at once and the others when they come back") {
    ctx.require_multiple_connections();
    auto db = ctx.open_with("pool_size=2");
    auto a = db->acquire();
    auto b = db->acquire();
    a.release();
    auto s = db->pool().stats();
    CT_CHECK_EQ(s.open, std::size_t{2});
    CT_CHECK_EQ(s.idle, std::size_t{1});
    CT_CHECK_EQ(s.in_use, std::size_t{1});
    db->pool().close();
    CT_CHECK_EQ(db->pool().stats().open, std::size_t{1});
    CT_CHECK_EQ(db->pool().stats().idle, std::size_t{0});
    CT_CHECK_EQ(b->execute("SELECT 1").scalar<std::int64_t>(), std::optional<std::int64_t>(1));  // still usable
    b.release();
    CT_CHECK_EQ(db->pool().stats().open, std::size_t{0});
    CT_CHECK_EQ(db->pool().stats().idle, std::size_t{0});
    CT_CHECK_THROWS_WITH(db->acquire(), InterfaceError, "closed");
}
