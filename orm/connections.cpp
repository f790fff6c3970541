// The alias -> database registry.
#include "orm/connections.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <shared_mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "drivers/errors.hpp"
#include "drivers/hints.hpp"
#include "orm/model_info.hpp"

namespace orm {

namespace {

struct Registry {
    std::shared_mutex mu;
    std::map<std::string, std::shared_ptr<db::Database>, std::less<>> by_alias;
    // Bumped (under mu) by every change of by_alias, so per-thread memos can tell they are current.
    std::atomic<std::uint64_t> generation{1};
};

Registry& registry() {
    static Registry* r = new Registry;  // never destroyed: pools may be used during static destruction
    return *r;
}

// The alias this thread looked up last: a loop of ORM calls (each borrows a connection through
// database_ptr) then takes neither the registry's lock nor a map lookup. It holds a weak
// reference, so a disconnected database still closes once its users let go of it.
struct Memo {
    std::uint64_t generation = 0;
    std::string alias;
    const std::string* interned = nullptr;  // intern_alias(alias): a view of it matches by address
    std::weak_ptr<db::Database> database;
};
thread_local Memo memo;

// database_ptr() when the memo does not answer (the first call, another alias than the last, a
// changed registry): the registry, under its lock; remembers the answer.
WEFT_NOINLINE std::shared_ptr<db::Database> look_up_and_remember(std::string_view alias) {
    auto& r = registry();
    Memo& m = memo;
    std::shared_lock lock(r.mu);
    if (auto it = r.by_alias.find(alias); it != r.by_alias.end()) {
        // The generation goes in last: a memo that could not be filled (no memory) stays stale.
        m.generation = 0;
        m.interned = detail::intern_alias(alias);
        m.alias.assign(alias);
        m.database = it->second;
        m.generation = r.generation.load(std::memory_order_relaxed);  // stable while mu is held
        return it->second;
    }
    std::vector<std::string> names;
    for (const auto& [n, d] : r.by_alias) names.push_back(n);
    lock.unlock();
    if (names.empty())
        throw InterfaceError(fmt::format("no database '{}' is configured; call orm::connect(url) first", alias));
    throw InterfaceError(fmt::format("no database '{}' is configured; configured aliases: {}", alias,
                                     fmt::join(names, ", ")));
}

}  // namespace

db::Database& connect(std::shared_ptr<db::Database> database, std::string_view alias) {
    if (!database) throw InterfaceError("orm::connect: null database");
    if (alias.empty()) throw InterfaceError("orm::connect: empty database alias");
    auto& r = registry();
    std::unique_lock lock(r.mu);
    auto& slot = r.by_alias[std::string(alias)];
    slot = std::move(database);
    r.generation.fetch_add(1, std::memory_order_release);
    return *slot;
}

db::Database& connect(std::string_view url, std::string_view alias) { return connect(db::Database::open(url), alias); }

WEFT_HOT std::shared_ptr<db::Database> database_ptr(std::string_view alias) {
    auto& r = registry();
    Memo& m = memo;
    // Unchanged generation: the registry maps `alias` as it did when the memo was taken (a
    // concurrent change is ordered after this lookup, as if it had happened a moment later).
    // The ORM passes views of interned names (they never move or change), so the address
    // usually decides; other views are compared by content.
    if (m.generation == r.generation.load(std::memory_order_acquire) &&
        ((alias.data() == m.interned->data() && alias.size() == m.interned->size()) || m.alias == alias))
        if (auto db = m.database.lock()) return db;
    return look_up_and_remember(alias);
}

db::Database& database(std::string_view alias) { return *database_ptr(alias); }

bool disconnect(std::string_view alias) {
    auto& r = registry();
    std::unique_lock lock(r.mu);
    auto it = r.by_alias.find(alias);
    if (it == r.by_alias.end()) return false;
    r.by_alias.erase(it);
    r.generation.fetch_add(1, std::memory_order_release);
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
