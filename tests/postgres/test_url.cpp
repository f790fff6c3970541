// URL forms: libpq URIs and key=value strings, our options taken out first, errors, credentials.
#include "tests/postgres/pg_test.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using pgtest::env;
using pgtest::expect_error;
using Clock = std::chrono::steady_clock;

namespace {

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// A TCP port on 127.0.0.1 with nothing listening (bound then released).
int closed_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

std::string key_value_url(const std::string& extra = "") {
    std::string s = "host=" + env("WEFT_TEST_PG_SOCKET_DIR") + " port=" + env("WEFT_TEST_PG_PORT") +
                    " user=" + env("WEFT_TEST_PG_USER") + " dbname=" + env("WEFT_TEST_PG_DB");
    return extra.empty() ? s : s + " " + extra;
}

}  // namespace

TEST_CASE("URI form: libpq parameters pass through, ours are taken out") {
    pgtest::both_modes([&] {
        auto& b = pgtest::backend();
        auto cfg = b.parse_url(pgtest::url_with(
            "pool_size=3&pool_timeout=2s&health_check_interval=0&connect_timeout=5s&statement_cache_size=17&"
            "statement_timeout=1min&application_name=weft%20uri"));
        CHECK(cfg.backend == &b);
        CHECK(cfg.pool.max_size == 3);
        CHECK(cfg.pool.acquire_timeout == 2s);
        CHECK(cfg.pool.health_check_interval == 0ms);
        CHECK(cfg.connect_timeout == 5s);
        CHECK(cfg.statement_cache_size == 17);
        CHECK(cfg.statement_timeout == 1min);
        CHECK_FALSE(contains(cfg.target, "pool_size"));
        CHECK_FALSE(contains(cfg.target, "statement_cache_size"));
        CHECK(contains(cfg.target, "dbname='" + env("WEFT_TEST_PG_DB") + "'"));
        auto c = b.connect(cfg);
        CHECK(c->execute("SHOW application_name").scalar<std::string>() == "weft uri");
        CHECK(c->execute("SHOW statement_timeout").scalar<std::string>() == "1min");
        CHECK(c->execute("SHOW DateStyle").scalar<std::string>() == "ISO, MDY");
        CHECK(c->execute("SHOW client_encoding").scalar<std::string>() == "UTF8");
        CHECK(c->statement_cache_stats().capacity == 17);
        // The default application name says who connected.
        CHECK(pgtest::connect()->execute("SHOW application_name").scalar<std::string>() == "weft");
    });
}

TEST_CASE("key=value form, with our options and quoted values") {
    pgtest::both_modes([&] {
        auto& b = pgtest::backend();
        auto cfg = b.parse_url(key_value_url(
            "statement_cache_size = 7 application_name='weft \\'kv\\' test' statement_timeout=5s pool_size=2"));
        CHECK(cfg.statement_cache_size == 7);
        CHECK(cfg.statement_timeout == 5s);
        CHECK(cfg.pool.max_size == 2);
        CHECK_FALSE(contains(cfg.target, "statement_cache_size"));
        auto c = b.connect(cfg);
        CHECK(c->execute("SHOW application_name").scalar<std::string>() == "weft 'kv' test");
        CHECK(c->execute("SHOW statement_timeout").scalar<std::string>() == "5s");
        CHECK(pgtest::scalar_int(*c, "SELECT 1") == 1);
    });
}

TEST_CASE("the registry routes postgresql://, postgres:// and key=value strings here") {
    pgtest::both_modes([&] {
        CHECK(orm::db::backend_for_url(env("WEFT_TEST_PG_URL")).name() == "postgresql");
        CHECK(orm::db::backend_for_url(key_value_url()).name() == "postgresql");
        std::string url = env("WEFT_TEST_PG_URL");
        std::string short_scheme = "postgres" + url.substr(url.find("://"));
        auto cfg = orm::db::parse_url(short_scheme);
        CHECK(cfg.backend->name() == "postgresql");
        auto c = cfg.backend->connect(cfg);
        CHECK(pgtest::scalar_int(*c, "SELECT 2") == 2);
        auto kv = orm::db::parse_url(key_value_url("pool_size=5"));
        CHECK(kv.pool.max_size == 5);
        CHECK(pgtest::scalar_int(*kv.backend->connect(kv), "SELECT 3") == 3);
    });
}

