// Pool: a bounded, thread-safe set of connections to one database, with an acquire timeout,
// a health check on checkout, and broken connections discarded and replaced.
//
// A caller waiting for a free connection waits on an orm::WaitQueue: a fiber suspends (its loop
// runs other fibers, and a connection returned on any thread wakes it through its loop), and a
// plain thread sleeps in its own loop, which with no fibers to run is a plain blocking wait. A new
// connection is opened by the caller that needs it, after the pool's lock is released, so in async
// mode the driver's (async) connect suspends only that caller.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>
#include <functional>
#include <memory>
#include <atomic>
#include <mutex>

#include "drivers/bridge/wait_queue.hpp"
#include "drivers/config.hpp"
#include "drivers/connection.hpp"
#include "drivers/hints.hpp"

namespace orm::db {

class Pool;

// A connection on loan from a pool; returns it (or discards it if broken) when destroyed.
// A connection returned inside a transaction is rolled back first.
class PooledConnection {
public:
    PooledConnection() = default;
    PooledConnection(Pool* pool, std::unique_ptr<Connection> c) : pool_(pool), c_(std::move(c)) {}
    PooledConnection(PooledConnection&& o) noexcept = default;
    PooledConnection& operator=(PooledConnection&& o) noexcept {
        if (this != &o) {
            release();
            pool_ = o.pool_;
            c_ = std::move(o.c_);
        }
        return *this;
    }
    ~PooledConnection() { release(); }

    Connection* operator->() const { return c_.get(); }
    Connection& operator*() const { return *c_; }
    Connection* get() const { return c_.get(); }
    explicit operator bool() const { return c_ != nullptr; }
    // Gives the connection back now (inline: moved-from and empty handles are common and free).
    void release() {
        if (c_) give_back();
    }

private:
    void give_back() noexcept;

    Pool* pool_ = nullptr;
    std::unique_ptr<Connection> c_;
};

struct PoolStats {
    std::size_t open = 0;          // connections that exist (idle + in use)
    std::size_t idle = 0;
    std::size_t in_use = 0;
    std::size_t waiting = 0;       // callers (fibers or threads) waiting in acquire()
    std::uint64_t created = 0;
    std::uint64_t discarded = 0;   // broken or failed health checks
    std::uint64_t timeouts = 0;
};

class Pool {
public:
    using Factory = std::function<std::unique_ptr<Connection>()>;
    Pool(Factory factory, PoolOptions options, std::string description);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // A healthy connection, waiting up to the pool's acquire timeout (suspending only the calling
    // fiber). Throws orm::TimeoutError naming the pool size and how long it waited;
    // orm::ConnectionError if a new connection fails.
    PooledConnection acquire();
    PooledConnection acquire(std::chrono::milliseconds timeout);
    // A connection only if one is there without waiting behind anyone: an idle one, or a new one
    // while the pool is below its size (opening it may throw orm::ConnectionError); else empty.
    PooledConnection try_acquire();
    // Callers waiting in acquire() now.
    std::size_t waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }

    PoolStats stats() const;
    const PoolOptions& options() const { return options_; }
    // Closes idle connections; connections in use are closed when returned.
    void close();

private:
    friend class PooledConnection;
    void give_back(std::unique_ptr<Connection> c) noexcept;
    // The parts of acquire() and give_back() past the slot (see hints.hpp): taking a connection
    // from the idle list, opening one or waiting; rolling back what a connection was returned
    // with (false: it cannot be reused); returning one to the list or closing it; the wake-up or
    // close-out a give_back() that filled the slot may owe.
    WEFT_NOINLINE PooledConnection acquire_from_pool(std::chrono::milliseconds timeout);
    WEFT_NOINLINE bool roll_back_for_reuse(Connection& c) noexcept;
    WEFT_NOINLINE void return_to_pool(std::unique_ptr<Connection> c, bool keep) noexcept;
    WEFT_NOINLINE void after_slot_filled() noexcept;
    // In a forked child (the process's fork generation moved on since this pool last looked):
    // abandons every connection inherited from the parent, which shares their sockets or files.
    WEFT_NOINLINE void forget_after_fork() noexcept;

    // Idle times are judged against health_check_interval (seconds by default) with the
    // kernel's coarse monotonic clock: a few ns per read instead of a full clock read, at a
    // resolution of a scheduler tick (a few ms). A connection's idle time is counted from when it
    // was last handed out (Connection::pool_idle_since_, set by acquire), so returning it reads
    // no clock; the time it was in use counts as idle, which at worst pings a connection that was
    // held for longer than the interval.
    using IdleClock = std::chrono::nanoseconds;  // CLOCK_MONOTONIC_COARSE since boot
    static IdleClock idle_clock_now() noexcept;
    // Checks an idle connection before it is handed out (and stamps it); false: not usable.
    bool healthy(Connection& c) noexcept;
    void discard_idle(std::unique_ptr<Connection> c) noexcept;

    Factory factory_;
    PoolOptions options_;
    std::string description_;
    mutable std::mutex mu_;
    orm::WaitQueue waiters_;  // callers waiting for a connection to be returned or a slot to free up
    std::vector<std::unique_ptr<Connection>> idle_;  // most recently returned last
    // The uncontended path: one idle connection handed from give_back() to acquire() through an
    // atomic slot, taking no lock. give_back() fills it only while nobody waits; a waiter counts
    // itself (waiting_, under mu_) before it looks at the slot, and a give_back() that sees a
    // waiter after filling the slot takes mu_ before waking it (see pool.cpp). Its idle time is
    // in the connection (pool_idle_since_).
    std::atomic<Connection*> hot_{nullptr};
    std::size_t open_ = 0;
    std::atomic<std::size_t> waiting_{0};
    std::atomic<bool> closed_{false};  // written under mu_; read without it by the slot's paths
    std::uint64_t created_ = 0, discarded_ = 0, timeouts_ = 0;
    std::uint64_t generation_ = 0;  // the fork generation this pool's connections belong to
};

}  // namespace orm::db
