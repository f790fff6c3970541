// Transactions pinned to the calling fiber: a per-thread table keyed by (fiber id, alias) holds
// each open transaction's connection, depth and on_commit hooks.
#include "orm/atomic.hpp"

#include <map>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "drivers/bridge/this_fiber.hpp"
#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"
#include "drivers/features.hpp"
#include "drivers/hints.hpp"
#include "orm/connections.hpp"
#include "orm/session.hpp"

namespace orm {

namespace detail {

struct TxState {
    std::string alias;
    std::uint64_t fiber = 0;
    std::shared_ptr<db::Database> db;
    db::PooledConnection conn;
    std::size_t depth = 0;
    bool savepoints = true;
    std::vector<std::pair<std::size_t, std::function<void()>>> hooks;  // (depth registered at, hook)
};

namespace {

using Key = std::pair<std::uint64_t, std::string>;

struct KeyLess {
    using is_transparent = void;
    bool operator()(const Key& a, const Key& b) const { return a < b; }
    bool operator()(const Key& a, const std::pair<std::uint64_t, std::string_view>& b) const {
        return std::tie(a.first, a.second) < std::tie(b.first, b.second);
    }
    bool operator()(const std::pair<std::uint64_t, std::string_view>& a, const Key& b) const {
        return std::tie(a.first, a.second) < std::tie(b.first, b.second);
    }
};

// Fibers of one loop all run on its thread, so a thread-local table keyed by fiber id suffices.
thread_local std::map<Key, std::unique_ptr<TxState>, KeyLess> open_transactions;
// open_transactions.size(): a plain thread_local, read without the map's initialization check
// (every statement outside a transaction asks).
thread_local std::size_t open_count = 0;

WEFT_HOT TxState* find_state(std::string_view alias) noexcept {
    if (open_count == 0) return nullptr;
    auto it = open_transactions.find(std::pair<std::uint64_t, std::string_view>(this_fiber_id(), alias));
    return it == open_transactions.end() ? nullptr : it->second.get();
}

std::string savepoint_name(std::size_t depth) { return fmt::format("weft_sp_{}", depth); }

}  // namespace

WEFT_HOT db::Connection* pinned_connection(std::string_view alias) noexcept {
    TxState* s = find_state(alias);
    return s ? s->conn.get() : nullptr;
}

}  // namespace detail

Atomic::Atomic(std::string_view alias) {
    using namespace detail;
    if (TxState* s = find_state(alias)) {
        const std::size_t depth = s->depth + 1;
        if (s->savepoints) {
            auto name = savepoint_name(depth);
            logged(s->alias, s->conn->dialect().savepoint_sql(name), [&] { s->conn->savepoint(name); });
        }
        s->depth = depth;
        state_ = s;
        depth_ = depth;
        return;
    }
    auto st = std::make_unique<TxState>();
    st->alias = std::string(alias);
    st->fiber = this_fiber_id();
    st->db = database_ptr(alias);
    st->conn = st->db->acquire();
    st->savepoints = st->conn->features().supports_savepoints;
    logged(st->alias, st->conn->dialect().begin_sql(), [&] { st->conn->begin(); });
    st->depth = 1;
    state_ = st.get();
    depth_ = 1;
    open_transactions.emplace(Key{st->fiber, st->alias}, std::move(st));
    open_count = open_transactions.size();
}

Atomic::~Atomic() {
    if (done_) return;
    try {
        finish(false);
    } catch (...) {
        // A rollback that fails leaves the connection broken; the pool discards it.
    }
}

void Atomic::commit() { finish(true); }
void Atomic::rollback() { finish(false); }

void Atomic::finish(bool commit) {
    using namespace detail;
    if (done_) throw InterfaceError("this atomic block has already been committed or rolled back");
    TxState* s = state_;
    if (s->depth != depth_) {
        done_ = true;
        throw InterfaceError(fmt::format("atomic blocks must end innermost first: block {} ends while block {} is open",
                                         depth_, s->depth));
    }
    done_ = true;
    if (depth_ > 1) {
        // Nested: a savepoint. Hooks of a committed inner block now belong to the outer one.
        s->depth = depth_ - 1;
        if (!s->savepoints) {
            if (!commit) throw InterfaceError("nested atomic block rolled back on a backend without savepoints");
            return;
        }
        auto name = savepoint_name(depth_);
        auto& conn = *s->conn;
        if (commit) {
            logged(s->alias, conn.dialect().release_savepoint_sql(name), [&] { conn.release_savepoint(name); });
            for (auto& h : s->hooks)
                if (h.first >= depth_) h.first = depth_ - 1;
        } else {
            std::erase_if(s->hooks, [&](const auto& h) { return h.first >= depth_; });
            logged(s->alias, conn.dialect().rollback_to_savepoint_sql(name),
                   [&] { conn.rollback_to_savepoint(name); });
            logged(s->alias, conn.dialect().release_savepoint_sql(name), [&] { conn.release_savepoint(name); });
        }
        return;
    }
    // Outermost: the state leaves the table whatever happens, and the connection goes back.
    std::unique_ptr<TxState> owned;
    {
        auto it = open_transactions.find(std::pair<std::uint64_t, std::string_view>(s->fiber, s->alias));
        if (it != open_transactions.end()) {
            owned = std::move(it->second);
            open_transactions.erase(it);
            open_count = open_transactions.size();
        }
    }
    std::vector<std::function<void()>> hooks;
    if (commit) {
        logged(s->alias, "COMMIT", [&] { s->conn->commit(); });
        for (auto& h : s->hooks) hooks.push_back(std::move(h.second));
    } else if (!s->conn->is_broken() && s->conn->transaction_state() != db::TransactionState::idle) {
        logged(s->alias, "ROLLBACK", [&] { s->conn->rollback(); });
    }
    owned.reset();  // returns the connection before the hooks run (they may use the database)
    for (auto& h : hooks) h();
}

void on_commit(std::function<void()> fn, std::string_view alias) {
    if (detail::TxState* s = detail::find_state(alias)) {
        s->hooks.emplace_back(s->depth, std::move(fn));
        return;
    }
    fn();
}

bool in_atomic(std::string_view alias) { return detail::find_state(alias) != nullptr; }

}  // namespace orm
