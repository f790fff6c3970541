// transaction_pooling=on (issue 16, item 9): unnamed statements, no session SETs, LISTEN refused.
// The option's own behaviour is checked against the server directly; the cases named "through
// PgBouncer" need WEFT_TEST_PGBOUNCER_URL (scripts/test starts PgBouncer 1.18 in transaction
// mode) and are skipped without it.
#include "tests/postgres/pg_test.hpp"

#include <set>

#include <fmt/format.h>

#include "drivers/bridge/join_all.hpp"
#include "drivers/config.hpp"
#include "drivers/database.hpp"

using namespace std::chrono_literals;
using pgtest::both_modes;
using pgtest::expect_error;

namespace {

std::string pgbouncer_url(const std::string& options = "") {
    std::string url = pgtest::env("WEFT_TEST_PGBOUNCER_URL");
    if (url.empty() || options.empty()) return url;
    return url + (url.find('?') == std::string::npos ? "?" : "&") + options;
}

}  // namespace

TEST_CASE("transaction_pooling: the URL option turns the statement cache off and is checked") {
    auto cfg = pgtest::backend().parse_url(pgtest::url_with("transaction_pooling=on"));
    CHECK(cfg.statement_cache_size == 0);
    CHECK(cfg.options.at("transaction_pooling") == "on");
    CHECK(pgtest::backend().parse_url(pgtest::url_with("transaction_pooling=off")).statement_cache_size == 256);
    CHECK(pgtest::backend().parse_url(pgtest::url_with("transaction_pooling=on&statement_cache_size=0")).statement_cache_size == 0);
    auto e = expect_error<orm::InterfaceError>(
        [] { pgtest::backend().parse_url(pgtest::url_with("transaction_pooling=on&statement_cache_size=16")); });
    CHECK(std::string(e.what()).find("statement_cache_size") != std::string::npos);
    expect_error<orm::InterfaceError>([] { pgtest::backend().parse_url(pgtest::url_with("transaction_pooling=maybe")); });
    // The key=value form takes it too.
    auto kv = pgtest::backend().parse_url("host=/tmp dbname=x transaction_pooling=on");
    CHECK(kv.statement_cache_size == 0);
}

TEST_CASE("transaction_pooling: statements are unnamed, and no statement_timeout is SET on the session") {
    both_modes([] {
        auto c = pgtest::connect("transaction_pooling=on&statement_timeout=300ms");
        for (int i = 0; i < 3; ++i) CHECK(c->execute("SELECT $1::int + 1", {i}).scalar<std::int64_t>() == i + 1);
        CHECK(pgtest::scalar_int(*c, "SELECT count(*) FROM pg_prepared_statements") == 0);
        CHECK(c->statement_cache_stats().capacity == 0);
        // The session keeps the server's default: a pooler would hand a SET on to other clients.
        CHECK(c->execute("SHOW statement_timeout").scalar<std::string>() == std::optional<std::string>("0"));
        // ... and the timeout holds all the same: the client's deadline cancels on the server.
        const auto start = std::chrono::steady_clock::now();
        auto t = expect_error<orm::TimeoutError>([&] { c->execute("SELECT pg_sleep(5)"); });
        CHECK(t.sqlstate() == "57014");
        CHECK(std::chrono::steady_clock::now() - start < 3s);
        CHECK(!c->is_broken());
        CHECK(pgtest::scalar_int(*c, "SELECT 7") == 7);
        c->set_statement_timeout(150ms);
        CHECK(c->execute("SHOW statement_timeout").scalar<std::string>() == std::optional<std::string>("0"));
        expect_error<orm::TimeoutError>([&] { c->execute("SELECT pg_sleep(5)"); });
        // Without the option the server gets the SET, as before.
        auto direct = pgtest::connect("statement_timeout=300ms");
        CHECK(direct->execute("SHOW statement_timeout").scalar<std::string>() == std::optional<std::string>("300ms"));
    });
}

TEST_CASE("transaction_pooling: LISTEN is refused with NotSupportedError, other statements run") {
    both_modes([] {
        auto c = pgtest::connect("transaction_pooling=on");
        for (const char* sql : {"LISTEN weft_channel", "  listen \"x\"", "\n;Listen y"}) {
            CAPTURE(sql);
            auto e = expect_error<orm::NotSupportedError>([&] { c->execute(sql); });
            CHECK(std::string(e.what()).find("transaction_pooling") != std::string::npos);
            expect_error<orm::NotSupportedError>([&] { c->execute_script(sql); });
        }
        // Words that only start like it are not LISTEN.
        CHECK(c->execute("SELECT 1 AS listener").scalar<std::int64_t>() == 1);
        auto direct = pgtest::connect();
        direct->execute_script("LISTEN weft_channel; UNLISTEN weft_channel");
    });
}

TEST_CASE("through PgBouncer in transaction mode: named statements collide, transaction_pooling=on does not") {
    if (pgbouncer_url().empty()) {
        MESSAGE("skipped: WEFT_TEST_PGBOUNCER_URL is not set (scripts/test starts PgBouncer)");
        return;
    }
    both_modes([] {
        // Several client connections over fewer server sessions than statements: with named
        // statements the names of one client meet those of another on a shared session.
        {
            auto db = orm::db::Database::open(pgbouncer_url("pool_size=8"));
            std::vector<orm::Task<int>> tasks;
            for (int i = 0; i < 16; ++i)
                tasks.push_back(orm::spawn([&db, i] {
                    int failures = 0;
                    for (int k = 0; k < 5; ++k) {
                        auto c = db->acquire();
                        try {
                            (void)c->execute(fmt::format("SELECT $1::int + {}", k), {i});
                        } catch (const orm::Error&) {
                            ++failures;  // 42P05 "already exists", or another client's statement of that name
                        }
                    }
                    return failures;
                }));
            int failures = 0;
            for (int f : orm::join_all(tasks)) failures += f;
            MESSAGE("named statements through PgBouncer (transaction mode): " << failures << " of 80 failed");
        }
        auto db = orm::db::Database::open(pgbouncer_url("pool_size=8&transaction_pooling=on"));
        std::vector<orm::Task<std::int64_t>> tasks;
        for (int i = 0; i < 16; ++i)
            tasks.push_back(orm::spawn([&db, i] {
                std::int64_t sum = 0;
                for (int k = 0; k < 20; ++k) {
                    auto c = db->acquire();
                    sum += c->execute(fmt::format("SELECT $1::bigint + {}", k % 7), {std::int64_t{i}}).scalar<std::int64_t>().value_or(-1000);
                }
                return sum;
            }));
        auto sums = orm::join_all(tasks);
        for (int i = 0; i < 16; ++i) {
            std::int64_t expected = 0;
            for (int k = 0; k < 20; ++k) expected += i + k % 7;
            CHECK(sums[std::size_t(i)] == expected);
        }
        // A transaction keeps its server session to the end: its statements see each other.
        auto c = db->acquire();
        c->begin();
        c->execute_script("CREATE TEMP TABLE weft_tp (x int) ON COMMIT DROP");
        c->execute("INSERT INTO weft_tp VALUES ($1)", {41});
        CHECK(pgtest::scalar_int(*c, "SELECT x + 1 FROM weft_tp") == 42);
        c->commit();
        // statement_timeout through the pooler: the client's cancel request reaches the statement.
        c->set_statement_timeout(200ms);
        expect_error<orm::TimeoutError>([&] { c->execute("SELECT pg_sleep(5)"); });
        CHECK(!c->is_broken());
        c->set_statement_timeout(0ms);
        CHECK(pgtest::scalar_int(*c, "SELECT 5") == 5);
    });
}
