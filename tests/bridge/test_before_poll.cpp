// orm::BeforePoll (work run once just before the loop polls) and orm::io_rouse.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "drivers/bridge/before_poll.hpp"
#include "drivers/bridge/embed.hpp"
#include "helpers.hpp"

using namespace bridge_test;

namespace {

struct Recorder final : orm::BeforePoll {
    std::function<void()> body;
    int runs = 0;
    void run() noexcept override {
        ++runs;
        if (body) body();
    }
};

}  // namespace

TEST_CASE("BeforePoll runs once, after every fiber ready now has run, before the loop sleeps") {
    Recorder r;
    std::vector<std::string> log;
    r.body = [&] { log.push_back("flush"); };
    orm::run([&] {
        std::vector<orm::Task<void>> tasks;
        for (int i = 0; i < 3; ++i)
            tasks.push_back(orm::spawn([&, i] {
                log.push_back("queue " + std::to_string(i));
                CHECK(r.schedule());  // the second and third find it scheduled already
                orm::sleep_for(5ms);
                log.push_back("woke " + std::to_string(i));
            }));
        for (auto& t : tasks) t.get();
    });
    CHECK(r.runs == 1);
    CHECK(log == std::vector<std::string>{"queue 0", "queue 1", "queue 2", "flush", "woke 0", "woke 1", "woke 2"});
    CHECK(!r.scheduled());
}

TEST_CASE("BeforePoll: cancel withdraws it, scheduling again from run() waits for the next poll") {
    Recorder cancelled;
    Recorder again;
    again.body = [&] {
        if (again.runs < 3) CHECK(again.schedule());
    };
    orm::run([&] {
        CHECK(cancelled.schedule());
        cancelled.cancel();
        CHECK(!cancelled.scheduled());
        CHECK(again.schedule());
        for (int i = 0; i < 5; ++i) orm::sleep_for(1ms);  // five polls at least
    });
    CHECK(cancelled.runs == 0);
    CHECK(again.runs == 3);
}

TEST_CASE("BeforePoll: without a fiber loop on the thread nothing is scheduled") {
    bool scheduled = true;
    std::thread t([&] {
        Recorder r;
        scheduled = r.schedule();
    });
    t.join();
    CHECK(!scheduled);
}

TEST_CASE("BeforePoll under an application's own loop: loop_timeout is zero until loop_step ran it") {
    Recorder r;
    auto fiber = orm::spawn([&] { CHECK(r.schedule()); });
    CHECK(orm::loop_step() == 1);  // the fiber runs and schedules
    CHECK(r.scheduled());
    CHECK(orm::loop_timeout() == std::chrono::nanoseconds::zero());
    (void)orm::loop_step();
    CHECK(r.runs == 1);
    CHECK(!r.scheduled());
    fiber.get();
}

TEST_CASE("io_rouse wakes a fiber waiting on an fd, which then finds nothing to read") {
    Pipe p;
    orm::run([&] {
        auto reader = orm::spawn([&] {
            const auto start = Clock::now();
            const orm::Io got = orm::wait_io(p.read_end, orm::Io::readable, orm::deadline_after(2s));
            CHECK(got == orm::Io::readable);
            char c = 0;
            CHECK(::read(p.read_end, &c, 1) < 0);  // spurious: nothing was written
            CHECK(ms_since(start) < 1000ms);
        });
        orm::spawn([&] {
            orm::sleep_for(10ms);
            orm::io_rouse(p.read_end);
            orm::io_rouse(p.write_end);  // nobody waits there: nothing happens
        });
        reader.get();
    });
}

TEST_CASE("other_fibers_ready: true while fibers woken in the same round have yet to run") {
    std::vector<int> seen;
    orm::run([&] {
        std::vector<orm::Task<void>> tasks;
        for (int i = 0; i < 3; ++i)
            tasks.push_back(orm::spawn([&] { seen.push_back(orm::other_fibers_ready() ? 1 : 0); }));
        orm::sleep_for(5ms);  // (waiting on the tasks would make this fiber ready when the first ends)
        for (auto& t : tasks) t.get();
        seen.push_back(orm::other_fibers_ready() ? 1 : 0);  // all done: nobody else is ready
    });
    CHECK(seen == std::vector<int>{1, 1, 0, 0});
}
