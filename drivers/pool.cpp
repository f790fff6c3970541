// Pool: bounded, thread-safe, with acquire timeout and a health check on checkout. Waiting uses
// orm::WaitQueue, so it suspends fibers and wakes them across threads (see pool.hpp).
#include "drivers/pool.hpp"

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <new>

#include <fmt/format.h>

#include "drivers/bridge/deadline.hpp"
#include "drivers/errors.hpp"
#include "drivers/hints.hpp"

namespace orm::db {

WEFT_HOT void PooledConnection::give_back() noexcept {
    if (pool_) pool_->give_back(std::move(c_));
    c_.reset();
}

namespace {

// Counts the fork()s this process descends from: a pool that sees it move on is in a child.
std::atomic<std::uint64_t> fork_generation{0};

void count_fork_in_child() noexcept { fork_generation.fetch_add(1, std::memory_order_relaxed); }

std::uint64_t current_fork_generation() noexcept {
    static const bool registered = (::pthread_atfork(nullptr, nullptr, count_fork_in_child), true);
    (void)registered;
    return fork_generation.load(std::memory_order_relaxed);
}

}  // namespace

Pool::Pool(Factory factory, PoolOptions options, std::string description)
    : factory_(std::move(factory)), options_(options), description_(std::move(description)),
      generation_(current_fork_generation()) {}

void Pool::forget_after_fork() noexcept {
    // Only the forking thread exists in the child: a mutex or wait queue that a thread of the
    // parent held at the fork would never be released, so both start over.
    new (&mu_) std::mutex;
    new (&waiters_) orm::WaitQueue;
    waiting_.store(0, std::memory_order_seq_cst);
    std::vector<std::unique_ptr<Connection>> inherited;
    inherited.swap(idle_);
    if (Connection* hot = hot_.exchange(nullptr, std::memory_order_acquire)) inherited.emplace_back(hot);
    for (auto& c : inherited) c->abandon_after_fork();
    inherited.clear();
    // Connections on loan at the fork are the parent's too: they are abandoned when returned
    // (their generation is older), and count no more.
    open_ = 0;
    generation_ = fork_generation.load(std::memory_order_relaxed);
}

Pool::~Pool() { close(); }

WEFT_HOT PooledConnection Pool::acquire() { return acquire(options_.acquire_timeout); }

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

WEFT_HOT Pool::IdleClock Pool::idle_clock_now() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

WEFT_HOT bool Pool::healthy(Connection& c) noexcept {
    bool ok = false;
    try {
        const IdleClock now = idle_clock_now();
        const bool ping = now - c.pool_idle_since_ >= options_.health_check_interval;
        ok = c.is_usable(ping);  // false for a broken connection too
        c.pool_idle_since_ = now;
    } catch (...) {
        ok = false;
    }
    return ok;
}

namespace {

// The pool's counts that opening a connection updates, all guarded by `mu`.
struct SlotBooks {
    std::mutex& mu;
    std::size_t& open;
    std::uint64_t& created;
    orm::WaitQueue& waiters;
};

// Opens a connection in a slot the caller has already counted in `open` (under `mu`, which it
// no longer holds): counts it as created; if the factory throws, frees the slot again, wakes a
// waiter (who may open one meanwhile) and rethrows.
std::unique_ptr<Connection> open_in_slot(const SlotBooks& books, const Pool::Factory& factory) {
    try {
        auto c = factory();
        std::lock_guard lock(books.mu);
        ++books.created;
        return c;
    } catch (...) {
        {
            std::lock_guard lock(books.mu);
            --books.open;
        }
        books.waiters.notify_one();
        throw;
    }
}

}  // namespace

void Pool::discard_idle(std::unique_ptr<Connection> c) noexcept {
    try { c->close(); } catch (...) {}
    c.reset();
    std::lock_guard lock(mu_);
    --open_;
    ++discarded_;
}

WEFT_HOT PooledConnection Pool::acquire(std::chrono::milliseconds timeout) {
    if (fork_generation.load(std::memory_order_relaxed) != generation_) [[unlikely]]
        forget_after_fork();
    // The uncontended path: the connection give_back() left in the slot, no lock.
    if (Connection* hot = hot_.exchange(nullptr, std::memory_order_acquire)) [[likely]] {
        std::unique_ptr<Connection> c(hot);
        if (!closed_.load(std::memory_order_seq_cst) && healthy(*c)) [[likely]]
            return PooledConnection(this, std::move(c));
        discard_idle(std::move(c));
        waiters_.notify_one();  // the slot is free again
    }
    return acquire_from_pool(timeout);
}

PooledConnection Pool::try_acquire() {
    if (fork_generation.load(std::memory_order_relaxed) != generation_) [[unlikely]]
        forget_after_fork();
    if (Connection* hot = hot_.exchange(nullptr, std::memory_order_acquire)) {
        std::unique_ptr<Connection> c(hot);
        if (!closed_.load(std::memory_order_seq_cst) && healthy(*c)) return PooledConnection(this, std::move(c));
        discard_idle(std::move(c));
        waiters_.notify_one();
    }
    std::unique_lock lock(mu_);
    for (;;) {
        if (closed_ || waiting_.load(std::memory_order_seq_cst) > 0) return {};
        if (idle_.empty()) break;
        std::unique_ptr<Connection> c = std::move(idle_.back());
        idle_.pop_back();
        lock.unlock();
        if (healthy(*c)) return PooledConnection(this, std::move(c));
        discard_idle(std::move(c));
        lock.lock();
    }
    if (open_ >= options_.max_size) return {};
    ++open_;
    lock.unlock();
    auto c = open_in_slot({mu_, open_, created_, waiters_}, factory_);
    c->pool_idle_since_ = idle_clock_now();
    c->pool_generation_ = generation_;
    return PooledConnection(this, std::move(c));
}

PooledConnection Pool::acquire_from_pool(std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    // The deadline is only needed once the caller has to wait: the common path (an idle
    // connection is there) reads no precise clock at all.
    clock::time_point start{};
    orm::Deadline deadline{};
    bool timing = false;
    std::unique_lock lock(mu_);
    // A caller that finds others waiting lines up behind them: what give_back() leaves while
    // they wait is meant for the one it woke, and taking it here would send that one back to
    // wait (first in line no more, and with its earlier deadline out of order among the timers).
    bool line_up = waiting_.load(std::memory_order_seq_cst) > 0;
    for (;;) {
        if (closed_) throw InterfaceError(fmt::format("connection pool for {} is closed", description_));
        // Most recently returned first: its socket and caches are warmest.
        while (!line_up) {
            std::unique_ptr<Connection> c;
            if (Connection* hot = hot_.exchange(nullptr, std::memory_order_acquire)) {
                c.reset(hot);
            } else if (!idle_.empty()) {
                c = std::move(idle_.back());
                idle_.pop_back();
            } else {
                break;
            }
            lock.unlock();
            if (healthy(*c)) return PooledConnection(this, std::move(c));
            discard_idle(std::move(c));
            lock.lock();
        }
        if (!line_up && open_ < options_.max_size) {
            ++open_;
            lock.unlock();
            auto c = open_in_slot({mu_, open_, created_, waiters_}, factory_);
            c->pool_idle_since_ = idle_clock_now();
            c->pool_generation_ = generation_;
            return PooledConnection(this, std::move(c));
        }
        if (!timing) {
            start = clock::now();
            deadline = deadline_from(start, timeout);
            timing = true;
        }
        auto available = [&] {
            return closed_ || !idle_.empty() || open_ < options_.max_size ||
                   hot_.load(std::memory_order_seq_cst) != nullptr;
        };
        // Counted before the slot is looked at (seq_cst, paired with give_back()).
        waiting_.fetch_add(1, std::memory_order_seq_cst);
        bool woke;
        try {
            if (line_up) {
                // Wait for a turn even if a connection is there now: it is someone else's.
                woke = waiters_.wait_until(lock, deadline) || available();
                line_up = false;
            } else {
                woke = waiters_.wait_until(lock, deadline, available);
            }
        } catch (...) {
            // The wait itself failed (the fiber's thread is exiting): a wake-up it may have taken
            // belongs to the next waiter. The lock is held again here.
            waiting_.fetch_sub(1, std::memory_order_seq_cst);
            if (available()) waiters_.notify_one();
            throw;
        }
        waiting_.fetch_sub(1, std::memory_order_seq_cst);
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

WEFT_HOT void Pool::give_back(std::unique_ptr<Connection> c) noexcept {
    if (c->pool_generation_ != generation_) [[unlikely]] {  // on loan at a fork: the parent's
        c->abandon_after_fork();
        return;
    }
    bool keep = !c->is_broken();
    if (keep && c->transaction_state() != TransactionState::idle) [[unlikely]]
        keep = roll_back_for_reuse(*c);
    if (keep && waiting_.load(std::memory_order_seq_cst) == 0 && !closed_.load(std::memory_order_seq_cst)) {
        // Nobody waits: leave it in the slot for the next acquire(), no lock.
        Connection* expected = nullptr;
        if (hot_.compare_exchange_strong(expected, c.get(), std::memory_order_seq_cst)) [[likely]] {
            c.release();
            // A waiter that counted itself meanwhile, or a close() that ran meanwhile, needs
            // more (see after_slot_filled).
            if (waiting_.load(std::memory_order_seq_cst) > 0 || closed_.load(std::memory_order_seq_cst))
                [[unlikely]] after_slot_filled();
            return;
        }
    }
    return_to_pool(std::move(c), keep);
}

bool Pool::roll_back_for_reuse(Connection& c) noexcept {
    // A connection returned mid-transaction must not leak that transaction to its next user.
    try {
        c.rollback();
    } catch (...) {
        return false;
    }
    return !c.is_broken() && c.transaction_state() == TransactionState::idle;
}

void Pool::after_slot_filled() noexcept {
    // A waiter that counted itself meanwhile either saw the slot filled, or is waiting (it held
    // mu_ from its look at the slot until it slept): taking mu_ orders this wake-up after its
    // wait began.
    if (waiting_.load(std::memory_order_seq_cst) > 0) {
        { std::lock_guard lock(mu_); }
        waiters_.notify_one();
    }
    // close() sets closed_ before it empties the slot: if it ran meanwhile and missed the
    // connection just left there, whatever is in the slot now is closed here.
    if (closed_.load(std::memory_order_seq_cst)) {
        if (Connection* left = hot_.exchange(nullptr, std::memory_order_acquire)) {
            std::unique_ptr<Connection> stale(left);
            try { stale->close(); } catch (...) {}
            stale.reset();
            std::lock_guard lock(mu_);
            --open_;
        }
    }
}

void Pool::return_to_pool(std::unique_ptr<Connection> c, bool keep) noexcept {
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
    idle_.push_back(std::move(c));
    // Waiters count themselves under mu_ before they wait, so with none counted here nobody can
    // miss this connection: skip the (comparatively costly) wake-up on the uncontended path.
    const bool wake = waiting_.load(std::memory_order_seq_cst) > 0;
    lock.unlock();
    if (wake) waiters_.notify_one();
}

PoolStats Pool::stats() const {
    std::lock_guard lock(mu_);
    const std::size_t idle = idle_.size() + (hot_.load(std::memory_order_acquire) ? 1 : 0);
    return {open_, idle, open_ - idle, waiting_.load(), created_, discarded_, timeouts_};
}

void Pool::close() {
    std::vector<std::unique_ptr<Connection>> idle;
    {
        std::lock_guard lock(mu_);
        closed_ = true;
        idle.swap(idle_);
        if (Connection* hot = hot_.exchange(nullptr, std::memory_order_acquire)) idle.emplace_back(hot);
        open_ -= idle.size();
    }
    waiters_.notify_all();
    for (auto& item : idle) {
        try { item->close(); } catch (...) {}
    }
}

}  // namespace orm::db
