// weft's loop inside a boost::asio::io_context on one thread: attach / LoopDriver, as_async,
// interleaving of Asio timers with weft fibers making queries, and sync-mode calls from handlers.
#include <algorithm>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "drivers/asio/asio.hpp"
#include "helpers.hpp"
#include "orm/orm.hpp"

using namespace asio_test;

namespace {

struct KitchenDown : std::runtime_error {
    explicit KitchenDown(int code) : std::runtime_error("kitchen down"), code(code) {}
    int code;
};

// A timer that ticks every `period` until told to stop, recording when each tick ran.
class Ticker {
public:
    Ticker(boost::asio::io_context& ctx, std::chrono::milliseconds period) : timer_(ctx), period_(period) {}
    void start() { arm(); }
    void stop() {
        stopped_ = true;
        timer_.cancel();
    }
    const std::vector<Clock::time_point>& ticks() const { return ticks_; }
    // The largest gap between consecutive ticks that fall in [from, to].
    Clock::duration max_gap(Clock::time_point from, Clock::time_point to) const {
        Clock::duration gap{};
        for (std::size_t i = 1; i < ticks_.size(); ++i)
            if (ticks_[i - 1] >= from && ticks_[i] <= to) gap = std::max(gap, ticks_[i] - ticks_[i - 1]);
        return gap;
    }
    std::size_t count_in(Clock::time_point from, Clock::time_point to) const {
        return std::size_t(std::count_if(ticks_.begin(), ticks_.end(), [&](auto t) { return t > from && t < to; }));
    }

private:
    void arm() {
        timer_.expires_after(period_);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec || stopped_) return;
            ticks_.push_back(Clock::now());
            arm();
        });
    }
    boost::asio::steady_timer timer_;
    std::chrono::milliseconds period_;
    bool stopped_ = false;
    std::vector<Clock::time_point> ticks_;
};

struct Span {
    Clock::time_point begin, end;
};

// A query that keeps the database busy for a while: pg_sleep on PostgreSQL, a counting CTE on
// SQLite (its duration is measured, not assumed).
std::string slow_query(const std::string& url) {
    if (url.rfind("sqlite", 0) == 0)
        return "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000) "
               "SELECT count(*) FROM n";
    return "SELECT pg_sleep(0.12)";
}

std::vector<std::string> database_urls(const TempDir& dir) {
    std::vector<std::string> urls{dir.sqlite_url("loop.db")};
    if (!pg_url().empty()) urls.push_back(pg_url());
    return urls;
}

}  // namespace

TEST_CASE("as_async completes use_future and handlers with the value, on the io_context, in both modes") {
    for (bool async : {true, false}) {
        const std::string mode_label = mode_name(async);
        CAPTURE(mode_label);
        Mode mode(async);
        boost::asio::io_context ctx;

        auto fut = orm::asio::as_async(ctx, [] {
            orm::sleep_for(20ms);
            return std::string("estimate: 12 min");
        }, boost::asio::use_future);

        bool called = false, in_fiber = true;
        std::thread::id handler_thread;
        orm::asio::as_async(ctx, [] { orm::sleep_for(5ms); return 42; },
                            [&](std::exception_ptr e, int v) {
                                called = true;
                                CHECK(!e);
                                CHECK(v == 42);
                                in_fiber = orm::in_fiber();
                                handler_thread = std::this_thread::get_id();
                            });
        int void_calls = 0;
        orm::asio::as_async(ctx, [] { orm::yield_now(); }, [&](std::exception_ptr e) {
            CHECK(!e);
            ++void_calls;
        });
        CHECK_FALSE(called);  // nothing completes before the io_context runs

        CHECK(run_until_idle(ctx));  // run() returns: the driver leaves no work behind
        CHECK(called);
        CHECK_FALSE(in_fiber);  // completed through the io_context, not inside the fiber
        CHECK(handler_thread == std::this_thread::get_id());
        CHECK(void_calls == 1);
        REQUIRE(fut.wait_for(0s) == std::future_status::ready);
        CHECK(fut.get() == "estimate: 12 min");
        CHECK_FALSE(orm::asio::attach(ctx).armed());
        CHECK(orm::loop_fibers() == 0);
    }
}

