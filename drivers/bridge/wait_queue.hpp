// Waiting across threads: orm::WaitQueue, a condition variable that suspends fibers, and
// orm::Event, a settable flag built on it. A fiber on thread A waits (with a deadline) and
// thread B notifies; B wakes A's loop through its eventfd. Plain threads (outside any fiber)
// wait on them too, by driving their own loop. The connection pool waits for a released
// connection with these.
#pragma once

#include <cstddef>
#include <mutex>

#include "drivers/bridge/deadline.hpp"

namespace orm {

namespace detail {
struct Waiter;
}  // namespace detail

class WaitQueue {
public:
    WaitQueue() = default;
    WaitQueue(const WaitQueue&) = delete;
    WaitQueue& operator=(const WaitQueue&) = delete;
    ~WaitQueue();  // nobody may still wait

    // Like std::condition_variable::wait_until: atomically releases `lock` and waits until
    // notified or `deadline`, then re-acquires `lock`. Returns false on timeout (a deadline
    // already passed returns false at once, without unlocking). Wake-ups are FIFO; spurious
    // ones do not happen, but the condition may have changed again: use the predicate form.
    bool wait_until(std::unique_lock<std::mutex>& lock, Deadline deadline);
    template <class Predicate>
    bool wait_until(std::unique_lock<std::mutex>& lock, Deadline deadline, Predicate ready) {
        while (!ready())
            if (!wait_until(lock, deadline)) return ready();
        return true;
    }

    // Callable from any thread, with or without the waiters' mutex held. notify_one() says
    // whether it woke a waiter; that waiter's wait_until() then returns true, even if its
    // deadline passes meanwhile, so no notification is lost to a timeout.
    bool notify_one();
    void notify_all();
    std::size_t waiting() const;

private:
    bool notify_locked();
    mutable std::mutex mu_;
    detail::Waiter* head_ = nullptr;
    detail::Waiter* tail_ = nullptr;
    std::size_t count_ = 0;
};

// A flag that fibers and threads wait for and any thread sets; it stays set until clear().
class Event {
public:
    void set();
    void clear();
    bool is_set() const;
    // True once set; false if `deadline` passed first.
    bool wait_until(Deadline deadline);

private:
    mutable std::mutex mu_;
    bool set_ = false;
    WaitQueue waiters_;
};

}  // namespace orm
