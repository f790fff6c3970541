// run_in_thread: results and exceptions carried back, real parallelism, the loop keeps running,
// inline execution outside fibers.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "helpers.hpp"

using namespace bridge_test;

namespace {
struct DiskFull : std::runtime_error {
    DiskFull() : std::runtime_error("disk full") {}
};
}  // namespace

TEST_CASE("run_in_thread inside a fiber runs on another thread and returns the value") {
    const auto loop_thread = std::this_thread::get_id();
    auto [value, worker] = orm::run([] {
        return orm::run_in_thread([] { return std::make_pair(6 * 7, std::this_thread::get_id()); });
    });
    CHECK(value == 42);
    CHECK(worker != loop_thread);
}

TEST_CASE("run_in_thread rethrows with the original type; move-only results") {
    orm::run([] {
        CHECK_THROWS_AS(orm::run_in_thread([]() -> int { throw DiskFull(); }), DiskFull);
        std::unique_ptr<int> p = orm::run_in_thread([] { return std::make_unique<int>(5); });
        CHECK(*p == 5);
        int calls = 0;
        orm::run_in_thread([&] { ++calls; });  // void, captured by reference
        CHECK(calls == 1);
    });
}

TEST_CASE("offloads from several fibers run in parallel while the loop keeps running") {
    std::atomic<int> concurrent{0}, peak{0};
    int ticks = 0;
    const auto start = Clock::now();
    orm::run([&] {
        bool stop = false;
        auto ticker = orm::spawn([&] {
            while (!stop) {
                ++ticks;
                orm::sleep_for(1ms);
            }
        });
        std::vector<orm::Task<int>> jobs;
        for (int i = 0; i < 4; ++i)
            jobs.push_back(orm::spawn([&, i] {
                return orm::run_in_thread([&, i] {
                    const int now = ++concurrent;
                    int seen = peak.load();
                    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                    }
                    std::this_thread::sleep_for(100ms);  // blocking, off the loop
                    --concurrent;
                    return i;
                });
            }));
        int sum = 0;
        for (auto& j : jobs) sum += j.get();
        CHECK(sum == 0 + 1 + 2 + 3);
        stop = true;
        ticker.get();
    });
    CHECK(peak.load() == 4);
    CHECK(ms_since(start) < 350ms);  // 4 x 100 ms serially would be 400
    CHECK(ticks >= 20);              // the loop ran the ticker meanwhile
}

TEST_CASE("run_in_thread outside a fiber: inline without fibers, offloaded with them") {
    const auto me = std::this_thread::get_id();
    CHECK(orm::run_in_thread([] { return std::this_thread::get_id(); }) == me);
    CHECK_THROWS_AS(orm::run_in_thread([]() -> int { throw DiskFull(); }), DiskFull);

    int ticks = 0;
    bool stop = false;
    auto ticker = orm::spawn([&] {
        while (!stop) {
            ++ticks;
            orm::sleep_for(1ms);
        }
    });
    const auto worker = orm::run_in_thread([] {
        std::this_thread::sleep_for(30ms);
        return std::this_thread::get_id();
    });
    CHECK(worker != me);
    CHECK(ticks >= 5);
    stop = true;
    ticker.get();
}

TEST_CASE("many small offloads reuse the workers") {
    const int n = orm::run([] {
        std::vector<orm::Task<int>> tasks;
        for (int i = 0; i < 200; ++i)
            tasks.push_back(orm::spawn([i] { return orm::run_in_thread([i] { return i % 3; }); }));
        int sum = 0;
        for (auto& t : tasks) sum += t.get();
        return sum;
    });
    int expected = 0;
    for (int i = 0; i < 200; ++i) expected += i % 3;
    CHECK(n == expected);
}

TEST_CASE("CpuSlot: at most offload_cpu_slots holders at once; Pause lends the slot out") {
    OptionsGuard restore;
    auto o = orm::fiber_options();
    o.offload_cpu_slots = 1;
    o.offload_threads = 4;
    orm::set_fiber_options(o);
    std::atomic<int> holders{0}, most{0};
    auto hold = [&] {
        orm::CpuSlot slot;
        const int now = ++holders;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        --holders;
    };
    orm::run([&] {
        std::vector<orm::Task<void>> tasks;
        for (int i = 0; i < 4; ++i) tasks.push_back(orm::spawn([&] { orm::run_in_thread(hold); }));
        for (auto& t : tasks) t.get();
    });
    CHECK(most.load() == 1);

    // A holder that pauses (as SQLite's busy handler does while it sleeps) lets another holder
    // run meanwhile; with one slot, two holders waiting for each other would otherwise deadlock.
    std::atomic<bool> second_ran{false};
    orm::run([&] {
        auto first = orm::spawn([&] {
            orm::run_in_thread([&] {
                orm::CpuSlot slot;
                orm::CpuSlot nested;  // shares the outer claim
                orm::CpuSlot::Pause pause;
                while (!second_ran.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            });
        });
        auto second = orm::spawn([&] {
            orm::run_in_thread([&] {
                orm::CpuSlot slot;
                second_ran = true;
            });
        });
        first.get();
        second.get();
    });
    CHECK(second_ran.load());
}

TEST_CASE("after fork() the child runs fibers, offloads and socket waits of its own") {
    // The parent has used everything first: offload workers exist, the loop has registrations.
    orm::set_async(true);
    int parent_value = orm::run([] { return orm::run_in_thread([] { return 20; }) + 1; });
    CHECK(parent_value == 21);
    Pipe p;
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // In the child: before the fix its offload workers were gone and this hung forever.
        int ok = 0;
        try {
            ok = orm::run([&] {
                auto writer = orm::spawn([&] {
                    orm::sleep_for(std::chrono::milliseconds(10));
                    (void)!::write(p.write_end, "c", 1);
                });
                orm::wait_readable(p.read_end, orm::deadline_after(std::chrono::seconds(5)));
                writer.get();
                return orm::run_in_thread([] { return 42; });
            });
        } catch (...) {
            ::_exit(3);
        }
        ::_exit(ok == 42 ? 0 : 2);
    }
    // Bounded: a child that hangs is killed and the test fails.
    int status = 0;
    pid_t done = 0;
    const auto start = Clock::now();
    while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && Clock::now() - start < std::chrono::seconds(20))
        ::usleep(10'000);
    if (done == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        FAIL("the forked child hung");
    }
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    // And the parent's runtime still works.
    CHECK(orm::run([] { return orm::run_in_thread([] { return 7; }); }) == 7);
    orm::set_async(false);
}
