// Embedding weft's loop in an application's own event loop: a plain epoll loop watching
// orm::loop_fd() next to its own descriptors, stepping with orm::loop_step() and sleeping at most
// orm::loop_timeout_ms().
#include <doctest/doctest.h>

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "drivers/net/net.hpp"
#include "helpers.hpp"

using namespace bridge_test;

namespace {

struct AsyncMode {
    AsyncMode() { orm::set_async(true); }
    ~AsyncMode() { orm::set_async(false); }
};

// A periodic timerfd: the application's own event source.
int periodic_timer(std::chrono::milliseconds every) {
    const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    itimerspec spec{};
    spec.it_interval.tv_nsec = long(std::chrono::nanoseconds(every).count());
    spec.it_value = spec.it_interval;
    ::timerfd_settime(fd, 0, &spec, nullptr);
    return fd;
}

}  // namespace

TEST_CASE("a plain epoll loop runs weft fibers (sleeps, sockets) and its own timer, interleaved") {
    AsyncMode mode;
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    REQUIRE(ep >= 0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = orm::loop_fd();
    REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, orm::loop_fd(), &ev) == 0);
    const int tick_fd = periodic_timer(5ms);
    ev.data.fd = tick_fd;
    REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, tick_fd, &ev) == 0);

    std::vector<std::string> log;
    orm::net::Listener l = orm::net::Listener::bind("127.0.0.1", 0);
    auto server = orm::spawn("server", [&] {
        orm::net::Stream s = l.accept(orm::deadline_after(5s));
        char buf[16];
        const std::size_t n = s.read_some(buf, sizeof buf, orm::deadline_after(5s));
        orm::sleep_for(60ms);  // the answer takes a while: the application's timer keeps ticking
        s.write_all(buf, n, orm::deadline_after(5s));
        log.push_back("server answered");
    });
    auto client = orm::spawn("client", [&] {
        orm::net::Stream s = orm::net::Stream::connect("127.0.0.1", l.port(), orm::deadline_after(5s));
        s.write_all("hi", orm::deadline_after(5s));
        char buf[2];
        s.read_exactly(buf, 2, orm::deadline_after(5s));
        log.push_back("client got " + std::string(buf, 2));
    });
    int ticks = 0, ticks_while_waiting = 0, steps = 0;
    const auto start = Clock::now();
    while (orm::loop_fibers() > 0 && ms_since(start) < 5s) {
        steps += orm::loop_step() > 0;
        epoll_event events[8];
        const int n = ::epoll_wait(ep, events, 8, orm::loop_timeout_ms());
        for (int i = 0; i < n; ++i)
            if (events[i].data.fd == tick_fd) {
                std::uint64_t expirations;
                (void)!::read(tick_fd, &expirations, sizeof expirations);
                ++ticks;
                if (log.empty()) ++ticks_while_waiting;
            }
    }
    CHECK(orm::loop_fibers() == 0);
    server.get();  // both ended: get() returns at once, rethrowing nothing
    client.get();
    REQUIRE(log.size() == 2);
    CHECK(log[0] == "server answered");
    CHECK(log[1] == "client got hi");
    CHECK(ticks_while_waiting >= 2);  // the application's loop ran during the fibers' waits
    CHECK(steps >= 3);
    ::close(tick_fd);
    ::close(ep);
}

TEST_CASE("loop_timeout: zero with ready fibers, the next timer's distance, or none") {
    AsyncMode mode;
    CHECK(orm::loop_fibers() == 0);
    CHECK(orm::loop_timeout_ms() == -1);
    auto sleeper = orm::spawn([] { orm::sleep_for(200ms); });
    CHECK(orm::loop_timeout() == std::chrono::nanoseconds::zero());  // ready to start
    CHECK(orm::loop_pending());
    CHECK(orm::loop_step() == 1);  // it starts, and sleeps
    const int ms = orm::loop_timeout_ms();
    CHECK(ms > 150);
    CHECK(ms <= 200);
    CHECK(orm::loop_step() == 0);  // nothing due yet
    const auto start = Clock::now();
    while (orm::loop_fibers() > 0) {
        ::usleep(useconds_t(orm::loop_timeout_ms()) * 1000);
        orm::loop_step();
    }
    CHECK(ms_since(start) >= 150ms);
    sleeper.get();
    CHECK(orm::loop_timeout_ms() == -1);
}

TEST_CASE("loop_step refuses to run from inside a fiber") {
    AsyncMode mode;
    std::string message;
    orm::run([&] {
        try {
            orm::loop_step();
        } catch (const orm::InterfaceError& e) {
            message = e.what();
        }
    });
    CHECK(message.find("inside a fiber") != std::string::npos);
}

TEST_CASE("a weft call made by the application outside any fiber completes and keeps fibers going") {
    AsyncMode mode;
    int ran = 0;
    auto f = orm::spawn([&] {
        for (int i = 0; i < 3; ++i) {
            orm::sleep_for(5ms);
            ++ran;
        }
    });
    // The application's handler sleeps through weft, outside any fiber: it drives weft's loop
    // itself, so the fiber makes progress during the call.
    orm::sleep_for(40ms);
    CHECK(ran == 3);
    f.get();
}
