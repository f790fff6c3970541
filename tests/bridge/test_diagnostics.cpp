// Reports and dumps: unretrieved exceptions, slow fibers, the fiber listing, waits refused inside
// loop callbacks, cancellation at thread exit, options.
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "helpers.hpp"

using namespace bridge_test;
using Kind = orm::FiberReport::Kind;

TEST_CASE("an exception nobody retrieves is reported with the fiber's name and what()") {
    ReportCapture capture;
    SUBCASE("Task dropped before the fiber fails") {
        orm::spawn("doomed", [] {
            orm::yield_now();
            throw std::runtime_error("boom");
        });
        orm::sleep_for(5ms);
    }
    SUBCASE("Task dropped after the fiber failed") {
        auto t = orm::spawn("doomed", [] { throw std::runtime_error("boom"); });
        orm::sleep_for(5ms);
        CHECK(t.done());
        CHECK(capture.reports().empty());  // someone may still call get()
    }
    auto reports = capture.of_kind(Kind::unretrieved_exception);
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].fiber_name == "doomed");
    CHECK(contains(reports[0].message, "doomed"));
    CHECK(contains(reports[0].message, "std::runtime_error: boom"));
    CHECK_THROWS_AS(std::rethrow_exception(reports[0].error), std::runtime_error);
}

TEST_CASE("an exception retrieved with get() is not reported") {
    ReportCapture capture;
    auto t = orm::spawn([] { throw std::logic_error("seen"); });
    CHECK_THROWS_AS(t.get(), std::logic_error);
    CHECK_THROWS_AS(orm::run([]() -> int { throw std::logic_error("seen too"); }), std::logic_error);
    orm::sleep_for(1ms);
    CHECK(capture.reports().empty());
}

TEST_CASE("a fiber blocking the loop past the threshold is reported; one that yields is not") {
    // Wall time between switches is what blocks the loop, so a heavily overloaded machine that
    // preempts a fiber for longer than the threshold is reported too: keep the margins wide.
    OptionsGuard restore;
    auto options = orm::fiber_options();
    options.slow_fiber_threshold = 50ms;
    orm::set_fiber_options(options);
    ReportCapture capture;
    orm::run([] {
        orm::spawn("hog", [] {
            const auto until = Clock::now() + 150ms;
            while (Clock::now() < until) {
            }
        });
        orm::spawn("polite", [] {
            const auto until = Clock::now() + 150ms;
            while (Clock::now() < until) orm::yield_now();
        });
    });
    auto named = [&](const std::string& name) {
        std::vector<orm::FiberReport> out;
        for (auto& r : capture.of_kind(Kind::slow_fiber))
            if (r.fiber_name == name) out.push_back(r);
        return out;
    };
    auto hog = named("hog");
    REQUIRE(hog.size() == 1);
    CHECK(hog[0].duration >= 140ms);
    CHECK(contains(hog[0].message, "'hog'"));
    CHECK(contains(hog[0].message, "threshold 50.0 ms"));
    // The yielding fiber is measured per slice, never as one 150 ms run. (On an idle machine it
    // is not reported at all; under heavy overload a preempted slice may exceed 50 ms.)
    for (auto& r : named("polite")) CHECK(r.duration < 140ms);

    options.slow_fiber_threshold = 0ms;  // off
    orm::set_fiber_options(options);
    orm::run([] {
        orm::spawn("unwatched", [] {
            const auto until = Clock::now() + 80ms;
            while (Clock::now() < until) {
            }
        });
    });
    CHECK(named("unwatched").empty());
}

