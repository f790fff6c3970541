// Helpers for the PostgreSQL driver tests: connections to the test server from the environment.
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "drivers/backend.hpp"
#include "drivers/connection.hpp"
#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"
#include "drivers/features.hpp"
#include "drivers/introspection.hpp"
#include "drivers/postgres/pg_backend.hpp"
#include "drivers/schema.hpp"
#include "drivers/value.hpp"

namespace pgtest {

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

}  // namespace pgtest
