// Pool: bounded, thread-safe, with acquire timeout and a health check on checkout. Waiting uses
// orm::WaitQueue, so it suspends fibers and wakes them across threads (see pool.hpp).
#include "drivers/pool.hpp"

#include <time.h>

#include <fmt/format.h>

#include "drivers/bridge/deadline.hpp"
#include "drivers/errors.hpp"

namespace orm::db {

PooledConnection& PooledConnection::operator=(PooledConnection&& o) noexcept {
    if (this != &o) {
        release();
        pool_ = o.pool_;
        c_ = std::move(o.c_);
    }
    return *this;
}

PooledConnection::~PooledConnection() { release(); }

void PooledConnection::release() {
    if (c_ && pool_) pool_->give_back(std::move(c_));
    c_.reset();
}

Pool::Pool(Factory factory, PoolOptions options, std::string description)
    : factory_(std::move(factory)), options_(options), description_(std::move(description)) {}

Pool::~Pool() { close(); }

PooledConnection Pool::acquire() { return acquire(options_.acquire_timeout); }

namespace {

// orm::deadline_after(timeout) measured from `now`, the precise clock read acquire() takes when it
// starts to wait (clock reads are a visible part of a short query's cost, so none on its
// common path).
orm::Deadline deadline_from(orm::Deadline now, std::chrono::milliseconds timeout) noexcept {
    if (std::chrono::duration<double>(timeout) >= std::chrono::duration<double>(orm::no_deadline - now))
        return orm::no_deadline;
    return now + timeout;
}

}  // namespace

Pool::IdleClock Pool::idle_clock_now() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

PooledConnection Pool::acquire(std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    // The deadline is only needed once the caller has to wait: the common path (an idle
    // connection is there) reads no precise clock at all.
    clock::time_point start{};
    orm::Deadline deadline{};
    bool timing = false;
    std::unique_lock lock(mu_);
    for (;;) {
        if (closed_) throw InterfaceError(fmt::format("connection pool for {} is closed", description_));
        // Most recently returned first: its socket and caches are warmest.
        while (!idle_.empty()) {
            Idle item = std::move(idle_.back());
            idle_.pop_back();
            lock.unlock();
            bool ok = false;
            try {
                const bool ping = idle_clock_now() - item.since >= options_.health_check_interval;
                ok = !item.conn->is_broken() && item.conn->is_usable(ping);
            } catch (...) {
                ok = false;
            }
            if (ok) return PooledConnection(this, std::move(item.conn));
            try { item.conn->close(); } catch (...) {}
            item.conn.reset();
            lock.lock();
            --open_;
            ++discarded_;
        }
        if (open_ < options_.max_size) {
            ++open_;
            lock.unlock();
            try {
                auto c = factory_();
                lock.lock();
                ++created_;
                lock.unlock();
                return PooledConnection(this, std::move(c));
            } catch (...) {
                lock.lock();
                --open_;
                lock.unlock();
                waiters_.notify_one();  // the slot is free again
                throw;
            }
        }
        if (!timing) {
            start = clock::now();
            deadline = deadline_from(start, timeout);
            timing = true;
        }
        auto available = [&] { return closed_ || !idle_.empty() || open_ < options_.max_size; };
        ++waiting_;
        bool woke;
        try {
            woke = waiters_.wait_until(lock, deadline, available);
        } catch (...) {
            // The wait itself failed (the fiber's thread is exiting): a wake-up it may have taken
            // belongs to the next waiter. The lock is held again here.
            --waiting_;
            if (available()) waiters_.notify_one();
            throw;
        }
        --waiting_;
        if (!woke) {
            ++timeouts_;
            auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
            throw TimeoutError(fmt::format(
                "no connection available from the pool for {} within {} ms: all {} connections are in use "
                "(pool_size={}); return connections sooner, or raise pool_size or pool_timeout in the URL",
                description_, waited.count(), open_, options_.max_size));
        }
    }
}

void Pool::give_back(std::unique_ptr<Connection> c) noexcept {
    bool keep = !c->is_broken();
    if (keep && c->transaction_state() != TransactionState::idle) {
        // A connection returned mid-transaction must not leak that transaction to its next user.
        try {
            c->rollback();
        } catch (...) {
            keep = false;
        }
        keep = keep && !c->is_broken() && c->transaction_state() == TransactionState::idle;
    }
    std::unique_lock lock(mu_);
    if (!keep || closed_) {
        --open_;
        if (!keep) ++discarded_;
        lock.unlock();
        waiters_.notify_one();  // a slot is free: a waiter may open a new connection meanwhile
        try { c->close(); } catch (...) {}
        c.reset();
        return;
    }
    idle_.push_back({std::move(c), idle_clock_now()});
    // Waiters count themselves under mu_ before they wait, so with none counted here nobody can
    // miss this connection: skip the (comparatively costly) wake-up on the uncontended path.
    const bool wake = waiting_ > 0;
    lock.unlock();
    if (wake) waiters_.notify_one();
}

PoolStats Pool::stats() const {
    std::lock_guard lock(mu_);
    return {open_, idle_.size(), open_ - idle_.size(), waiting_, created_, discarded_, timeouts_};
}

void Pool::close() {
    std::vector<Idle> idle;
    {
        std::lock_guard lock(mu_);
        closed_ = true;
        idle.swap(idle_);
        open_ -= idle.size();
    }
    waiters_.notify_all();
    for (auto& item : idle) {
        try { item.conn->close(); } catch (...) {}
    }
}

}  // namespace orm::db
