// WaitQueue and Event: cross-thread wake-up of fibers and plain threads, deadlines, FIFO order,
// a pool-like hand-off between loops on several threads.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "helpers.hpp"

using namespace bridge_test;

TEST_CASE("a fiber on thread A is woken by thread B through A's loop") {
    orm::Event event;
    std::thread::id waiter_thread;
    std::thread b;
    const auto start = Clock::now();
    const bool woken = orm::run([&] {
        waiter_thread = std::this_thread::get_id();
        b = std::thread([&] {
            std::this_thread::sleep_for(20ms);
            event.set();
        });
        return event.wait_until(orm::deadline_after(5s));
    });
    b.join();
    CHECK(woken);
    CHECK(waiter_thread == std::this_thread::get_id());
    CHECK(ms_since(start) >= 20ms);
    CHECK(ms_since(start) < 2s);
}

TEST_CASE("Event: deadline, stickiness, clear") {
    orm::Event e;
    const auto start = Clock::now();
    CHECK_FALSE(orm::run([&] { return e.wait_until(orm::deadline_after(20ms)); }));
    CHECK(ms_since(start) >= 20ms);
    CHECK_FALSE(e.wait_until(orm::deadline_after(0ms)));
    e.set();
    CHECK(e.is_set());
    CHECK(e.wait_until(orm::deadline_after(0ms)));  // already set: no wait needed
    CHECK(orm::run([&] { return e.wait_until(orm::no_deadline); }));
    e.clear();
    CHECK_FALSE(e.is_set());
}

TEST_CASE("a plain thread (outside any fiber) waits on an Event set by another thread") {
    orm::Event e;
    bool woken = false;
    std::chrono::milliseconds waited{};
    std::thread waiter([&] {
        const auto start = Clock::now();
        woken = e.wait_until(orm::deadline_after(5s));
        waited = ms_since(start);
    });
    std::this_thread::sleep_for(20ms);
    e.set();
    waiter.join();
    CHECK(woken);
    CHECK(waited >= 15ms);
    CHECK(waited < 2s);
}

TEST_CASE("WaitQueue wakes waiters in FIFO order, one per notify_one") {
    std::mutex mu;
    orm::WaitQueue q;
    std::vector<int> woke;
    orm::run([&] {
        for (int i = 0; i < 3; ++i)
            orm::spawn([&, i] {
                std::unique_lock lock(mu);
                CHECK(q.wait_until(lock, orm::deadline_after(5s)));
                woke.push_back(i);
            });
        orm::yield_now();
        CHECK(q.waiting() == 3);
        q.notify_one();
        orm::yield_now();
        orm::yield_now();
        CHECK(woke == std::vector<int>{0});
        q.notify_all();
    });
    CHECK(woke == std::vector<int>{0, 1, 2});
    CHECK(q.waiting() == 0);
}

TEST_CASE("WaitQueue::wait_until returns false at the deadline and leaves the queue") {
    std::mutex mu;
    orm::WaitQueue q;
    std::unique_lock lock(mu);
    const auto start = Clock::now();
    CHECK_FALSE(q.wait_until(lock, orm::deadline_after(15ms)));
    CHECK(lock.owns_lock());
    CHECK(ms_since(start) >= 15ms);
    CHECK(q.waiting() == 0);
    std::unique_lock<std::mutex> unlocked(mu, std::defer_lock);
    lock.unlock();
    CHECK_THROWS_AS(q.wait_until(unlocked, orm::deadline_after(1s)), orm::InterfaceError);
}

TEST_CASE("several threads, each with its own loop, wait and are woken independently") {
    constexpr int threads = 4;
    constexpr int fibers = 100;
    orm::Event go[threads];
    std::atomic<int> woken[threads] = {};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            orm::run([&] {
                for (int f = 0; f < fibers; ++f)
                    orm::spawn([&] {
                        if (go[t].wait_until(orm::deadline_after(10s))) ++woken[t];
                    });
            });
        });
    std::this_thread::sleep_for(20ms);
    for (int t = 0; t < threads; ++t) {
        go[t].set();
        // The others are still waiting: no cross-talk between loops.
        std::this_thread::sleep_for(5ms);
        for (int u = t + 1; u < threads; ++u) CHECK(woken[u].load() == 0);
    }
    for (auto& th : pool) th.join();
    for (int t = 0; t < threads; ++t) CHECK(woken[t].load() == fibers);
}

TEST_CASE("a pool-like hand-off across threads: waiters on other loops get released tokens") {
    // Two tokens, 4 threads x 25 fibers each taking a token, holding it briefly, giving it back.
    std::mutex mu;
    orm::WaitQueue released;
    int free_tokens = 2;
    int in_use = 0, max_in_use = 0, timeouts = 0, served = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            orm::run([&] {
                for (int f = 0; f < 25; ++f)
                    orm::spawn([&] {
                        {
                            std::unique_lock lock(mu);
                            if (!released.wait_until(lock, orm::deadline_after(10s), [&] { return free_tokens > 0; })) {
                                ++timeouts;
                                return;
                            }
                            --free_tokens;
                            max_in_use = std::max(max_in_use, ++in_use);
                        }
                        orm::sleep_for(1ms);
                        {
                            std::lock_guard lock(mu);
                            ++free_tokens;
                            --in_use;
                            ++served;
                        }
                        released.notify_one();
                    });
            });
        });
    for (auto& th : threads) th.join();
    CHECK(timeouts == 0);
    CHECK(served == 100);
    CHECK(max_in_use == 2);
    CHECK(free_tokens == 2);
}

TEST_CASE("a notify racing a timeout is never lost") {
    // A waiter whose deadline passes just as it is notified either reports the notification
    // (true) or leaves the queue before the notifier looks (false, and the notify goes to the
    // next waiter): each notify is received exactly once.
    std::mutex mu;
    orm::WaitQueue q;
    int received = 0, sent = 0;
    std::atomic<bool> stop{false};
    std::thread notifier([&] {
        while (!stop) {
            {
                std::lock_guard lock(mu);
                if (q.notify_one()) ++sent;
            }
            std::this_thread::yield();
        }
    });
    orm::run([&] {
        for (int f = 0; f < 8; ++f)
            orm::spawn([&] {
                for (int i = 0; i < 200; ++i) {
                    std::unique_lock lock(mu);
                    if (q.wait_until(lock, orm::deadline_after(std::chrono::microseconds(50 + 37 * i % 300))))
                        ++received;
                }
            });
    });
    stop = true;
    notifier.join();
    std::lock_guard lock(mu);
    CHECK(received == sent);
    CHECK(sent > 0);
}
