// WaitQueue and Event. A notifier unlinks a waiter and hands it to the waiter's loop while
// holding the queue's mutex; a waiter that times out takes the same mutex, so it either removes
// itself first (timeout) or finds it was claimed (notified) and withdraws the hand-over.
#include "drivers/bridge/wait_queue.hpp"

#include <cassert>

#include "drivers/bridge/detail/loop.hpp"
#include "drivers/bridge/detail/report.hpp"
#include "drivers/errors.hpp"

namespace orm {

WaitQueue::~WaitQueue() { assert(head_ == nullptr && "WaitQueue destroyed while a fiber or thread waits on it"); }

bool WaitQueue::wait_until(std::unique_lock<std::mutex>& lock, Deadline deadline) {
    if (!lock.owns_lock()) throw InterfaceError("WaitQueue::wait_until(): the lock must be held by the caller");
    detail::Loop& loop = detail::Loop::current();
    loop.check_can_wait("WaitQueue::wait_until()");
    if (deadline != no_deadline && deadline <= std::chrono::steady_clock::now()) return false;

    detail::Waiter w(loop, detail::current_fiber, detail::WaitKind::queue, deadline);
    {
        std::lock_guard g(mu_);
        detail::link_back(head_, tail_, w);
        ++count_;
    }
    ++loop.queue_waits;
    lock.unlock();
    // Removes w if still queued (true: not notified); else withdraws the notifier's hand-over.
    auto leave = [&]() noexcept {
        std::lock_guard g(mu_);
        if (w.linked) {
            detail::unlink(head_, tail_, w);
            --count_;
            return true;
        }
        loop.retract(w);
        return false;
    };
    detail::WakeReason reason;
    try {
        reason = loop.park(w);
    } catch (...) {
        --loop.queue_waits;
        leave();
        lock.lock();
        throw;
    }
    --loop.queue_waits;
    const bool notified = reason == detail::WakeReason::ready || !leave();
    lock.lock();
    if (!notified && reason == detail::WakeReason::cancelled) detail::throw_cancelled("WaitQueue::wait_until()");
    return notified;
}

bool WaitQueue::notify_locked() {
    detail::Waiter* w = head_;
    if (!w) return false;
    detail::unlink(head_, tail_, *w);
    --count_;
    w->loop->notify(*w);
    return true;
}

bool WaitQueue::notify_one() {
    std::lock_guard g(mu_);
    return notify_locked();
}

void WaitQueue::notify_all() {
    std::lock_guard g(mu_);
    while (notify_locked()) {
    }
}

std::size_t WaitQueue::waiting() const {
    std::lock_guard g(mu_);
    return count_;
}

void Event::set() {
    std::lock_guard lock(mu_);
    set_ = true;
    waiters_.notify_all();
}

void Event::clear() {
    std::lock_guard lock(mu_);
    set_ = false;
}

bool Event::is_set() const {
    std::lock_guard lock(mu_);
    return set_;
}

bool Event::wait_until(Deadline deadline) {
    std::unique_lock lock(mu_);
    return waiters_.wait_until(lock, deadline, [this] { return set_; });
}

}  // namespace orm
