// The conformance harness: each test body is written once against the public API and runs for
// every backend and mode. Tests that need a capability ask the backend's feature flags and are
// reported as skipped where it is missing. The same harness builds the user-facing runner
// (weft-conformance --url URL --mode sync|async|both).
#pragma once

#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "orm/orm.hpp"

namespace weft::conformance {

// Thrown by CT_REQUIRE* and Context::require(); ends the current test.
struct Abort {};
struct Skip {
    std::string reason;
};

class Context {
public:
    // `url2`: a second database for the multi-database tests (runner option --url2); empty: one
    // is derived from `url` when first asked for (see second_url()).
    Context(std::string url, std::string prefix, std::string mode, std::string url2 = {});
    ~Context();

    const std::string& url() const { return url_; }
    // A second, separate database: --url2 when given; else derived from the first URL: a SQLite
    // file beside the first one ("x.db" -> "x.second.db"), another in-memory SQLite database, or
    // on a server the same database with search_path set to the schema PREFIXsecond (created
    // here, dropped again when empty at the end of the test).
    const std::string& second_url();
    const std::string& mode() const { return mode_; }
    orm::db::Database& db();
    const orm::db::Features& features() { return db().features(); }
    // The test's own connection (acquired on first use, returned when the test ends).
    orm::db::Connection& conn();
    // A second database object with extra URL options (e.g. "pool_size=2&pool_timeout=100ms").
    std::shared_ptr<orm::db::Database> open_with(std::string_view options);
    // The URL with extra options appended in the URL's own syntax.
    std::string url_with(std::string_view options) const;

    // A table name under the runner's prefix; dropped before the test (leftovers) and after it.
    std::string table(std::string_view base);
    // Creates a table from a spec whose name is a base name (prefixed here); returns the full name.
    std::string create_table(orm::db::TableSpec spec);

    // Skips the test unless the feature is present.
    void require(bool orm::db::Features::*flag, std::string_view name);
    // Skips the test unless the database allows several connections at once.
    void require_multiple_connections();

    void fail(std::string message);
    const std::vector<std::string>& failures() const { return failures_; }
    // A figure worth showing next to the test's result (e.g. a latency); not pass/fail material.
    void note(std::string message) { notes_.push_back(std::move(message)); }
    const std::vector<std::string>& notes() const { return notes_; }
    void finish();  // drops the test's tables, returns the connection

private:
    std::string url_, prefix_, mode_, url2_;
    std::string second_schema_;  // created by second_url(), dropped by finish() if empty
    std::shared_ptr<orm::db::Database> db_;
    orm::db::PooledConnection conn_;
    std::vector<std::string> tables_;
    std::vector<std::string> failures_;
    std::vector<std::string> notes_;
};

// Joins a thread the test started. In a fiber it waits on a worker (orm::run_in_thread), so the
// loop keeps running other fibers instead of stalling in std::thread::join().
void join(std::thread& t);

// Skips the test unless the ORM runs in async mode (tests of many fibers at once: in sync mode
// each query blocks its thread, so they would only run one after another).
inline void require_async() {
    if (!orm::is_async()) throw Skip{"needs async mode (orm::set_async(true))"};
}

using TestFn = void (*)(Context&);
struct TestCase {
    std::string name;
    std::string file;
    TestFn fn;
};
std::vector<TestCase>& registry();
int register_test(const char* name, const char* file, TestFn fn);

// Renders a value for failure messages.
template <class T>
std::string show(const T& v) {
    if constexpr (std::is_same_v<T, orm::Value>) {
        return v.debug_string();
    } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view> ||
                         std::is_same_v<T, const char*>) {
        return orm::Value(std::string_view(v)).debug_string();
    } else if constexpr (std::is_same_v<T, bool>) {
        return v ? "true" : "false";
    } else if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T>) {
        if constexpr (std::is_enum_v<T>) return std::to_string(static_cast<long long>(v));
        else return fmt::format("{}", v);
    } else if constexpr (requires { orm::Value(v); }) {
        return orm::Value(v).debug_string();
    } else {
        return "<value>";
    }
}

}  // namespace weft::conformance

