// Shared helpers for the SQLite driver tests: temporary directories and opening connections.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "drivers/backend.hpp"
#include "drivers/config.hpp"
#include "drivers/connection.hpp"
#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"
#include "drivers/features.hpp"
#include "drivers/sqlite/sqlite_backend.hpp"

namespace sqlite_test {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::string file(std::string_view name) const { return (path_ / name).string(); }
    // "sqlite:///<dir>/<name>" plus "?options" when given.
    std::string url(std::string_view name, std::string_view options = {}) const;

private:
    std::filesystem::path path_;
};

// Runs for minutes unless stopped: counts to a huge number in a recursive CTE.
inline constexpr const char* endless_query =
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000000000) SELECT count(*) FROM n";

const orm::db::Backend& backend();
std::unique_ptr<orm::db::Connection> open(std::string_view url);
std::unique_ptr<orm::db::Connection> open_memory(std::string_view options = {});

// The first column of the first row as an int64 (fails the test when there is no row).
std::int64_t scalar_int(orm::db::Connection& c, std::string_view sql);

}  // namespace sqlite_test
