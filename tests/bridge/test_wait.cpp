// wait_io / sleep / yield: readiness on pipes, deadlines and timeouts, sleep accuracy, waiting
// from outside any fiber (driving the loop), deadlock detection.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "helpers.hpp"

using namespace bridge_test;

TEST_CASE("wait_readable on a pipe suspends until another fiber writes") {
    Pipe p;
    std::vector<std::string> log;
    orm::run([&] {
        auto reader = orm::spawn([&] {
            const auto start = Clock::now();
            orm::wait_readable(p.read_end, orm::deadline_after(2s));
            char c = 0;
            CHECK(::read(p.read_end, &c, 1) == 1);
            CHECK(c == 'z');
            CHECK(ms_since(start) >= 20ms);
            log.push_back("read");
        });
        orm::spawn([&] {
            orm::sleep_for(20ms);
            log.push_back("write");
            p.put('z');
        });
        reader.get();
    });
    CHECK(log == std::vector<std::string>{"write", "read"});
}

TEST_CASE("wait_writable on a full pipe returns once the reader drains it") {
    Pipe p;
    char buf[65536] = {};
    while (::write(p.write_end, buf, sizeof buf) > 0) {
    }
    orm::run([&] {
        orm::spawn([&] {
            orm::sleep_for(10ms);
            while (::read(p.read_end, buf, sizeof buf) > 0) {
            }
        });
        const auto start = Clock::now();
        orm::wait_writable(p.write_end, orm::deadline_after(2s));
        CHECK(ms_since(start) >= 10ms);
        CHECK(::write(p.write_end, "x", 1) == 1);
    });
}

TEST_CASE("wait_io for either direction reports what is ready") {
    Pipe p;
    p.put();
    CHECK(orm::wait_io(p.read_end, orm::Io::both, orm::deadline_after(1s)) == orm::Io::readable);
    CHECK(orm::wait_io(p.write_end, orm::Io::both, orm::deadline_after(1s)) == orm::Io::writable);
}

TEST_CASE("a reader and a writer may wait on one fd; two readers may not") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    orm::run([&] {
        auto reader = orm::spawn([&] { orm::wait_readable(sv[0], orm::deadline_after(2s)); });
        orm::yield_now();  // the reader is waiting now
        std::string error;
        try {
            orm::wait_readable(sv[0], orm::deadline_after(1s));
        } catch (const orm::InterfaceError& e) {
            error = e.what();
        }
        CHECK(contains(error, "already waiting"));
        orm::wait_writable(sv[0], orm::deadline_after(1s));  // a socket with room is writable
        CHECK(::write(sv[1], "x", 1) == 1);
        reader.get();
    });
    ::close(sv[0]);
    ::close(sv[1]);
}

TEST_CASE("wait_readable times out with a message naming the fd, the direction and the time") {
    Pipe p;
    const auto start = Clock::now();
    std::string message;
    try {
        orm::run([&] { orm::wait_readable(p.read_end, orm::deadline_after(30ms)); });
        FAIL("no timeout");
    } catch (const orm::TimeoutError& e) {
        message = e.what();
    }
    CHECK(ms_since(start) >= 30ms);
    CHECK(contains(message, "timed out after "));  // "30.0 ms", give or take the clock
    CHECK(contains(message, " ms waiting for fd " + std::to_string(p.read_end) + " to become readable"));
    // The fd can be waited on again after a timeout.
    p.put();
    orm::run([&] { orm::wait_readable(p.read_end, orm::deadline_after(1s)); });
}

TEST_CASE("a deadline already passed only checks readiness") {
    Pipe p;
    SUBCASE("not ready: TimeoutError at once, without suspending") {
        const auto start = Clock::now();
        for (auto d : {orm::deadline_after(0ms), orm::deadline_after(-5s), orm::Deadline{}}) {
            try {
                orm::wait_readable(p.read_end, d);
                FAIL("no timeout");
            } catch (const orm::TimeoutError& e) {
                CHECK(contains(e.what(), "already passed"));
            }
        }
        CHECK(ms_since(start) < 50ms);
    }
    SUBCASE("ready: returns") {
        p.put();
        orm::wait_readable(p.read_end, orm::deadline_after(0ms));
        orm::run([&] { orm::wait_readable(p.read_end, orm::deadline_after(-1s)); });
    }
}

