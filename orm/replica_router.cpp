// PrimaryReplicaRouter: the pins (one per fiber or thread that wrote) and the WAL positions.
#include "orm/replica_router.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "drivers/bridge/this_fiber.hpp"
#include "drivers/database.hpp"
#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"
#include "orm/atomic.hpp"
#include "orm/connections.hpp"

namespace orm {

namespace {

using Clock = std::chrono::steady_clock;

// Who is calling: the fiber's id, or outside fibers an id of the thread (top bit set, so the two
// never meet; fiber ids are never reused).
std::uint64_t caller_key() noexcept {
    if (std::uint64_t f = this_fiber_id()) return f;
    static std::atomic<std::uint64_t> next_thread{1};
    thread_local const std::uint64_t key = (std::uint64_t{1} << 63) | next_thread.fetch_add(1);
    return key;
}

// One WAL position query on `alias`: nullopt when the backend has none or the server answers
// NULL (not a standby).
std::optional<std::int64_t> wal_position(std::string_view alias, bool replay) {
    db::Database& database = orm::database(alias);
    const std::string_view sql =
        replay ? database.dialect().wal_replay_position_sql() : database.dialect().wal_write_position_sql();
    if (sql.empty()) return std::nullopt;
    auto c = database.acquire();
    return c->execute(sql).scalar<std::int64_t>();
}

constexpr std::int64_t unknown_position = -1;  // written, position not asked yet
constexpr std::size_t prune_above = 4096;      // pins kept before stale ones are pruned

}  // namespace

struct PrimaryReplicaRouter::State {
    struct Pin {
        std::int64_t position = unknown_position;
        Clock::time_point since;
    };
    mutable std::mutex mu;
    std::unordered_map<std::uint64_t, Pin> pins;
    // The furthest replay position each replica was seen at (only grows while it is a standby).
    std::unordered_map<std::string, std::int64_t> replayed;
    std::atomic<std::uint64_t> turn{0};
    std::atomic<std::uint64_t> replica_reads{0}, pinned_reads{0}, transaction_reads{0}, writes{0},
        position_queries{0}, unpins{0};

