// orm::PrimaryReplicaRouter: reads go to a streaming replica, writes to the primary, and a fiber
// (or thread) that wrote reads its own writes.
//
//     orm::connect("postgresql://app@primary/db", "default");
//     orm::connect("postgresql://app@replica/db", "replica");
//     auto router = std::make_shared<orm::PrimaryReplicaRouter>();   // "default" + {"replica"}
//     orm::add_router(router);
//
// Read-your-writes: db_for_write() pins the calling fiber's (or thread's, outside fibers) reads to
// the primary. At its next read the router asks the primary where its write-ahead log ends (every
// write of that fiber committed so far lies before it) and keeps the reads on the primary until
// the replica has replayed that far (Dialect::wal_write_position_sql /
// wal_replay_position_sql: pg_current_wal_insert_lsn() and pg_last_wal_replay_lsn()); then the
// pin is dropped. Inside a transaction on the primary (orm::atomic) every read goes to the
// primary, for the rest of the transaction. Other fibers are not pinned: they may read a value
// older than the one just written (the replication lag; see the README).
//
// Cost: nothing for a fiber that has not written. After a write, the first read costs one round
// trip to the primary and, unless the replica was already seen past that point, one to the
// replica; reads while pinned cost one round trip to the replica each.
//
// Writes that bypass the router (raw SQL on a connection of the primary) can pin with
// note_write(). A write that reaches a replica anyway fails with orm::ReadOnlyError (SQLSTATE
// 25006). Backends without replication positions (an empty wal_write_position_sql) keep a
// pinned fiber on the primary until unpin() (there is nothing to compare).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/own_ptr.hpp"
#include "orm/routers.hpp"

namespace orm {

struct ReplicaRouterOptions {
    std::string primary = "default";
    std::vector<std::string> replicas = {"replica"};  // reads rotate over them
    // false: no pinning at all (every read outside a primary transaction goes to a replica).
    bool read_your_writes = true;
};

struct ReplicaRouterStats {
    std::uint64_t replica_reads = 0;        // reads sent to a replica
    std::uint64_t pinned_reads = 0;         // reads kept on the primary after a write
    std::uint64_t transaction_reads = 0;    // reads on the primary inside a transaction there
    std::uint64_t writes = 0;               // db_for_write() calls (and note_write())
    std::uint64_t position_queries = 0;     // round trips asking a server for a WAL position
    std::uint64_t unpins = 0;               // pins dropped because a replica caught up
};

class PrimaryReplicaRouter final : public Router {
public:
    explicit PrimaryReplicaRouter(ReplicaRouterOptions options = {});
    ~PrimaryReplicaRouter() override;

    std::optional<std::string> db_for_read(const ModelInfo& m) const override;
    std::optional<std::string> db_for_write(const ModelInfo& m) const override;
    // The primary and its replicas hold the same data: objects on any of them may be related.
    std::optional<bool> allow_relation(const ModelInfo& a, std::string_view alias_a, const ModelInfo& b,
                                       std::string_view alias_b) const override;
    // Tables are created on the primary only (replicas get them through replication).
    std::optional<bool> allow_migrate(std::string_view alias, const ModelInfo& m) const override;

    // Pins the calling fiber's reads to the primary, as a routed write does.
    void note_write() const;
    // Drops the calling fiber's pin now.
    void unpin() const;
    // Whether the calling fiber's reads are pinned to the primary (until a replica catches up).
    bool pinned() const;
    ReplicaRouterStats stats() const;
    const ReplicaRouterOptions& options() const { return options_; }

private:
    struct State;
    const std::string& next_replica() const;
    // Whether `replica` has replayed up to `position`; asks it unless it was seen past it already.
    bool replayed(const std::string& replica, std::int64_t position) const;

    ReplicaRouterOptions options_;
    detail::OwnPtr<State> state_;
};

}  // namespace orm
