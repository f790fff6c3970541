// Suspension points of the fiber runtime: wait for a file descriptor, sleep, yield.
//
// Inside a fiber each call suspends only that fiber; the thread's loop runs others meanwhile.
// Outside any fiber the call drives this thread's loop itself until its own condition holds, so
// other fibers of the thread make progress too (greenhack's start_loop()). From inside the loop
// where neither is possible (a reporter callback) or while the thread is exiting, they throw
// orm::InterfaceError instead of hanging; a loop that can never wake the caller again (every
// fiber waits on another, nothing external pending) throws orm::InterfaceError with a dump.
#pragma once

#include <chrono>
#include <cstdint>

#include "drivers/bridge/deadline.hpp"
#include "drivers/errors.hpp"

namespace orm {

// What every waiting call throws on a fiber whose thread is exiting: the loop cancels the
// fibers still suspended on it so that they unwind and release what they hold. Catch-all
// handlers in fibers should let it pass. (Destructors that wait must catch, as for timeouts.)
class FiberCancelled : public InterfaceError {
    using InterfaceError::InterfaceError;
};

enum class Io : unsigned { readable = 1, writable = 2, both = 3 };
constexpr Io operator&(Io a, Io b) noexcept { return Io(unsigned(a) & unsigned(b)); }
constexpr Io operator|(Io a, Io b) noexcept { return Io(unsigned(a) | unsigned(b)); }
constexpr bool any(Io a) noexcept { return unsigned(a) != 0; }
const char* to_string(Io interest) noexcept;  // "readable", "writable", "readable or writable"

// Waits until `fd` is ready for what `interest` asks (readable, writable, or either) and returns
// what is ready, a non-empty subset of `interest`; an error or hang-up counts as ready both ways
// (the next read/write reports it). Like poll(), it may return spuriously: re-check and wait
// again. Throws orm::TimeoutError at `deadline`, naming the fd, the direction and the time
// waited; with a deadline already passed it only checks readiness, without suspending. One
// fiber at a time may wait per fd and direction (else orm::InterfaceError). Close an fd only
// when nobody waits on it.
Io wait_io(int fd, Io interest, Deadline deadline);
// The same for a long-lived socket that is waited on over and over (a database connection).
// Its registration with the loop's epoll set is kept between waits, so waiting for the answer
// to each request costs no epoll_ctl. `owner` names the socket for as long as it is open: take a
// fresh one from new_io_owner() for every socket (an fd number reused by a new socket must
// not carry an old owner, whose registration the kernel dropped when the old socket closed).
Io wait_io(int fd, Io interest, Deadline deadline, std::uint64_t owner);
std::uint64_t new_io_owner() noexcept;

// For health checks of an idle socket waited on with an owner (a pooled connection): true when
// the socket's last wait (`mark`: io_poll_mark() taken right after it) was on this thread's
// loop, the loop still holds the socket's registration armed for reading, and the loop has
// polled its epoll set completely within the last 10 ms. The loop drops the registration of a
// socket when something arrives that nobody waits for, so then nothing (a message, a hang-up)
// had arrived on the socket by that poll. False whenever that is not known: check the socket
// yourself then.
bool io_idle_quiet(int fd, std::uint64_t owner, std::uint64_t mark) noexcept;
std::uint64_t io_poll_mark() noexcept;  // names this thread's loop and its polls so far; 0 without a loop
inline void wait_readable(int fd, Deadline deadline) { wait_io(fd, Io::readable, deadline); }
inline void wait_writable(int fd, Deadline deadline) { wait_io(fd, Io::writable, deadline); }

// Lets every other ready fiber run once before the caller continues (outside a fiber: runs one
// nonblocking round of the loop). CPU-bound fibers call it to share the loop.
void yield_now();

// Suspends until `t` (a time already passed: yields once). Accurate to the kernel's timer
// slack (tens of microseconds), not to the millisecond.
void sleep_until(Deadline t);
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) { sleep_until(deadline_after(d)); }

}  // namespace orm