TEST_CASE("wait_io on a regular file returns at once; on a bad fd it throws") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f);
    CHECK(orm::wait_io(::fileno(f), orm::Io::readable, orm::deadline_after(1s)) == orm::Io::readable);
    std::fclose(f);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ::close(fds[0]);
    ::close(fds[1]);
    CHECK_THROWS_AS(orm::wait_readable(fds[0], orm::deadline_after(1s)), orm::InterfaceError);
    CHECK_THROWS_AS(orm::wait_readable(-1, orm::deadline_after(1s)), orm::InterfaceError);
}

TEST_CASE("a closed and reused fd number can be waited on again") {
    for (int i = 0; i < 3; ++i) {
        Pipe p;  // usually the same fd numbers every round
        auto writer = orm::spawn([&] {
            orm::sleep_for(2ms);
            p.put();
        });
        orm::wait_readable(p.read_end, orm::deadline_after(1s));
        writer.get();
    }
}

TEST_CASE("sleep accuracy and wake-up order") {
    std::vector<int> order;
    std::vector<std::chrono::milliseconds> late;
    orm::run([&] {
        for (int ms : {30, 10, 20, 10}) {
            orm::spawn([&, ms] {
                const auto start = Clock::now();
                orm::sleep_for(std::chrono::milliseconds(ms));
                late.push_back(ms_since(start) - std::chrono::milliseconds(ms));
                order.push_back(ms);
            });
        }
    });
    CHECK(order == std::vector<int>{10, 10, 20, 30});
    for (auto l : late) {
        CHECK(l >= 0ms);   // never early
        CHECK(l < 40ms);   // generous: the machine is shared
    }
}

TEST_CASE("timers armed in and out of deadline order wake in deadline order; waits ended early leave none behind") {
    // Deadlines that arrive in order take the timer structure's O(1) run, the others its heap;
    // both must agree on one order. Interleaved: a fiber per slot k (deadline base + k ms) in a
    // scrambled order, and joiners whose far deadlines are disarmed early when the task ends.
    std::vector<int> order;
    int early = 0;
    orm::run([&] {
        const auto base = Clock::now() + 30ms;
        const int n = 40;
        auto finisher = orm::spawn([] { orm::sleep_for(10ms); });
        std::vector<orm::Task<void>> tasks;
        for (int i = 0; i < n; ++i) {
            const int k = (i * 17) % n;  // 0, 17, 34, 11, 28, ...: up and down
            tasks.push_back(orm::spawn([&order, base, k] {
                orm::sleep_until(base + std::chrono::milliseconds(k));
                order.push_back(k);
            }));
            if (i % 5 == 0)
                tasks.push_back(orm::spawn([&early, &finisher] {
                    if (finisher.wait_until(orm::deadline_after(5s))) ++early;
                }));
        }
        for (auto& t : tasks) t.get();
        finisher.get();
    });
    REQUIRE(order.size() == 40);
    for (std::size_t i = 0; i < order.size(); ++i) CHECK(order[i] == static_cast<int>(i));
    CHECK(early == 8);
}

TEST_CASE("sleep_until a time already passed yields once") {
    std::vector<int> log;
    orm::run([&] {
        orm::spawn([&] { log.push_back(1); });
        orm::sleep_until(orm::Deadline{});
        log.push_back(2);
    });
    CHECK(log == std::vector<int>{1, 2});
}