TEST_CASE("bad URLs and unknown options are InterfaceErrors quoting libpq") {
    pgtest::both_modes([&] {
        auto& b = pgtest::backend();
        SUBCASE("unknown URI parameter") {
            auto e = expect_error<orm::InterfaceError>([&] { b.parse_url(pgtest::url_with("bogus_option=1")); });
            std::string m = e.what();
            CHECK(contains(m, "invalid URI query parameter: \"bogus_option\""));  // libpq's words
            CHECK(contains(m, "statement_cache_size"));                           // our options listed
        }
        SUBCASE("unknown key=value keyword") {
            auto e = expect_error<orm::InterfaceError>([&] { b.parse_url(key_value_url("bogus=1")); });
            CHECK(contains(e.what(), "invalid connection option \"bogus\""));
        }
        SUBCASE("malformed key=value") {
            auto e = expect_error<orm::InterfaceError>([&] { b.parse_url("host=/tmp dbname"); });
            CHECK(contains(e.what(), "missing \"=\" after \"dbname\""));
            expect_error<orm::InterfaceError>([&] { b.parse_url("host='/tmp dbname=x"); });
        }
        SUBCASE("malformed URI") {
            auto e = expect_error<orm::InterfaceError>([&] { b.parse_url("postgresql://[::1/db"); });
            CHECK(contains(e.what(), "IPv6"));
            expect_error<orm::InterfaceError>([&] { b.parse_url("postgresql://host/db?application_name=%zz"); });
        }
        SUBCASE("bad value for one of our options") {
            auto e = expect_error<orm::InterfaceError>([&] { b.parse_url(pgtest::url_with("statement_timeout=soon")); });
            CHECK(contains(e.what(), "statement_timeout"));
            expect_error<orm::InterfaceError>([&] { b.parse_url(key_value_url("statement_cache_size=-1")); });
        }
        SUBCASE("passwords never appear in messages") {
            auto e = expect_error<orm::InterfaceError>(
                [&] { b.parse_url("postgresql://bob:Sekr1t-pw@localhost/db?bogus=1"); });
            CHECK_FALSE(contains(e.what(), "Sekr1t-pw"));
            auto e2 = expect_error<orm::InterfaceError>([&] { b.parse_url("host=/tmp password='Sekr1t-pw' bogus=1"); });
            CHECK_FALSE(contains(e2.what(), "Sekr1t-pw"));
            auto cfg = b.parse_url("postgresql://bob:Sekr1t-pw@localhost/db?pool_size=2");
            CHECK_FALSE(contains(cfg.url, "Sekr1t-pw"));
            CHECK(contains(cfg.target, "password='Sekr1t-pw'"));  // what libpq gets
        }
    });
}

TEST_CASE("a password containing '?' and '&' stays a password") {
    auto cfg = pgtest::backend().parse_url("postgresql://bob:a%3Fb?c&d@localhost:5999/db?pool_size=4");
    CHECK(cfg.pool.max_size == 4);
    CHECK(contains(cfg.target, "password='a?b?c&d'"));
    CHECK(contains(cfg.target, "port='5999'"));
}

TEST_CASE("an unreachable server is a quick ConnectionError") {
    pgtest::both_modes([&] {
        int port = closed_port();
        auto& b = pgtest::backend();
        auto cfg = b.parse_url("postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/weft_test?connect_timeout=3s");
        auto start = Clock::now();
        auto e = expect_error<orm::ConnectionError>([&] { b.connect(cfg); });
        CHECK(Clock::now() - start < 3s);
        CHECK(e.sqlstate() == "08001");
        CHECK(contains(e.what(), std::to_string(port)));
    });
}

TEST_CASE("TCP with password authentication") {
    pgtest::both_modes([&] {
        std::string url = env("WEFT_TEST_PG_TCP_URL");
        std::string password = env("WEFT_TEST_PG_PASSWORD");
        REQUIRE_FALSE(url.empty());
        auto& b = pgtest::backend();
        SUBCASE("right password") {
            auto c = b.connect(b.parse_url(url));
            CHECK(pgtest::scalar_int(*c, "SELECT 5") == 5);
            CHECK_FALSE(contains(c->config().url, password));
        }
        SUBCASE("wrong password") {
            std::string wrong = url;
            wrong.replace(wrong.find(password), password.size(), "Wr0ng-secret");
            auto e = expect_error<orm::ConnectionError>([&] { b.connect(b.parse_url(wrong)); });
            std::string m = e.what();
            CHECK(contains(m, "authentication"));
            CHECK_FALSE(contains(m, "Wr0ng-secret"));
            CHECK_FALSE(contains(m, password));
        }
    });
}
