// The alias -> database registry.
#include "orm/connections.hpp"

#include <map>
#include <shared_mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "drivers/errors.hpp"

namespace orm {

namespace {

struct Registry {
    std::shared_mutex mu;
    std::map<std::string, std::shared_ptr<db::Database>, std::less<>> by_alias;
};

Registry& registry() {
    static Registry* r = new Registry;  // never destroyed: pools may be used during static destruction
    return *r;
}

}  // namespace

db::Database& connect(std::shared_ptr<db::Database> database, std::string_view alias) {
    if (!database) throw InterfaceError("orm::connect: null database");
    if (alias.empty()) throw InterfaceError("orm::connect: empty database alias");
    auto& r = registry();
    std::unique_lock lock(r.mu);
    auto& slot = r.by_alias[std::string(alias)];
    slot = std::move(database);
    return *slot;
}

db::Database& connect(std::string_view url, std::string_view alias) { return connect(db::Database::open(url), alias); }

std::shared_ptr<db::Database> database_ptr(std::string_view alias) {
    auto& r = registry();
    std::shared_lock lock(r.mu);
    if (auto it = r.by_alias.find(alias); it != r.by_alias.end()) return it->second;
    std::vector<std::string> names;
    for (const auto& [n, d] : r.by_alias) names.push_back(n);
    lock.unlock();
    if (names.empty())
        throw InterfaceError(fmt::format("no database '{}' is configured; call orm::connect(url) first", alias));
    throw InterfaceError(fmt::format("no database '{}' is configured; configured aliases: {}", alias,
                                     fmt::join(names, ", ")));
}

db::Database& database(std::string_view alias) { return *database_ptr(alias); }

bool disconnect(std::string_view alias) {
    auto& r = registry();
    std::unique_lock lock(r.mu);
    auto it = r.by_alias.find(alias);
    if (it == r.by_alias.end()) return false;
    r.by_alias.erase(it);
    return true;
}

std::vector<std::string> database_aliases() {
    auto& r = registry();
    std::shared_lock lock(r.mu);
    std::vector<std::string> names;
    for (const auto& [n, d] : r.by_alias) names.push_back(n);
    return names;
}

}  // namespace orm
