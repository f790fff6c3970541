// URL forms and the SQLite backend's options.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "helpers.hpp"

using namespace orm;
using namespace orm::db;
using namespace sqlite_test;
using namespace std::chrono_literals;

namespace {

std::string cwd_path(std::string_view relative) {
    return (std::filesystem::current_path() / relative).lexically_normal().string();
}

}  // namespace

TEST_CASE("URL forms") {
    CHECK(backend().parse_url("sqlite:///abs/path.db").target == "/abs/path.db");
    CHECK(backend().parse_url("sqlite:////abs/path.db").target == "/abs/path.db");
    CHECK(backend().parse_url("sqlite://relative/path.db").target == cwd_path("relative/path.db"));
    CHECK(backend().parse_url("sqlite:relative.db").target == cwd_path("relative.db"));
    CHECK(backend().parse_url("sqlite:./a/../b.db").target == cwd_path("b.db"));
    CHECK(backend().parse_url("sqlite::memory:").target == ":memory:");
    CHECK(backend().parse_url("sqlite://:memory:").target == ":memory:");
    CHECK(backend().parse_url("sqlite:///:memory:").target == ":memory:");
    CHECK(backend().parse_url("SQLite:///x.db").target == "/x.db");
    CHECK(backend().parse_url("sqlite:///with%20space%3F.db").target == "/with space?.db");
    auto cfg = backend().parse_url("sqlite:///x.db?busy_timeout=2s&pool_size=3");
    CHECK(cfg.backend == &backend());
    CHECK(cfg.url == "sqlite:///x.db?busy_timeout=2s&pool_size=3");
    CHECK(cfg.pool.max_size == 3);
    CHECK(cfg.options.at("busy_timeout") == "2s");
    CHECK(backend().parse_url("sqlite::memory:?foreign_keys=off").options.at("foreign_keys") == "off");
    CHECK(backend().parse_url("sqlite:x.db?").options.empty());
}

TEST_CASE("in-memory databases get a pool of one") {
    CHECK(backend().parse_url("sqlite::memory:").pool.max_size == 1);
    CHECK(backend().parse_url("sqlite::memory:?pool_size=8").pool.max_size == 1);
    CHECK(backend().parse_url("sqlite:///x.db?pool_size=8").pool.max_size == 8);
}

TEST_CASE("common options apply") {
    auto cfg = backend().parse_url("sqlite::memory:?statement_timeout=250ms&statement_cache_size=7&pool_timeout=1s");
    CHECK(cfg.statement_timeout == 250ms);
    CHECK(cfg.statement_cache_size == 7);
    CHECK(cfg.pool.acquire_timeout == 1000ms);
}

TEST_CASE("bad URLs say what is wrong") {
    CHECK_THROWS_WITH_AS(backend().parse_url("sqlite://"), doctest::Contains("names no database file"), InterfaceError);
    CHECK_THROWS_WITH_AS(backend().parse_url("sqlite:"), doctest::Contains("sqlite::memory:"), InterfaceError);
    CHECK_THROWS_AS(backend().parse_url("sqlite:?busy_timeout=1s"), InterfaceError);
    CHECK_THROWS_WITH_AS(backend().parse_url("postgresql://host/db"), doctest::Contains("not an SQLite URL"),
                         InterfaceError);
    CHECK_THROWS_WITH_AS(backend().parse_url("sqlite:///x%zz.db"), doctest::Contains("percent"), InterfaceError);
    CHECK_THROWS_AS(backend().parse_url("sqlite:///x%00.db"), InterfaceError);
    CHECK_THROWS_WITH_AS(backend().parse_url("sqlite:x.db?busy_timeout"), doctest::Contains("key=value"),
                         InterfaceError);
}

TEST_CASE("unknown options list the valid ones") {
    try {
        backend().parse_url("sqlite:///x.db?journal=wal");
        FAIL("no exception");
    } catch (const InterfaceError& e) {
        std::string what = e.what();
        CHECK(what.find("unknown option 'journal'") != std::string::npos);
        CHECK(what.find("sqlite:///x.db?journal=wal") != std::string::npos);
        for (auto name : {"busy_timeout", "foreign_keys", "journal_mode", "synchronous", "mode", "transaction_mode", "async_inline",
                          "pool_size", "statement_timeout", "statement_cache_size"})
            CHECK_MESSAGE(what.find(name) != std::string::npos, name);
    }
}

TEST_CASE("bad option values name the option and the choices") {
    CHECK_THROWS_WITH_AS(backend().parse_url("sqlite:x.db?busy_timeout=soon"), doctest::Contains("busy_timeout"),
                         InterfaceError);
    CHECK_THROWS_WITH_AS(backend().parse_url("sqlite:x.db?foreign_keys=maybe"), doctest::Contains("foreign_keys"),
                         InterfaceError);
    CHECK_THROWS_WITH_AS(backend().parse_url("sqlite:x.db?journal_mode=fast"),
                         doctest::Contains("valid values: wal, delete, truncate, persist, memory, off"), InterfaceError);
    CHECK_THROWS_WITH_AS(backend().parse_url("sqlite:x.db?synchronous=always"),
                         doctest::Contains("off, normal, full, extra"), InterfaceError);
    CHECK_THROWS_WITH_AS(backend().parse_url("sqlite:x.db?mode=rwx"), doctest::Contains("rwc, rw, ro"),
                         InterfaceError);
    CHECK_THROWS_AS(backend().parse_url("sqlite:x.db?transaction_mode=lazy"), InterfaceError);
    CHECK_THROWS_AS(backend().parse_url("sqlite:x.db?pool_size=0"), InterfaceError);
    // Values are case-insensitive where SQLite's are.
    CHECK_NOTHROW(backend().parse_url("sqlite:x.db?journal_mode=WAL&synchronous=Normal&mode=RO"));
}

