// Helpers for the PostgreSQL driver tests: connections to the test server from the environment,
// and both_modes(), which runs a test body in sync mode and again in async mode under fibers.
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

#include "drivers/backend.hpp"
#include "drivers/bridge/bridge.hpp"
#include "drivers/connection.hpp"
#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"
#include "drivers/features.hpp"
#include "drivers/introspection.hpp"
#include "drivers/postgres/pg_backend.hpp"
#include "drivers/schema.hpp"
#include "drivers/value.hpp"

namespace pgtest {

// Async mode for the guard's lifetime, sync again afterwards (even when a check throws).
class AsyncMode {
public:
    AsyncMode() { orm::set_async(true); }
    ~AsyncMode() { orm::set_async(false); }
    AsyncMode(const AsyncMode&) = delete;
    AsyncMode& operator=(const AsyncMode&) = delete;
};

// Runs `body` twice, as two doctest subcases so a failure names its mode: in sync mode on the
// test's thread, then in async mode as the root fiber of orm::run (connections opened inside the
// body connect nonblockingly too). Subcases inside `body` nest under each mode.
template <class F>
void both_modes(F&& body) {
    SUBCASE("sync mode") { body(); }
    SUBCASE("async mode") {
        AsyncMode async;
        orm::run([&] { body(); });
    }
}

// Sleeps without blocking the loop when in a fiber (and plainly outside one).
template <class Rep, class Period>
void pause(std::chrono::duration<Rep, Period> d) {
    orm::sleep_for(d);
}

inline std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

inline const orm::db::Backend& backend() {
    static auto b = orm::db::postgres::make_backend();
    return *b;
}

// WEFT_TEST_PG_URL with extra query options appended ("statement_cache_size=2&...").
inline std::string url_with(const std::string& options = "") {
    std::string url = env("WEFT_TEST_PG_URL");
    if (options.empty()) return url;
    return url + (url.find('?') == std::string::npos ? "?" : "&") + options;
}

inline std::unique_ptr<orm::db::Connection> connect(const std::string& options = "") {
    return backend().connect(backend().parse_url(url_with(options)));
}

// A scratch table name unique to this process, so parallel runs against one server don't clash.
inline std::string table(const std::string& base) {
    static const std::string suffix = std::to_string(::getpid());
    return "weft_t_" + base + "_" + suffix;
}

// Runs f, which must throw E (or a subclass); returns the caught error for further checks.
template <class E, class F>
E expect_error(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e;
    } catch (const std::exception& e) {
        FAIL("expected " << typeid(E).name() << ", got " << typeid(e).name() << ": " << e.what());
    }
    FAIL("expected " << typeid(E).name() << ", nothing was thrown");
    throw std::logic_error("unreachable");
}

inline std::int64_t scalar_int(orm::db::Connection& c, const std::string& sql) {
    auto v = c.execute(sql).scalar<std::int64_t>();
    REQUIRE(v.has_value());
    return *v;
}

// Creates `name` with the given column list, dropping a leftover first; drops it at scope exit.
class ScratchTable {
public:
    ScratchTable(orm::db::Connection& c, std::string name, const std::string& columns) : c_(c), name_(std::move(name)) {
        c_.execute_script("DROP TABLE IF EXISTS " + quoted() + " CASCADE");
        c_.execute_script("CREATE TABLE " + quoted() + " (" + columns + ")");
    }
    ~ScratchTable() {
        try {
            if (!c_.is_broken()) {
                if (c_.transaction_state() != orm::db::TransactionState::idle) c_.rollback();
                c_.execute_script("DROP TABLE IF EXISTS " + quoted() + " CASCADE");
            }
        } catch (...) {
        }
    }
    const std::string& name() const { return name_; }
    std::string quoted() const { return "\"" + name_ + "\""; }

private:
    orm::db::Connection& c_;
    std::string name_;
};

// Drops the named tables now (leftovers) and again at scope exit, even when a check fails.
class DropOnExit {
public:
    DropOnExit(orm::db::Connection& c, std::vector<std::string> tables) : c_(c), tables_(std::move(tables)) { drop(); }
    ~DropOnExit() {
        try {
            if (!c_.is_broken()) {
                if (c_.transaction_state() != orm::db::TransactionState::idle) c_.rollback();
                drop();
            }
        } catch (...) {
        }
    }

private:
    void drop() {
        for (const auto& t : tables_) c_.execute_script("DROP TABLE IF EXISTS \"" + t + "\" CASCADE");
    }
    orm::db::Connection& c_;
    std::vector<std::string> tables_;
};

}  // namespace pgtest