TEST_CASE("as_async: an exception crosses back with its original type") {
    TempDir dir;
    orm::connect(dir.sqlite_url("errors.db"), "asio_errors");
    {
        auto c = orm::database("asio_errors").acquire();
        c->execute("CREATE TABLE IF NOT EXISTS kitchen_order (id INTEGER PRIMARY KEY, item TEXT)");
    }
    for (bool async : {true, false}) {
        const std::string mode_label = mode_name(async);
        CAPTURE(mode_label);
        Mode mode(async);
        boost::asio::io_context ctx;
        auto insert_twice = [] {
            auto c = orm::database("asio_errors").acquire();
            c->execute("DELETE FROM kitchen_order");
            c->execute("INSERT INTO kitchen_order (id, item) VALUES (1, 'soup')");
            c->execute("INSERT INTO kitchen_order (id, item) VALUES (1, 'bread')");
            return 1;
        };
        auto fut = orm::asio::as_async(ctx, insert_twice, boost::asio::use_future);
        auto fut_void = orm::asio::as_async(ctx, [] { throw KitchenDown(503); }, boost::asio::use_future);

        int code = 0;
        std::string what;
        orm::asio::as_async(ctx, [] { orm::sleep_for(1ms); throw KitchenDown(504); return 0; },
                            [&](std::exception_ptr e, int v) {
                                CHECK(v == 0);
                                REQUIRE(e);
                                try {
                                    std::rethrow_exception(e);
                                } catch (const KitchenDown& k) {
                                    code = k.code;
                                    what = k.what();
                                }
                            });

        CHECK(run_until_idle(ctx));
        CHECK_THROWS_AS(fut.get(), orm::UniqueViolation);
        try {
            fut_void.get();
            FAIL("no exception");
        } catch (const KitchenDown& k) {
            CHECK(k.code == 503);
        }
        CHECK(code == 504);
        CHECK(what == "kitchen down");
    }
    orm::disconnect("asio_errors");
}

TEST_CASE("An Asio timer keeps ticking while weft fibers make queries on the same thread") {
    Mode mode(true);
    TempDir dir;
    for (const std::string& url : database_urls(dir)) {
        CAPTURE(url);
        orm::connect(url, "asio_loop");
        boost::asio::io_context ctx;
        Ticker ticker(ctx, 10ms);
        ticker.start();

        std::vector<Span> queries, sleeps;
        std::int64_t rows = 0;
        auto work = [&](int n) {
            for (int i = 0; i < n; ++i) {
                Span q{Clock::now(), {}};
                {
                    auto c = orm::database("asio_loop").acquire();
                    c->execute(slow_query(url));
                }
                q.end = Clock::now();
                queries.push_back(q);
                Span s{Clock::now(), {}};
                orm::sleep_for(60ms);
                s.end = Clock::now();
                sleeps.push_back(s);
                ++rows;
            }
        };
        int done = 0;
        auto finish = [&](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
            if (++done == 2) ticker.stop();
        };
        orm::asio::as_async(ctx, [&] { work(3); }, finish);
        orm::asio::as_async(ctx, [&] { work(2); }, finish);

        CHECK(run_until_idle(ctx));
        REQUIRE(done == 2);
        CHECK(rows == 5);
        // Every sleep of a fiber saw ticks of the timer (60 ms at 10 ms a tick).
        for (const Span& s : sleeps) CHECK(ticker.count_in(s.begin, s.end) >= 2);
        // A query running long enough for several ticks let the timer tick meanwhile (it runs on
        // the driver's worker thread in async mode, or the server, while the fiber waits).
        int long_queries = 0;
        for (const Span& q : queries) {
            if (q.end - q.begin < 50ms) continue;
            ++long_queries;
            CHECK_MESSAGE(ticker.count_in(q.begin, q.end) >= 1, "query of ", ms(q.end - q.begin), " ms without a tick");
        }
        MESSAGE(url, ": ", long_queries, " of ", queries.size(), " queries lasted 50 ms or more; ",
                ticker.ticks().size(), " ticks");
        // Had a query run on the loop thread, the timer would have missed a gap as long as it:
        // every gap stays below the shortest query (only scheduling noise, under load too).
        Clock::duration shortest = Clock::duration::max();
        for (const Span& q : queries) shortest = std::min(shortest, q.end - q.begin);
        const auto gap = ticker.max_gap(Clock::time_point::min(), Clock::time_point::max());
        CHECK_MESSAGE(gap < shortest, "largest tick gap ", ms(gap), " ms, shortest query ", ms(shortest), " ms");
        orm::disconnect("asio_loop");
    }
}