TEST_CASE("the dump lists every fiber with its state and what it waits for") {
    Pipe p;
    orm::Event event;
    bool stop_yielding = false;
    std::mutex offload_mu;
    offload_mu.lock();  // holds the offloaded job until released

    auto reader = orm::spawn("reader", [&] { orm::wait_readable(p.read_end, orm::deadline_after(10s)); });
    auto sleeper = orm::spawn("sleeper", [&] { orm::sleep_for(200ms); });
    auto joiner = orm::spawn("joiner", [&] { sleeper.get(); });
    auto offloader = orm::spawn("offloader", [&] {
        orm::run_in_thread([&] { std::lock_guard wait_for_release(offload_mu); });
    });
    auto queued = orm::spawn("queued", [&] { event.wait_until(orm::deadline_after(10s)); });
    auto yielder = orm::spawn("yielder", [&] {
        while (!stop_yielding) orm::yield_now();
    });
    orm::sleep_for(10ms);  // let them all reach their waits

    auto fibers = orm::list_fibers();
    auto find = [&](const std::string& name) {
        for (const auto& f : fibers)
            if (f.name == name) return f;
        FAIL("no fiber named " << name);
        return orm::FiberInfo{};
    };
    CHECK(fibers.size() == 6);
    auto r = find("reader");
    CHECK(r.state == orm::FiberState::waiting);
    CHECK(r.waiting_for == "readable fd " + std::to_string(p.read_end));
    REQUIRE(r.time_left.has_value());
    CHECK(*r.time_left > 9s);
    CHECK(*r.time_left <= 10s);
    CHECK(find("sleeper").waiting_for == "sleep");
    CHECK(find("joiner").waiting_for == "join sleeper");
    CHECK(find("offloader").waiting_for == "thread offload");
    CHECK(find("queued").waiting_for == "wait queue");
    CHECK(find("yielder").state == orm::FiberState::ready);
    CHECK(find("yielder").waiting_for == "yield");
    CHECK(find("reader").thread == std::this_thread::get_id());

    const std::string text = orm::fiber_dump();
    CHECK(contains(text, "reader #" + std::to_string(reader.id()) + "  waiting  readable fd"));
    CHECK(contains(text, "s left)"));

    // From inside a fiber, the caller is the running one.
    auto self = orm::spawn("inspector", [] {
        for (const auto& f : orm::list_fibers())
            if (f.name == "inspector") return f.state;
        return orm::FiberState::ready;
    });
    CHECK(self.get() == orm::FiberState::running);

    p.put();
    event.set();
    offload_mu.unlock();
    stop_yielding = true;
    reader.get();
    joiner.get();
    offloader.get();
    queued.get();
    yielder.get();
    CHECK(orm::list_fibers().empty());
}

TEST_CASE("the all-threads dump includes fibers of other threads' loops") {
    orm::Event release, parked;
    std::thread other([&] {
        orm::run([&] {
            orm::spawn("remote-waiter", [&] {
                parked.set();
                release.wait_until(orm::deadline_after(10s));
            });
        });
    });
    REQUIRE(parked.wait_until(orm::deadline_after(5s)));
    orm::sleep_for(5ms);
    bool found = false;
    for (const auto& f : orm::list_fibers(orm::DumpScope::all_threads))
        if (f.name == "remote-waiter") {
            found = true;
            CHECK(f.thread == other.get_id());
            CHECK(f.waiting_for == "wait queue");
        }
    CHECK(found);
    CHECK(contains(orm::fiber_dump(orm::DumpScope::all_threads), "remote-waiter"));
    release.set();
    other.join();
}

TEST_CASE("waiting inside a loop callback throws InterfaceError instead of hanging") {
    std::string error;
    orm::FiberReporter previous = orm::set_fiber_reporter([&](const orm::FiberReport&) {
        try {
            orm::sleep_for(1ms);  // the reporter runs inside the loop, outside any fiber
        } catch (const orm::InterfaceError& e) {
            error = e.what();
        }
    });
    auto t = orm::spawn([] {
        orm::yield_now();
        throw std::runtime_error("reported from inside the loop");
    });
    t.detach();  // dropped before it fails: the report comes from the loop itself
    orm::sleep_for(5ms);
    orm::set_fiber_reporter(previous);
    CHECK(contains(error, "inside the fiber loop"));
}

TEST_CASE("fibers still suspended at thread exit are cancelled and unwind") {
    ReportCapture capture;
    auto released = std::make_shared<int>(0);
    std::weak_ptr<int> watch = released;
    std::string error;
    std::thread t([&, released = std::move(released)]() mutable {
        orm::spawn("background", [&, held = std::move(released)] {
            try {
                orm::sleep_for(std::chrono::hours(1));
            } catch (const orm::FiberCancelled& e) {
                error = e.what();
                throw;
            }
        });
        orm::yield_now();  // let it start and suspend
    });
    t.join();
    CHECK(watch.expired());  // its captures were destroyed by unwinding on its own stack
    CHECK(contains(error, "thread is exiting"));
    CHECK(capture.reports().empty());  // cancellation is not an unretrieved failure
}

TEST_CASE("fiber options: validation, page rounding") {
    OptionsGuard restore;
    orm::FiberOptions o;
    o.stack_size = 1000;
    CHECK_THROWS_AS(orm::set_fiber_options(o), orm::InterfaceError);
    o.stack_size = 70 * 1024 + 1;
    o.offload_threads = 0;
    CHECK_THROWS_AS(orm::set_fiber_options(o), orm::InterfaceError);
    o.offload_threads = 2;
    orm::set_fiber_options(o);
    CHECK(orm::fiber_options().stack_size == 72 * 1024);
    CHECK(orm::run([] { return 1; }) == 1);  // fibers on the new stacks work
}