TEST_CASE("waiting outside any fiber drives the loop: other fibers make progress") {
    int ticks = 0;
    bool stop = false;
    auto ticker = orm::spawn([&] {
        while (!stop) {
            ++ticks;
            orm::sleep_for(1ms);
        }
    });
    orm::sleep_for(30ms);  // outside any fiber
    CHECK(ticks >= 5);

    Pipe p;
    auto writer = orm::spawn([&] {
        orm::sleep_for(10ms);
        p.put();
    });
    const int before = ticks;
    orm::wait_readable(p.read_end, orm::deadline_after(2s));  // outside any fiber
    CHECK(ticks > before);
    writer.get();

    const int before_yield = ticks;
    for (int i = 0; i < 200 && ticks == before_yield; ++i) {
        std::this_thread::sleep_for(1ms);
        orm::yield_now();  // outside: one round of the loop
    }
    CHECK(ticks > before_yield);

    stop = true;
    ticker.get();
}

TEST_CASE("a thread waiting for fibers that can never wake gets a deadlock error, not a hang") {
    std::string error;
    std::thread t([&] {
        auto stuck = orm::spawn("stuck", [] { orm::sleep_until(orm::no_deadline); });
        try {
            stuck.get();
        } catch (const orm::InterfaceError& e) {
            error = e.what();
        }
        // Thread exit cancels the stuck fiber.
    });
    t.join();
    CHECK(contains(error, "deadlock"));
    CHECK(contains(error, "stuck"));
}

TEST_CASE("owned waits: the registration is kept between waits, dropped on unasked input, and a reused fd number gets a new owner") {
    orm::run([&] {
        for (int round = 0; round < 3; ++round) {
            Pipe p;  // usually the same fd numbers every round: a new socket, a new owner
            const std::uint64_t owner = orm::new_io_owner();
            for (int i = 0; i < 5; ++i) {  // request / answer round trips on one registration
                auto writer = orm::spawn([&] {
                    orm::yield_now();
                    p.put();
                });
                CHECK(orm::wait_io(p.read_end, orm::Io::readable, orm::deadline_after(2s), owner) ==
                      orm::Io::readable);
                char c = 0;
                CHECK(::read(p.read_end, &c, 1) == 1);
                writer.get();
            }
            const std::uint64_t mark = orm::io_poll_mark();
            orm::sleep_for(1ms);  // the loop polls: nothing arrived
            CHECK(orm::io_idle_quiet(p.read_end, owner, mark));
            CHECK_FALSE(orm::io_idle_quiet(p.read_end, owner + 1000, mark));  // not that owner's

            p.put();               // input nobody waits for
            orm::sleep_for(1ms);   // the loop sees it and drops the registration
            CHECK_FALSE(orm::io_idle_quiet(p.read_end, owner, mark));
            orm::sleep_for(5ms);   // and is not woken by it over and over meanwhile
            // The next wait registers again and sees the byte still there.
            CHECK(orm::wait_io(p.read_end, orm::Io::readable, orm::deadline_after(2s), owner) == orm::Io::readable);
            char c = 0;
            CHECK(::read(p.read_end, &c, 1) == 1);
        }
        // A hang-up while nobody waits: dropped as well; a later wait reports it at once.
        Pipe p;
        const std::uint64_t owner = orm::new_io_owner();
        auto writer = orm::spawn([&] { p.put(); });
        orm::wait_io(p.read_end, orm::Io::readable, orm::deadline_after(2s), owner);
        writer.get();
        char c = 0;
        CHECK(::read(p.read_end, &c, 1) == 1);
        ::close(p.write_end);
        p.write_end = ::open("/dev/null", O_WRONLY | O_CLOEXEC);  // keeps Pipe's destructor simple
        orm::sleep_for(2ms);
        CHECK(orm::wait_io(p.read_end, orm::Io::readable, orm::deadline_after(2s), owner) == orm::Io::readable);
        CHECK(::read(p.read_end, &c, 1) == 0);  // EOF
    });
    CHECK(orm::io_idle_quiet(0, 1, 0) == false);  // no loop polls here any more: unknown
}
