// URL option parsing, password masking, and the statement cache (no database).
#include <doctest/doctest.h>

#include "drivers/bridge/bridge.hpp"

#include "drivers/config.hpp"
#include "drivers/errors.hpp"
#include "drivers/statement_cache.hpp"

using namespace orm;
using namespace orm::db;
using namespace std::chrono_literals;

TEST_CASE("durations accept units and bare milliseconds") {
    CHECK(parse_duration_option("t", "250") == 250ms);
    CHECK(parse_duration_option("t", "250ms") == 250ms);
    CHECK(parse_duration_option("t", "1.5s") == 1500ms);
    CHECK(parse_duration_option("t", "2min") == 120000ms);
    CHECK(parse_duration_option("t", "1h") == 3600000ms);
    CHECK_THROWS_WITH_AS(parse_duration_option("pool_timeout", "soon"), doctest::Contains("pool_timeout"), InterfaceError);
    // Out of range: refused with the valid range, never wrapped into a negative duration.
    for (const char* v : {"inf", "infs", "nan", "1e300", "1e300h", "25d", "3000000s", "9223372036854775807"})
        CHECK_THROWS_WITH_AS(parse_duration_option("pool_timeout", v), doctest::Contains("pool_timeout"), InterfaceError);
    CHECK_THROWS_WITH_AS(parse_duration_option("pool_timeout", "1e300"), doctest::Contains("between 0 and 2147483647ms"),
                         InterfaceError);
    CHECK(parse_duration_option("t", "596h") == std::chrono::hours(596));  // just under the limit
    CHECK_THROWS_AS(parse_duration_option("t", "-1s"), InterfaceError);
    CHECK_THROWS_AS(parse_duration_option("t", "5 s"), InterfaceError);
}

TEST_CASE("sizes and booleans") {
    CHECK(parse_size_option("n", "8") == 8);
    CHECK_THROWS_AS(parse_size_option("n", "8x"), InterfaceError);
    CHECK_THROWS_AS(parse_size_option("n", "-1"), InterfaceError);
    CHECK(parse_bool_option("b", "on"));
    CHECK_FALSE(parse_bool_option("b", "0"));
    CHECK_THROWS_WITH_AS(parse_bool_option("foreign_keys", "maybe"), doctest::Contains("true/false"), InterfaceError);
}

TEST_CASE("query strings split and percent-decode; common options are applied") {
    auto pairs = split_query_string("u", "pool_size=3&x=a%20b&&statement_timeout=2s&pool_timeout=100");
    REQUIRE(pairs.size() == 4);
    CHECK(pairs[1].second == "a b");
    ConnectionConfig cfg;
    auto rest = apply_common_options(cfg, pairs);
    CHECK(cfg.pool.max_size == 3);
    CHECK(cfg.statement_timeout == 2000ms);
    CHECK(cfg.pool.acquire_timeout == 100ms);
    apply_common_options(cfg, {{"connect_timeout", "10"}});
    CHECK(cfg.connect_timeout == 10000ms);  // libpq's unit: seconds
    apply_common_options(cfg, {{"connect_timeout", "250ms"}});
    CHECK(cfg.connect_timeout == 250ms);
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].first == "x");
    CHECK_THROWS_AS(split_query_string("u", "novalue"), InterfaceError);
    CHECK_THROWS_AS(split_query_string("u", "a=%zz"), InterfaceError);
    CHECK_THROWS_WITH_AS(apply_common_options(cfg, {{"pool_size", "0"}}), doctest::Contains("at least 1"),
                         InterfaceError);
}

TEST_CASE("passwords are masked in URIs and key=value strings") {
    CHECK(mask_password("postgresql://bob:s3cret@host/db") == "postgresql://bob:***@host/db");
    CHECK(mask_password("host=x password=s3cret dbname=y") == "host=x password=*** dbname=y");
    CHECK(mask_password("host=x password='s3 cret' dbname=y") == "host=x password=*** dbname=y");
    CHECK(mask_password("postgresql://h/db?password=s3cret&x=1") == "postgresql://h/db?password=***&x=1");
    CHECK(mask_password("sqlite:///tmp/a.db") == "sqlite:///tmp/a.db");
    CHECK(mask_password("postgresql://bob:a?b&c@host/db") == "postgresql://bob:***@host/db");
    CHECK(mask_password("host=x PASSWORD = 'it\\'s' user=u") == "host=x PASSWORD = *** user=u");
    CHECK(mask_password("host=x password='unclosed user=u") == "host=x password=*** user=u");
    CHECK(mask_password("a=1&password=&b=2") == "a=1&password=***&b=2");
    CHECK(mask_password("passwords=1 password") == "passwords=1 password");
}

TEST_CASE("masking is linear and flat: 2 kB cloud tokens and 100 kB fields, on a fiber's stack too") {
    // The former std::regex recursed once per character and overflowed a fiber's stack at about
    // 1,000 characters of password (400 of user name) and the main thread's at about 40,000.
    const std::string token(100'000, 'T');
    const std::string user(100'000, 'u');
    auto check_all = [&] {
        CHECK(mask_password("postgresql://" + user + ":" + token + "@host/db") == "postgresql://" + user + ":***@host/db");
        CHECK(mask_password("postgresql://bob:" + token + "@host/db") == "postgresql://bob:***@host/db");
        CHECK(mask_password("host=h password=" + token + " dbname=d") == "host=h password=*** dbname=d");
        CHECK(mask_password("host=h password='" + token + "' dbname=d") == "host=h password=*** dbname=d");
        CHECK(mask_password("postgresql://h/db?user=" + user + "&password=" + token) == "postgresql://h/db?user=" + user + "&password=***");
        CHECK(mask_password("sqlite:///" + user).size() == user.size() + 10);
    };
    check_all();
    orm::run(check_all);  // on a fiber's 128 KiB stack
}

TEST_CASE("the statement cache is an LRU that evicts the least recently used handle") {
    std::vector<int> evicted;
    StatementCache<int> cache(2, [&](int& h) { evicted.push_back(h); });
    CHECK(cache.find("a") == nullptr);
    cache.insert("a", 1);
    cache.insert("b", 2);
    REQUIRE(cache.find("a") != nullptr);  // a is now most recent
    cache.insert("c", 3);                 // evicts b
    CHECK(evicted == std::vector<int>{2});
    CHECK(cache.find("b") == nullptr);
    CHECK(*cache.find("c") == 3);
    cache.erase("a");
    CHECK(evicted == std::vector<int>{2, 1});
    auto st = cache.stats();
    CHECK(st.hits == 2);
    CHECK(st.misses == 2);
    CHECK(st.size == 1);
    cache.clear(false);
    CHECK(evicted.size() == 2);
    StatementCache<int> none(0, [&](int& h) { evicted.push_back(h); });
    CHECK(none.insert("x", 9) == nullptr);
    CHECK(evicted.back() == 9);
}