TEST_CASE("Neither loop starves the other: a yielding fiber and a re-posting handler alternate") {
    Mode mode(true);
    boost::asio::io_context ctx;
    std::string order;
    int posts = 0;
    std::function<void()> repost = [&] {
        order += 'a';
        if (++posts < 200) boost::asio::post(ctx, repost);
    };
    bool fiber_done = false;
    orm::asio::as_async(ctx, [&] {
        for (int i = 0; i < 200; ++i) {
            order += 'f';
            orm::yield_now();
        }
    }, [&](std::exception_ptr e) {
        CHECK(!e);
        fiber_done = true;
    });
    boost::asio::post(ctx, repost);
    CHECK(run_until_idle(ctx));
    CHECK(fiber_done);
    REQUIRE(order.size() == 400);
    std::size_t longest = 0, run = 0;
    for (std::size_t i = 0; i < order.size(); ++i) {
        run = (i > 0 && order[i] == order[i - 1]) ? run + 1 : 1;
        longest = std::max(longest, run);
    }
    CAPTURE(order.substr(0, 80));
    CHECK(longest <= 4);
}

TEST_CASE("A handler calling weft in sync mode blocks only for its own call") {
    TempDir dir;
    for (const std::string& url : database_urls(dir)) {
        CAPTURE(url);
        orm::connect(url, "asio_sync");
        Mode mode(false);
        boost::asio::io_context ctx;
        Ticker ticker(ctx, 10ms);
        ticker.start();

        // An as_async fiber whose query blocks the thread in sync mode; it starts at once. 150 ms
        // after it completes, a plain handler (outside any fiber) makes blocking weft calls: a
        // query, then a sleep (which outside a fiber waits on weft's loop).
        Span fiber_call{}, call{};
        int phase = 0;
        boost::asio::steady_timer at(ctx);
        auto blocking_handler = [&](const boost::system::error_code&) {
            call.begin = Clock::now();
            {
                auto c = orm::database("asio_sync").acquire();
                c->execute(slow_query(url));
            }
            orm::sleep_for(80ms);
            call.end = Clock::now();
            phase = 1;
            at.expires_after(150ms);
            at.async_wait([&](const boost::system::error_code&) {
                phase = 2;
                ticker.stop();
            });
        };
        orm::asio::as_async(ctx, [&] {
            fiber_call.begin = Clock::now();
            auto c = orm::database("asio_sync").acquire();
            c->execute(slow_query(url));
            fiber_call.end = Clock::now();
        }, [&](std::exception_ptr e) {
            CHECK(!e);
            at.expires_after(150ms);
            at.async_wait(blocking_handler);
        });

        CHECK(run_until_idle(ctx));  // no deadlock, and nothing left behind
        REQUIRE(phase == 2);
        const auto blocked = call.end - call.begin;
        MESSAGE(url, ": handler blocked ", ms(blocked), " ms; largest tick gap ",
                ms(ticker.max_gap(Clock::time_point::min(), Clock::time_point::max())), " ms");
        // Ticks resumed right after each blocking call, and kept coming until the end.
        CHECK(ticker.count_in(fiber_call.end, fiber_call.end + 140ms) >= 5);
        CHECK(ticker.count_in(call.end, call.end + 140ms) >= 5);
        // The largest gap is one blocking call plus slack, never two calls or a stall.
        const auto longest_call = std::max(blocked, fiber_call.end - fiber_call.begin);
        CHECK(ms(ticker.max_gap(Clock::time_point::min(), Clock::time_point::max())) < ms(longest_call) + 40);
        orm::disconnect("asio_sync");
    }
}

