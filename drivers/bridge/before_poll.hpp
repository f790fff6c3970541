// orm::BeforePoll: work a thread's loop does once, just before it next polls for I/O.
//
// Code running on fibers sometimes wants to gather what several fibers do in one loop round and
// act on it once: the pipelined PostgreSQL connection queues the statements of every fiber that
// runs before the loop polls, and sends them with one Sync. A BeforePoll scheduled from a fiber
// runs after the fibers that are ready now (up to the loop's fairness limit) and before the loop
// waits on its epoll set, outside any fiber, so run() must not wait or throw. It also runs before
// an embedding application's orm::loop_step() returns control for good: orm::loop_timeout() is
// zero while one is scheduled.
#pragma once

#include <cstddef>

namespace orm {

namespace detail {
class Loop;
}  // namespace detail

class BeforePoll {
public:
    BeforePoll() = default;
    BeforePoll(const BeforePoll&) = delete;
    BeforePoll& operator=(const BeforePoll&) = delete;

    // Asks the calling thread's loop to call run() once before it next polls (nothing when
    // already scheduled). False when the thread has no fiber loop: nothing is scheduled then.
    bool schedule() noexcept;
    // Withdraws a schedule() whose run() has not begun. Same thread as schedule().
    void cancel() noexcept;
    bool scheduled() const noexcept { return loop_ != nullptr; }

protected:
    ~BeforePoll() { cancel(); }
    // On the loop, outside any fiber: must not wait. May wake fibers (LocalSignal::set, io_rouse).
    virtual void run() noexcept = 0;

private:
    friend class detail::Loop;
    detail::Loop* loop_ = nullptr;
    BeforePoll* prev_ = nullptr;
    BeforePoll* next_ = nullptr;
};

// Whether another fiber of this thread is ready to run now: it will run before the loop next
// polls. (With none, work deferred to before the poll may as well be done at once.)
bool other_fibers_ready() noexcept;

// Wakes whoever on this thread waits for `fd` with wait_io, as though it were ready for what it
// waits for: a spurious wake-up, which wait_io's contract allows, so the waiter looks again (and
// may wait for something else this time). Nothing when nobody waits.
void io_rouse(int fd) noexcept;

}  // namespace orm
