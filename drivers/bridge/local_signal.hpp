// orm::LocalSignal: wakes one waiting fiber from code running on the same thread (another fiber,
// or the thread itself while it drives its loop). It is what orm::Event does for one waiter on
// one thread, without Event's locks and cross-thread hand-over: setting it links the waiter
// straight into the loop's ready queue. The pipelined PostgreSQL connection wakes the fibers
// whose statements were answered with it.
#pragma once

#include "drivers/bridge/deadline.hpp"

namespace orm {

namespace detail {
struct Waiter;
}  // namespace detail

class LocalSignal {
public:
    LocalSignal() = default;
    LocalSignal(const LocalSignal&) = delete;
    LocalSignal& operator=(const LocalSignal&) = delete;
    ~LocalSignal();  // nobody may still wait

    // Wakes the waiter, or, when nobody waits, lets the next wait() return at once. Same thread
    // as the waiter only.
    void set() noexcept;
    // Forgets a set() nobody waited for.
    void clear() noexcept { set_ = false; }
    bool is_set() const noexcept { return set_; }
    // Returns once set() was called (since the last wait() or clear()), which it consumes. One
    // waiter at a time (else orm::InterfaceError). Throws orm::FiberCancelled when the thread
    // exits meanwhile.
    void wait() { (void)wait_until(no_deadline); }
    // The same with a deadline: false when it passed first (a set() that comes after that, before
    // the waiter runs again, is lost: callers that hand something over with set() look for it
    // themselves).
    bool wait_until(Deadline deadline);

private:
    detail::Waiter* waiter_ = nullptr;
    bool set_ = false;
};

}  // namespace orm