    // Pins of fibers that ended without reading again would stay forever: past prune_above,
    // drop those whose position every replica has replayed, and those older than a minute
    // whose position was never asked (a fiber that wrote and did not read again).
    void prune_locked() {
        if (pins.size() <= prune_above) return;
        std::int64_t everywhere = INT64_MAX;
        for (const auto& [_, p] : replayed) everywhere = std::min(everywhere, p);
        if (replayed.empty()) everywhere = -1;
        const auto old = Clock::now() - std::chrono::minutes(1);
        std::erase_if(pins, [&](const auto& kv) {
            const Pin& p = kv.second;
            return (p.position != unknown_position && p.position <= everywhere) ||
                   (p.position == unknown_position && p.since < old);
        });
    }
};

PrimaryReplicaRouter::PrimaryReplicaRouter(ReplicaRouterOptions options)
    : options_(std::move(options)), state_(new State()) {
    if (options_.primary.empty()) throw InterfaceError("PrimaryReplicaRouter: the primary's alias is empty");
    if (options_.replicas.empty())
        throw InterfaceError("PrimaryReplicaRouter: no replica aliases (reads would have nowhere to go but the primary; "
                             "install no router instead)");
    for (const auto& r : options_.replicas)
        if (r.empty() || r == options_.primary)
            throw InterfaceError(fmt::format("PrimaryReplicaRouter: replica alias '{}' must be non-empty and differ "
                                             "from the primary's ('{}')",
                                             r, options_.primary));
}

PrimaryReplicaRouter::~PrimaryReplicaRouter() = default;

const std::string& PrimaryReplicaRouter::next_replica() const {
    const auto n = options_.replicas.size();
    if (n == 1) return options_.replicas.front();
    return options_.replicas[state_->turn.fetch_add(1, std::memory_order_relaxed) % n];
}

bool PrimaryReplicaRouter::replayed(const std::string& replica, std::int64_t position) const {
    {
        std::lock_guard lock(state_->mu);
        auto it = state_->replayed.find(replica);
        if (it != state_->replayed.end() && it->second >= position) return true;
    }
    state_->position_queries.fetch_add(1, std::memory_order_relaxed);
    std::optional<std::int64_t> now;
    try {
        now = wal_position(replica, true);
    } catch (const DatabaseError&) {
        return false;  // the replica cannot say (unreachable, restarting): stay on the primary
    }
    if (!now) return false;  // not a standby (promoted?) or no positions: nothing to compare
    std::lock_guard lock(state_->mu);
    auto& seen = state_->replayed[replica];
    seen = std::max(seen, *now);
    return *now >= position;
}

std::optional<std::string> PrimaryReplicaRouter::db_for_read(const ModelInfo&) const {
    if (in_atomic(options_.primary)) {
        state_->transaction_reads.fetch_add(1, std::memory_order_relaxed);
        return options_.primary;
    }
    if (options_.read_your_writes) {
        const std::uint64_t key = caller_key();
        std::optional<State::Pin> pin;
        {
            std::lock_guard lock(state_->mu);
            auto it = state_->pins.find(key);
            if (it != state_->pins.end()) pin = it->second;
        }
        if (pin) {
            if (pin->position == unknown_position) {
                // This fiber's writes have all returned by now (it is here, reading), so the
                // primary's WAL end lies past every one of them.
                std::optional<std::int64_t> at;
                try {
                    state_->position_queries.fetch_add(1, std::memory_order_relaxed);
                    at = wal_position(options_.primary, false);
                } catch (const DatabaseError&) {
                }
                if (!at) {
                    state_->pinned_reads.fetch_add(1, std::memory_order_relaxed);
                    return options_.primary;
                }
                pin->position = *at;
                std::lock_guard lock(state_->mu);
                auto it = state_->pins.find(key);
                // Another write of this fiber meanwhile (db_for_write reset it) stays unknown.
                if (it != state_->pins.end() && it->second.position == unknown_position) it->second.position = *at;
            }
            const std::string& replica = next_replica();
            if (!replayed(replica, pin->position)) {
                state_->pinned_reads.fetch_add(1, std::memory_order_relaxed);
                return options_.primary;
            }
            {
                std::lock_guard lock(state_->mu);
                auto it = state_->pins.find(key);
                if (it != state_->pins.end() && it->second.position != unknown_position &&
                    it->second.position <= pin->position)
                    state_->pins.erase(it);
            }
            state_->unpins.fetch_add(1, std::memory_order_relaxed);
            state_->replica_reads.fetch_add(1, std::memory_order_relaxed);
            return replica;
        }
    }
    state_->replica_reads.fetch_add(1, std::memory_order_relaxed);
    return next_replica();
}

std::optional<std::string> PrimaryReplicaRouter::db_for_write(const ModelInfo&) const {
    note_write();
    return options_.primary;
}

void PrimaryReplicaRouter::note_write() const {
    state_->writes.fetch_add(1, std::memory_order_relaxed);
    if (!options_.read_your_writes) return;
    std::lock_guard lock(state_->mu);
    auto& pin = state_->pins[caller_key()];
    pin.position = unknown_position;  // asked at the next read, after this write has returned
    pin.since = Clock::now();
    state_->prune_locked();
}

void PrimaryReplicaRouter::unpin() const {
    std::lock_guard lock(state_->mu);
    state_->pins.erase(caller_key());
}

bool PrimaryReplicaRouter::pinned() const {
    std::lock_guard lock(state_->mu);
    return state_->pins.count(caller_key()) != 0;
}

std::optional<bool> PrimaryReplicaRouter::allow_relation(const ModelInfo&, std::string_view alias_a, const ModelInfo&,
                                                         std::string_view alias_b) const {
    auto ours = [&](std::string_view a) {
        if (a == options_.primary) return true;
        for (const auto& r : options_.replicas)
            if (a == r) return true;
        return false;
    };
    if (ours(alias_a) && ours(alias_b)) return true;
    return std::nullopt;
}

std::optional<bool> PrimaryReplicaRouter::allow_migrate(std::string_view alias, const ModelInfo&) const {
    if (alias == options_.primary) return true;
    for (const auto& r : options_.replicas)
        if (alias == r) return false;
    return std::nullopt;
}

ReplicaRouterStats PrimaryReplicaRouter::stats() const {
    auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    return {get(state_->replica_reads), get(state_->pinned_reads), get(state_->transaction_reads),
            get(state_->writes), get(state_->position_queries), get(state_->unpins)};
}

}  // namespace orm
