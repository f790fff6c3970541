// Many fibers: 20,000 at once, the memory an idle one costs, stack overflow hitting the guard page.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "helpers.hpp"

using namespace bridge_test;

TEST_CASE("20,000 fibers sleeping, yielding and joining") {
    constexpr int n = 20'000;
    long long sum = 0;
    orm::Event go;
    orm::run([&] {
        std::vector<orm::Task<int>> tasks;
        tasks.reserve(n);
        std::mt19937 rng(42);
        for (int i = 0; i < n; ++i) {
            if (i % 200 == 0) orm::yield_now();  // mapping thousands of new stacks takes a while
            const auto nap = std::chrono::microseconds(rng() % 20'000);
            tasks.push_back(orm::spawn([&go, i, nap] {
                orm::yield_now();
                go.wait_until(orm::deadline_after(60s));
                orm::sleep_for(nap);
                orm::yield_now();
                return i;
            }));
        }
        orm::yield_now();
        CHECK(orm::list_fibers().size() == n + 2);  // and the root, and the thread driving run()
        go.set();
        for (auto& t : tasks) sum += t.get();
    });
    CHECK(sum == static_cast<long long>(n) * (n - 1) / 2);
    CHECK(orm::list_fibers().empty());
}

#if !defined(__SANITIZE_ADDRESS__)
TEST_CASE("an idle suspended fiber costs at most 16 KiB of resident memory") {
    constexpr int n = 10'000;
    OptionsGuard restore;
    orm::set_fiber_options(orm::fiber_options());  // drops cached (already resident) stacks
    orm::Event go;
    std::vector<orm::Task<void>> tasks;
    tasks.reserve(n);
    orm::yield_now();
    const long before = rss_kib();
    for (int i = 0; i < n; ++i) tasks.push_back(orm::spawn([&] { go.wait_until(orm::no_deadline); }));
    orm::yield_now();  // every fiber runs up to its wait
    const long after = rss_kib();
    CHECK(orm::list_fibers().size() == n);
    const double per_fiber = double(after - before) / n;
    MESSAGE("resident memory per idle fiber: " << per_fiber << " KiB");
    CHECK(per_fiber > 0.5);  // the measurement sees the fibers at all
    CHECK(per_fiber <= 16.0);
    go.set();
    for (auto& t : tasks) t.get();
}
#endif

TEST_CASE("a stack overflow on a fiber faults on the guard page instead of corrupting memory") {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Die of the fault itself: no test framework or sanitizer handler reporting it.
        std::signal(SIGSEGV, SIG_DFL);
        const int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, STDOUT_FILENO);
        ::dup2(devnull, STDERR_FILENO);
        // A fresh thread gets a fresh loop (the parent's epoll set stays untouched).
        std::thread t([] {
            orm::run([] {
                struct Recurse {
                    static int down(int depth) {
                        volatile char frame[512];
                        frame[0] = char(depth);
                        return depth > 1'000'000 ? frame[0] : down(depth + 1) + frame[0];
                    }
                };
                return Recurse::down(0);
            });
        });
        t.join();
        std::_Exit(0);  // not reached
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    const bool segfault = WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
    CHECK(segfault);
}
