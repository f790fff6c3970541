// spawn / Task / run: ordering, values, exceptions across joins, run groups, detaching.
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "helpers.hpp"

using namespace bridge_test;

namespace {

struct CustomError : std::runtime_error {
    explicit CustomError(int c) : std::runtime_error("custom " + std::to_string(c)), code(c) {}
    int code;
};

}  // namespace

TEST_CASE("spawn: get returns the value, once") {
    auto t = orm::spawn([] { return 42; });
    CHECK(t.valid());
    CHECK(t.get() == 42);
    CHECK_FALSE(t.valid());
    CHECK_THROWS_AS(t.get(), orm::InterfaceError);
    orm::Task<int> empty;
    CHECK_THROWS_AS(empty.done(), orm::InterfaceError);
}

TEST_CASE("spawn: move-only results and void tasks") {
    auto t = orm::spawn([] { return std::make_unique<std::string>("fiber"); });
    std::unique_ptr<std::string> p = t.get();
    REQUIRE(p);
    CHECK(*p == "fiber");

    bool ran = false;
    orm::Task<void> v = orm::spawn([&] { ran = true; });
    v.get();
    CHECK(ran);
}

TEST_CASE("spawn: fibers start in spawn order and yield round-robin") {
    std::vector<std::string> log;
    orm::run([&] {
        auto a = orm::spawn([&] {
            log.push_back("a1");
            orm::yield_now();
            log.push_back("a2");
        });
        auto b = orm::spawn([&] {
            log.push_back("b1");
            orm::yield_now();
            log.push_back("b2");
        });
        log.push_back("root1");  // spawning does not switch
        orm::yield_now();
        log.push_back("root2");
        a.get();
        b.get();
    });
    CHECK(log == std::vector<std::string>{"root1", "a1", "b1", "root2", "a2", "b2"});
}

TEST_CASE("spawn: a fiber spawned outside any fiber runs when the thread next waits") {
    bool ran = false;
    auto t = orm::spawn([&] { ran = true; });
    CHECK_FALSE(ran);
    CHECK_FALSE(t.done());
    t.get();  // drives the loop
    CHECK(ran);
}

TEST_CASE("Task::get rethrows the fiber's exception with its original type") {
    SUBCASE("a custom std::exception subclass, caught as itself, with its data") {
        auto t = orm::spawn([]() -> int { throw CustomError(7); });
        try {
            t.get();
            FAIL("get() did not throw");
        } catch (const CustomError& e) {
            CHECK(e.code == 7);
        }
    }
    SUBCASE("an orm error keeps its family") {
        auto t = orm::spawn([] { throw orm::TimeoutError("slow", "57014"); });
        try {
            t.get();
            FAIL("get() did not throw");
        } catch (const orm::TimeoutError& e) {
            CHECK(e.sqlstate() == "57014");
        }
    }
    SUBCASE("a non-std exception") {
        auto t = orm::spawn([] { throw 17; });
        CHECK_THROWS_AS(t.get(), int);
    }
    SUBCASE("joined from another fiber") {
        orm::run([] {
            auto inner = orm::spawn([] {
                orm::yield_now();
                throw CustomError(3);
            });
            CHECK_THROWS_AS(inner.get(), CustomError);
        });
    }
}

TEST_CASE("run: returns the root's value after every fiber it spawned, transitively, has ended") {
    std::vector<int> finished;
    const int value = orm::run([&] {
        for (int i = 0; i < 3; ++i)
            orm::spawn([&finished, i] {  // detached children
                orm::spawn([&finished, i] {  // and grandchildren
                    orm::sleep_for(std::chrono::milliseconds(5 * (3 - i)));
                    finished.push_back(10 + i);
                });
                orm::sleep_for(std::chrono::milliseconds(2));
                finished.push_back(i);
            });
        return 99;
    });
    CHECK(value == 99);
    CHECK(finished.size() == 6);
}

TEST_CASE("run: rethrows the root's exception; nested run inside a fiber") {
    CHECK_THROWS_AS(orm::run([]() -> int { throw CustomError(1); }), CustomError);
    const int v = orm::run([] {
        int inner = orm::run([] {
            orm::yield_now();
            return 5;
        });
        return inner + 1;
    });
    CHECK(v == 6);
}

TEST_CASE("a detached fiber keeps running") {
    bool done = false;
    orm::spawn([&] {
        orm::sleep_for(10ms);
        done = true;
    });  // Task dropped at once
    orm::sleep_for(40ms);  // drives the loop
    CHECK(done);
}

TEST_CASE("the callable and its captures are destroyed on the fiber when it returns") {
    auto token = std::make_shared<int>(1);
    std::weak_ptr<int> watch = token;
    auto t = orm::spawn([token = std::move(token)] { return *token; });
    CHECK_FALSE(watch.expired());
    orm::run([] {});  // lets the spawned fiber run to its end; its Task is still held
    CHECK(t.done());
    CHECK(watch.expired());
    CHECK(t.get() == 1);
}

TEST_CASE("Task names and ids") {
    auto named = orm::spawn("loader", [] { return 1; });
    auto plain = orm::spawn([] { return 2; });
    CHECK(named.name() == "loader");
    CHECK(plain.name() == "fiber-" + std::to_string(plain.id()));
    CHECK(plain.id() > named.id());
    named.get();
    plain.get();
}

TEST_CASE("Task::wait_until with a deadline") {
    auto t = orm::spawn([] { orm::sleep_for(50ms); });
    auto start = Clock::now();
    CHECK_FALSE(t.wait_until(orm::deadline_after(10ms)));
    CHECK(ms_since(start) >= 10ms);
    CHECK_FALSE(t.wait_until(orm::deadline_after(0ms)));  // passed deadline: no wait
    CHECK(t.wait_until(orm::deadline_after(5s)));
    CHECK(t.done());
    t.get();
}

TEST_CASE("joining oneself or a fiber of another thread is refused") {
    orm::run([] {
        orm::Task<void> self;
        bool refused = false;
        self = orm::spawn([&] {
            try {
                self.wait_until(orm::no_deadline);
            } catch (const orm::InterfaceError& e) {
                refused = contains(e.what(), "join itself");
            }
        });
        orm::yield_now();
        orm::yield_now();
        CHECK(refused);
    });

    auto t = orm::spawn([] {
        orm::sleep_for(5ms);
        return 3;
    });
    std::string error;
    std::thread other([&] {
        try {
            t.get();
        } catch (const orm::InterfaceError& e) {
            error = e.what();
        }
    });
    other.join();
    CHECK(contains(error, "another thread"));
    CHECK(t.valid());  // a wait that could not happen does not consume the Task
    CHECK(t.get() == 3);
}

TEST_CASE("in_fiber and the mode switch") {
    CHECK_FALSE(orm::in_fiber());
    CHECK(orm::run([] { return orm::in_fiber(); }));
    const bool before = orm::is_async();
    orm::set_async(true);
    CHECK(orm::is_async());
    CHECK(orm::run([] { return orm::is_async(); }));
    orm::set_async(false);
    CHECK_FALSE(orm::is_async());
    orm::set_async(before);
}

TEST_CASE("this_fiber_id is the running Task's id, and 0 outside any fiber") {
    CHECK(orm::this_fiber_id() == 0);
    std::uint64_t seen = 0;
    auto t = orm::spawn([&] { seen = orm::this_fiber_id(); });
    const std::uint64_t id = t.id();
    t.get();
    CHECK(seen == id);
    CHECK(id != 0);
}