TEST_CASE("A plain handler calling weft in async mode drives weft's loop; the fibers keep going") {
    Mode mode(true);
    boost::asio::io_context ctx;
    Ticker ticker(ctx, 10ms);
    ticker.start();
    std::vector<Clock::time_point> fiber_steps;
    orm::asio::as_async(ctx, [&] {
        for (int i = 0; i < 30; ++i) {
            orm::sleep_for(10ms);
            fiber_steps.push_back(Clock::now());
        }
    }, [&](std::exception_ptr e) {
        CHECK(!e);
        ticker.stop();
    });
    Span call{};
    boost::asio::post(ctx, [&] {
        call.begin = Clock::now();
        orm::sleep_for(120ms);  // outside any fiber: runs weft's loop until it is done
        call.end = Clock::now();
    });
    CHECK(run_until_idle(ctx));
    REQUIRE(fiber_steps.size() == 30);
    // The fiber made progress during the handler's call (weft's loop ran), the timer did not.
    const auto during = std::count_if(fiber_steps.begin(), fiber_steps.end(),
                                      [&](auto t) { return t > call.begin && t < call.end; });
    CHECK(during >= 5);
    CHECK(ticker.count_in(call.end, call.end + 100ms) >= 3);
}

TEST_CASE("attach is per io_context and thread; an idle driver lets run() return") {
    Mode mode(true);
    boost::asio::io_context ctx;
    auto& d = orm::asio::attach(ctx);
    CHECK(&d == &orm::asio::attach(ctx));
    CHECK_FALSE(d.armed());
    CHECK(run_until_idle(ctx, 2000ms));

    // A fiber started with orm::spawn from a handler runs once the driver is woken.
    bool ran = false;
    boost::asio::post(ctx, [&] {
        orm::spawn([&] {
            orm::sleep_for(5ms);
            ran = true;
        }).detach();
        d.wake();
    });
    CHECK(run_until_idle(ctx));
    CHECK(ran);
    CHECK(d.steps() > 0);
    CHECK_FALSE(d.armed());

    std::string error;
    std::thread([&] {
        try {
            orm::asio::attach(ctx);
        } catch (const orm::InterfaceError& e) {
            error = e.what();
        }
    }).join();
    CHECK(error.find("one io_context per thread") != std::string::npos);
}

TEST_CASE("Destroying an io_context with a fiber still running drops the handler cleanly") {
    Mode mode(true);
    std::future<int> fut;
    {
        boost::asio::io_context ctx;
        fut = orm::asio::as_async(ctx, [] {
            orm::sleep_for(50ms);
            return 1;
        }, boost::asio::use_future);
        ctx.run_for(5ms);
    }
    // The fiber finishes on weft's own loop; its completion has nowhere to go.
    orm::sleep_for(80ms);
    CHECK(orm::loop_fibers() == 0);
    CHECK_THROWS_AS(fut.get(), std::future_error);
}

TEST_CASE("Beast's sync HTTP calls on as_async fibers serve inside an io_context while its timer ticks") {
    namespace http = boost::beast::http;
    Mode mode(true);
    boost::asio::io_context ctx;
    Ticker ticker(ctx, 5ms);
    ticker.start();
    auto listener = orm::net::Listener::bind("127.0.0.1", 0);
    Span exchange{};

    orm::asio::as_async(ctx, [&] {
        orm::asio::Stream s(listener.accept(orm::deadline_after(5s)), ctx.get_executor());
        s.set_read_timeout(5s);
        boost::beast::flat_buffer buffer;
        http::request<http::string_body> req;
        http::read(s, buffer, req);
        orm::sleep_for(60ms);  // the "kitchen" thinking
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.body() = "{\"eta_minutes\": 12}";
        res.prepare_payload();
        http::write(s, res);
    }, [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    std::string body;
    orm::asio::as_async(ctx, [&] {
        exchange.begin = Clock::now();
        orm::asio::Stream c(orm::net::Stream::connect("127.0.0.1", listener.port(), orm::deadline_after(5s)));
        c.set_read_timeout(5s);
        http::request<http::string_body> req{http::verb::post, "/orders", 11};
        req.set(http::field::host, "127.0.0.1");
        req.body() = "{\"item\": \"soup\"}";
        req.prepare_payload();
        http::write(c, req);
        boost::beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(c, buffer, res);
        exchange.end = Clock::now();
        return res.body();
    }, [&](std::exception_ptr e, std::string b) {
        if (e) std::rethrow_exception(e);
        body = std::move(b);
        ticker.stop();
    });

    CHECK(run_until_idle(ctx));
    CHECK(body == "{\"eta_minutes\": 12}");
    CHECK(ticker.count_in(exchange.begin, exchange.end) >= 5);  // the timer ran during the exchange
}