TEST_CASE("options take effect on the connection") {
    TempDir dir;
    auto c = open(dir.url("opts.db", "journal_mode=truncate&synchronous=off&foreign_keys=off"));
    CHECK(c->execute("PRAGMA journal_mode").scalar<std::string>() == std::optional<std::string>("truncate"));
    CHECK(scalar_int(*c, "PRAGMA synchronous") == 0);
    CHECK(scalar_int(*c, "PRAGMA foreign_keys") == 0);
    auto d = open(dir.url("defaults.db"));
    CHECK(d->execute("PRAGMA journal_mode").scalar<std::string>() == std::optional<std::string>("wal"));
    CHECK(scalar_int(*d, "PRAGMA foreign_keys") == 1);
    CHECK(scalar_int(*d, "PRAGMA busy_timeout") == 5000);
    auto m = open_memory("busy_timeout=1500ms");
    CHECK(m->execute("PRAGMA journal_mode").scalar<std::string>() == std::optional<std::string>("memory"));
    CHECK(scalar_int(*m, "PRAGMA busy_timeout") == 1500);
    // A connection built from a hand-made config checks its options too.
    ConnectionConfig cfg = backend().parse_url(dir.url("x.db"));
    cfg.options.emplace("bogus", "1");
    CHECK_THROWS_WITH_AS(backend().connect(cfg), doctest::Contains("unknown option 'bogus'"), InterfaceError);
    cfg = backend().parse_url(dir.url("x.db"));
    cfg.target.clear();
    CHECK_THROWS_WITH_AS(backend().connect(cfg), doctest::Contains("no SQLite database path"), InterfaceError);
}

TEST_CASE("every connection to :memory: is its own database; files are shared") {
    auto a = open_memory();
    auto b = open_memory();
    a->execute_script("CREATE TABLE only_in_a (x)");
    CHECK_THROWS_AS(b->execute("SELECT * FROM only_in_a"), ProgrammingError);
    TempDir dir;
    auto f1 = open(dir.url("shared.db"));
    auto f2 = open(dir.url("shared.db"));
    f1->execute_script("CREATE TABLE shared (x)");
    CHECK_NOTHROW(f2->execute("SELECT * FROM shared"));
}

TEST_CASE("mode=rw refuses to create, rwc creates") {
    TempDir dir;
    CHECK_THROWS_AS(open(dir.url("new.db", "mode=rw")), ConnectionError);
    CHECK_FALSE(std::filesystem::exists(dir.file("new.db")));
    open(dir.url("new.db"));
    CHECK(std::filesystem::exists(dir.file("new.db")));
    CHECK_NOTHROW(open(dir.url("new.db", "mode=rw")));
}

TEST_CASE("the backend describes itself") {
    CHECK(backend().name() == "sqlite");
    CHECK(backend().schemes() == std::vector<std::string_view>{"sqlite"});
    auto names = backend().option_names();
    CHECK(std::find(names.begin(), names.end(), "busy_timeout") != names.end());
    const Features& f = backend().features();
    CHECK(f.is_embedded);
    CHECK(f.supports_returning);
    CHECK(f.has_last_insert_id);
    CHECK(f.supports_statement_timeout);
    CHECK(f.text_allows_nul);
    CHECK_FALSE(f.supports_concurrent_writers);
    CHECK_FALSE(f.strict_column_types);
    // Whatever the linked library allows (32766 by default since 3.32; Debian builds with 250000).
    CHECK(f.max_query_params >= 32766);
    CHECK(backend().dialect().name() == "sqlite");
    CHECK(backend().dialect().placeholder(3) == "?");
}

TEST_CASE("as many parameters as max_query_params, and one more") {
    auto c = open_memory();
    std::size_t n = c->features().max_query_params;
    std::string sql = "SELECT ? IN (?";
    for (std::size_t i = 2; i < n; ++i) sql += ",?";
    std::vector<Value> params;
    params.reserve(n + 1);
    for (std::size_t i = 0; i < n; ++i) params.emplace_back(i == 0 || i + 1 == n ? 7 : 1);
    CHECK(c->execute(sql + ")", params).scalar<bool>() == std::optional<bool>(true));
    params.emplace_back(0);
    CHECK_THROWS_WITH_AS(c->execute(sql + ",?)", params),
                         doctest::Contains(fmt::format("{} bound parameters cannot run: this SQLite build takes at most {}",
                                                       n + 1, n)
                                               .c_str()),
                         orm::ProgrammingError);
}
