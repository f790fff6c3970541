// wait_io / yield_now / sleep_until: the waits every driver builds on.
#include "drivers/bridge/wait.hpp"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "drivers/bridge/detail/loop.hpp"
#include "drivers/bridge/detail/report.hpp"
#include "drivers/bridge/detail/wait_blocking.hpp"
#include "drivers/errors.hpp"

namespace orm {
namespace {

using Clock = std::chrono::steady_clock;

// One poll(2) of fd for `interest`, up to `timeout_ms` (-1: no limit); what is ready, or nothing.
Io poll_for(int fd, Io interest, int timeout_ms) {
    pollfd p{fd, short((any(interest & Io::readable) ? POLLIN : 0) | (any(interest & Io::writable) ? POLLOUT : 0)), 0};
    const int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno != EINTR) throw OperationalError(fmt::format("poll on fd {}: {}", fd, std::strerror(errno)));
    if (n <= 0) return Io{};  // timed out, or interrupted: the caller looks at its deadline again
    if (p.revents & POLLNVAL)
        throw InterfaceError(fmt::format("cannot wait for fd {}: it is not an open file descriptor", fd));
    const bool err = p.revents & (POLLERR | POLLHUP);
    return interest & Io(((p.revents & POLLIN) || err ? unsigned(Io::readable) : 0u) |
                         ((p.revents & POLLOUT) || err ? unsigned(Io::writable) : 0u));
}

// With the deadline already gone, a wait is only a readiness check.
Io poll_now(int fd, Io interest) { return poll_for(fd, interest, 0); }

}  // namespace

Io detail::wait_io_blocking(int fd, Io interest, Deadline deadline) {
    if (fd < 0) throw InterfaceError(fmt::format("wait_io: invalid file descriptor {}", fd));
    const Deadline start = Clock::now();
    for (;;) {
        int ms = -1;
        if (deadline != no_deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
            ms = left <= 0 ? 0 : int(std::min<std::int64_t>((left + 999) / 1000, 0x7fffffff));  // rounded up
        }
        if (Io ready = poll_for(fd, interest, ms); any(ready)) return ready;
        if (deadline != no_deadline && Clock::now() >= deadline)
            throw TimeoutError(fmt::format("timed out after {} waiting for fd {} to become {}",
                                           detail::format_duration(Clock::now() - start), fd, to_string(interest)));
    }
}

const char* to_string(Io interest) noexcept {
    switch (interest) {
        case Io::readable: return "readable";
        case Io::writable: return "writable";
        case Io::both: return "readable or writable";
    }
    return "neither readable nor writable";
}

namespace {

Io wait_io_as(int fd, Io interest, Deadline deadline, std::uint64_t owner) {
    if (fd < 0) throw InterfaceError(fmt::format("wait_io: invalid file descriptor {}", fd));
    if (!any(interest)) throw InterfaceError("wait_io: asked to wait for nothing (interest is empty)");
    detail::Loop& loop = detail::Loop::current();
    loop.check_can_wait("orm::wait_io()");
    const Deadline start = deadline == no_deadline ? Deadline{} : Clock::now();
    if (deadline != no_deadline && deadline <= start) {
        if (Io ready = poll_now(fd, interest); any(ready)) return ready;
        throw TimeoutError(fmt::format("timed out waiting for fd {} to become {}: the deadline had already passed",
                                       fd, to_string(interest)));
    }
    detail::Waiter w(loop, detail::current_fiber, detail::WaitKind::io, deadline);
    w.fd = fd;
    w.owner = owner;
    w.interest = interest;
    if (!loop.watch(w)) return interest;
    detail::WakeReason reason;
    {
        struct Unwatch {
            detail::Waiter& w;
            ~Unwatch() { w.loop->unwatch(w); }
        } unwatch{w};
        reason = loop.park(w);
    }
    if (reason == detail::WakeReason::ready) return w.ready;
    if (reason == detail::WakeReason::cancelled) detail::throw_cancelled("orm::wait_io()");
    throw TimeoutError(fmt::format("timed out after {} waiting for fd {} to become {}",
                                   detail::format_duration(deadline - start), fd, to_string(interest)));
}

}  // namespace

Io wait_io(int fd, Io interest, Deadline deadline) { return wait_io_as(fd, interest, deadline, 0); }

Io wait_io(int fd, Io interest, Deadline deadline, std::uint64_t owner) {
    return wait_io_as(fd, interest, deadline, owner);
}

bool io_idle_quiet(int fd, std::uint64_t owner, std::uint64_t mark) noexcept {
    detail::Loop* loop = detail::Loop::current_if_any();
    return loop && loop->idle_quiet(fd, owner, mark);
}

std::uint64_t io_poll_mark() noexcept {
    detail::Loop* loop = detail::Loop::current_if_any();
    return loop ? loop->poll_mark() : 0;
}

std::uint64_t new_io_owner() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

void yield_now() {
    if (detail::FiberRecord* f = detail::current_fiber)
        f->loop->yield();
    else
        detail::Loop::current().yield();
}

void sleep_until(Deadline t) {
    detail::Loop& loop = detail::Loop::current();
    loop.check_can_wait("orm::sleep_until()");
    if (t != no_deadline && t <= Clock::now()) {
        loop.yield();
        return;
    }
    detail::Waiter w(loop, detail::current_fiber, detail::WaitKind::sleep, t);
    if (loop.park(w) == detail::WakeReason::cancelled) detail::throw_cancelled("orm::sleep_until()");
}

}  // namespace orm
