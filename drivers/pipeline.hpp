// Sharing connections between the fibers of a thread (automatic pipelining).
//
// A driver whose connections can carry the statements of several fibers at once (PostgreSQL in
// libpq pipeline mode) implements Multiplexed next to Connection. Sharing, one per Database, hands
// out such connections: per thread, the pooled connections now shared by that thread's fibers,
// each with a count of the leases on it. A lease takes the least-loaded one, or a free connection
// from the pool when every shared one is busy and the pool has one to give without waiting, and
// waits only when every connection of the pool is shared by this thread and each carries
// `depth` leases. A connection goes back to the pool when its last lease ends (after the driver
// left pipeline mode), so the pool still bounds the number of connections and transactions
// still get exclusive ones from it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "drivers/bridge/wait_queue.hpp"
#include "drivers/own_ptr.hpp"
#include "drivers/pool.hpp"
#include "drivers/result.hpp"
#include "drivers/value.hpp"

namespace orm::db {

class Multiplexed {
public:
    // Whether `sql` may share the connection with other fibers' statements: it changes no
    // session state and needs no transaction of its own (the driver documents which).
    virtual bool shareable(std::string_view sql) const = 0;
    // Connection::execute() for one of several fibers of the same thread at once. Each statement
    // succeeds or fails on its own; a lost connection fails every statement in flight.
    virtual Result execute_shared(std::string_view sql, std::span<const Value> params) = 0;
    // Called when the last lease on a shared connection ends: waits for what is still in flight
    // and leaves the shared mode, so the connection serves one caller again. A failure marks the
    // connection broken (the pool then discards it).
    virtual void end_sharing() noexcept = 0;

protected:
    ~Multiplexed() = default;
};

class Sharing {
    struct Slot;
    struct PerThread;

public:
    // `on`: whether leases may share connections at all (URL pipelining=on and a driver that can);
    // `depth`: leases per shared connection at most (URL pipeline_depth).
    Sharing(Pool& pool, bool on, std::size_t depth);
    ~Sharing();
    Sharing(const Sharing&) = delete;
    Sharing& operator=(const Sharing&) = delete;

    bool on() const noexcept { return on_; }
    std::size_t depth() const noexcept { return depth_; }

    // One lease on a shared connection; gives it up when destroyed.
    class Ticket {
    public:
        Ticket() = default;
        Ticket(Ticket&& o) noexcept : owner_(o.owner_), pt_(o.pt_), slot_(o.slot_) { o.slot_ = nullptr; }
        Ticket& operator=(Ticket&& o) noexcept {
            if (this != &o) {
                release();
                owner_ = o.owner_;
                pt_ = o.pt_;
                slot_ = o.slot_;
                o.slot_ = nullptr;
            }
            return *this;
        }
        ~Ticket() { release(); }
        explicit operator bool() const noexcept { return slot_ != nullptr; }
        Connection* connection() const noexcept;
        Multiplexed* multiplexed() const noexcept;
        void release() noexcept {
            if (slot_) owner_->give_back(*pt_, slot_);
            slot_ = nullptr;
        }

    private:
        friend class Sharing;
        Ticket(Sharing* owner, PerThread* pt, Slot* slot) : owner_(owner), pt_(pt), slot_(slot) {}
        Sharing* owner_ = nullptr;
        PerThread* pt_ = nullptr;
        Slot* slot_ = nullptr;
    };

    // A lease on a shared connection for the calling fiber's thread. Throws what Pool::acquire
    // throws (orm::TimeoutError after the pool's timeout, orm::ConnectionError).
    Ticket take();

    // Connections this thread shares now (tests and benchmarks).
    std::size_t shared_here() const;
    // The most leases one connection has carried at once since the last reset (any thread).
    std::size_t peak_leases() const noexcept { return peak_.load(std::memory_order_relaxed); }
    void reset_peak() noexcept { peak_.store(0, std::memory_order_relaxed); }

private:
    PerThread& here() const;
    Slot* add_slot(PerThread& pt, PooledConnection c);
    void give_back(PerThread& pt, Slot* slot) noexcept;

    Pool& pool_;
    bool on_;
    std::size_t depth_;
    std::atomic<std::size_t> peak_{0};
    std::uint64_t id_;  // names this object in the threads' lookup caches (never reused)
    mutable std::mutex mu_;
    mutable std::vector<orm::detail::OwnPtr<PerThread>> threads_;
};

}  // namespace orm::db
