// Shared helpers for the SQLite driver tests.
#include "helpers.hpp"

#include <atomic>
#include <stdexcept>

#include <fmt/format.h>
#include <unistd.h>

namespace sqlite_test {

TempDir::TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("weft-sqlite-test-{}-{}", ::getpid(), counter.fetch_add(1));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string TempDir::url(std::string_view name, std::string_view options) const {
    std::string u = "sqlite://" + file(name);  // file() is absolute: sqlite:///tmp/...
    if (!options.empty()) u += fmt::format("?{}", options);
    return u;
}

const orm::db::Backend& backend() {
    static auto b = orm::db::sqlite::make_backend();
    return *b;
}

std::unique_ptr<orm::db::Connection> open(std::string_view url) { return backend().connect(backend().parse_url(url)); }

std::unique_ptr<orm::db::Connection> open_memory(std::string_view options) {
    std::string url = "sqlite::memory:";
    if (!options.empty()) url += fmt::format("?{}", options);
    return open(url);
}

std::int64_t scalar_int(orm::db::Connection& c, std::string_view sql) {
    auto v = c.execute(sql).scalar<std::int64_t>();
    if (!v) throw std::runtime_error(fmt::format("no row (or NULL) from: {}", sql));
    return *v;
}

}  // namespace sqlite_test