#define CT_CONCAT2(a, b) a##b
#define CT_CONCAT(a, b) CT_CONCAT2(a, b)

#define CONFORMANCE_TEST(name)                                                                                  \
    static void CT_CONCAT(ct_fn_, __LINE__)(::weft::conformance::Context & ctx);                                \
    [[maybe_unused]] static const int CT_CONCAT(ct_reg_, __LINE__) =                                            \
        ::weft::conformance::register_test(name, __FILE__, &CT_CONCAT(ct_fn_, __LINE__));                       \
    static void CT_CONCAT(ct_fn_, __LINE__)([[maybe_unused]] ::weft::conformance::Context & ctx)

#define CT_FAIL_AT(msg) ctx.fail(fmt::format("{}:{}: {}", __FILE__, __LINE__, msg))

#define CT_CHECK(expr)                                                   \
    do {                                                                 \
        if (!(expr)) CT_FAIL_AT(fmt::format("CHECK({}) is false", #expr)); \
    } while (0)

#define CT_REQUIRE(expr)                                                     \
    do {                                                                     \
        if (!(expr)) {                                                       \
            CT_FAIL_AT(fmt::format("REQUIRE({}) is false", #expr));           \
            throw ::weft::conformance::Abort{};                              \
        }                                                                    \
    } while (0)

#define CT_CHECK_EQ(a, b)                                                                                    \
    do {                                                                                                     \
        /* copies: `get(...).author->name` refers into a temporary that dies with this statement */        \
        const auto ct_a_ = (a);                                                                              \
        const auto ct_b_ = (b);                                                                              \
        if (!(ct_a_ == ct_b_))                                                                               \
            CT_FAIL_AT(fmt::format("CHECK_EQ({}, {}): {} != {}", #a, #b, ::weft::conformance::show(ct_a_),  \
                                   ::weft::conformance::show(ct_b_)));                                       \
    } while (0)

// Checks that `expr` throws `type` (or a subclass of it); CT_CHECK_THROWS_WITH also checks the message.
#define CT_CHECK_THROWS_AS(expr, type)                                                                     \
    do {                                                                                                   \
        try {                                                                                              \
            (void)(expr);                                                                                  \
            CT_FAIL_AT(fmt::format("{} did not throw {}", #expr, #type));                                  \
        } catch (const type&) {                                                                            \
        } catch (const ::weft::conformance::Abort&) {                                                      \
            throw;                                                                                         \
        } catch (const std::exception& ct_e_) {                                                            \
            CT_FAIL_AT(fmt::format("{} threw {} ('{}'), not {}", #expr, typeid(ct_e_).name(), ct_e_.what(), \
                                   #type));                                                                \
        }                                                                                                  \
    } while (0)

// Like CT_CHECK_THROWS_AS, and the exception's what() must contain each of the strings that follow.
#define CT_CHECK_THROWS_WITH(expr, type, ...)                                                              \
    do {                                                                                                   \
        try {                                                                                              \
            (void)(expr);                                                                                  \
            CT_FAIL_AT(fmt::format("{} did not throw {}", #expr, #type));                                  \
        } catch (const type& ct_e_) {                                                                      \
            const std::string_view ct_m_ = ct_e_.what();                                                   \
            const std::string ct_needles_[] = {__VA_ARGS__};                                               \
            for (const std::string& ct_needle_ : ct_needles_)                                              \
                if (ct_m_.find(ct_needle_) == std::string_view::npos)                                      \
                    CT_FAIL_AT(fmt::format("{} threw {} whose message '{}' lacks '{}'", #expr, #type, ct_m_, \
                                           ct_needle_));                                                   \
        } catch (const ::weft::conformance::Abort&) {                                                      \
            throw;                                                                                         \
        } catch (const std::exception& ct_e_) {                                                            \
            CT_FAIL_AT(fmt::format("{} threw {} ('{}'), not {}", #expr, typeid(ct_e_).name(), ct_e_.what(), \
                                   #type));                                                                \
        }                                                                                                  \
    } while (0)

#define CT_REQUIRE_FEATURE(flag) ctx.require(&::orm::db::Features::flag, #flag)
