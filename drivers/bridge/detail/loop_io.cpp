// Loop, I/O side: polling epoll (and the eventfd), fd registrations (one-shot, or kept for an
// owner between waits), readiness events.
#include <sys/epoll.h>
#include <time.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

#include "drivers/bridge/detail/loop.hpp"
#include "drivers/errors.hpp"

namespace orm::detail {
namespace {

using Clock = std::chrono::steady_clock;

std::system_error sys_error(const char* what) {
    return std::system_error(errno, std::generic_category(), what);
}

std::int64_t coarse_now_ns() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

void Loop::poll(bool block) {
    if (before_head_) {
        run_before_poll();
        if (ready_head_) block = false;  // it woke a fiber
    }
    timespec ts{0, 0};
    timespec* timeout = &ts;
    if (block) {
        if (timers_.empty()) {
            timeout = nullptr;
        } else {
            const auto left = timers_.top()->deadline - Clock::now();
            if (left > Clock::duration::zero()) {
                const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
                ts.tv_sec = ns / 1'000'000'000;
                ts.tv_nsec = ns % 1'000'000'000;
            }
        }
    }
    const bool sleeps = timeout == nullptr || ts.tv_sec != 0 || ts.tv_nsec != 0;
    epoll_event events[64];
    int n;
    {
        // Let dumps from other threads in while this thread sleeps.
        if (sleeps && owner_locked_) owner_mu_.unlock();
        if (use_pwait2_) {
            n = ::epoll_pwait2(epoll_fd_, events, 64, timeout, nullptr);
            if (n < 0 && errno == ENOSYS) use_pwait2_ = false;
        }
        if (!use_pwait2_) {
            // Before Linux 5.11: millisecond timeouts, rounded up so a sleep is never cut short.
            const int ms = timeout == nullptr ? -1 : int(ts.tv_sec * 1000 + (ts.tv_nsec + 999'999) / 1'000'000);
            n = ::epoll_wait(epoll_fd_, events, 64, ms);
        }
        const int saved = errno;
        if (sleeps && owner_locked_) owner_mu_.lock();
        errno = saved;
    }
    if (n < 0) {
        if (errno == EINTR) return;
        throw sys_error("orm fiber loop: epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == wake_tag)
            drain_remote();
        else
            io_event(int(events[i].data.u64), events[i].events);
    }
    if (n < 64) {  // nothing left undelivered
        ++polls_;
        last_poll_ns_ = coarse_now_ns();
    }
}

bool Loop::idle_quiet(int fd, std::uint64_t owner, std::uint64_t mark) const noexcept {
    // A poll long ago says little about now: ask for one within a few scheduler ticks.
    constexpr std::int64_t fresh_ns = 10'000'000;
    if (fd < 0 || std::size_t(fd) >= fds_.size() || owner == 0) return false;
    const FdEntry& e = fds_[std::size_t(fd)];
    if ((mark >> mark_poll_bits) != id_ || (polls_ & mark_poll_mask) < (mark & mark_poll_mask)) return false;
    return e.owner == owner && e.registered && (e.armed & EPOLLIN) && !e.reader &&
           coarse_now_ns() - last_poll_ns_ <= fresh_ns;
}

bool Loop::watch(Waiter& w) {
    if (std::size_t(w.fd) >= fds_.size()) fds_.resize(std::size_t(w.fd) + 1);
    FdEntry& e = fds_[std::size_t(w.fd)];
    const bool read = any(w.interest & Io::readable);
    const bool write = any(w.interest & Io::writable);
    if ((read && e.reader) || (write && e.writer)) {
        const Waiter& other = *(read && e.reader ? e.reader : e.writer);
        throw InterfaceError(fmt::format(
            "cannot wait for fd {} to become {}: '{}' is already waiting for that; one fiber at a "
            "time may wait per file descriptor and direction",
            w.fd, read && e.reader ? "readable" : "writable",
            other.fiber ? other.fiber->display_name() : std::string("the thread itself")));
    }
    if (w.owner != e.owner) {
        // Another socket on this fd number (or a one-shot user): what the entry says about the
        // registration belongs to the old one, which the kernel may have dropped on close.
        e.owner = w.owner;
        e.armed = 0;
    }
    if (read) e.reader = &w;
    if (write) e.writer = &w;
    bool pollable;
    try {
        pollable = e.owner != 0 ? arm_owned(w.fd, e, /*after_event=*/false) : arm(w.fd, e);
    } catch (...) {
        if (read) e.reader = nullptr;
        if (write) e.writer = nullptr;
        throw;
    }
    if (!pollable) {
        if (read) e.reader = nullptr;
        if (write) e.writer = nullptr;
        return false;
    }
    ++fd_waits_;
    return true;
}

void Loop::unwatch(Waiter& w) noexcept {
    FdEntry& e = fds_[std::size_t(w.fd)];
    if (e.reader == &w) e.reader = nullptr;
    if (e.writer == &w) e.writer = nullptr;
    --fd_waits_;
}

// Sets the kernel's interest in fd to `events` (0: removes it). False: the fd cannot be polled.
bool Loop::epoll_set(int fd, FdEntry& e, std::uint32_t events) {
    if (events == 0) {
        if (e.registered) (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        e.registered = false;
        e.armed = 0;
        return true;
    }
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = std::uint64_t(fd);
    int op = e.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (::epoll_ctl(epoll_fd_, op, fd, &ev) != 0) {
        // The kernel forgets an fd when it is closed, and a new one may reuse the number.
        if (op == EPOLL_CTL_MOD && errno == ENOENT)
            op = EPOLL_CTL_ADD;
        else if (op == EPOLL_CTL_ADD && errno == EEXIST)
            op = EPOLL_CTL_MOD;
        else
            op = -1;
        if (op < 0 || ::epoll_ctl(epoll_fd_, op, fd, &ev) != 0) {
            e.registered = false;
            e.armed = 0;
            if (errno == EPERM) return false;  // regular files and the like: always ready
            if (errno == EBADF)
                throw InterfaceError(fmt::format("cannot wait for fd {}: it is not an open file descriptor", fd));
            throw sys_error("orm fiber loop: epoll_ctl");
        }
    }
    e.registered = true;
    e.armed = (events & EPOLLONESHOT) ? 0 : events;
    return true;
}

// One-shot registration for what the fd's current waiters still want: one epoll_ctl per wait,
// and the kernel disarms it when it fires, so an fd nobody waits on never wakes the loop twice.
bool Loop::arm(int fd, FdEntry& e) {
    std::uint32_t want = 0;
    if (e.reader && e.reader->reason == WakeReason::none) want |= EPOLLIN | EPOLLRDHUP;
    if (e.writer && e.writer->reason == WakeReason::none) want |= EPOLLOUT;
    if (want == 0) return true;
    return epoll_set(fd, e, want | EPOLLONESHOT);
}

// An owner's registration: level-triggered and kept between waits, so a connection waiting for
// each answer in turn registers once. Reading stays armed while nobody waits (the next wait is
// usually soon); it is dropped when something arrives that no reader asked for (a notification,
// the server hanging up on an idle connection), so such an fd cannot keep waking the loop, and
// re-armed by the next wait. Writing is armed only while a writer waits: a socket is nearly
// always writable.
bool Loop::arm_owned(int fd, FdEntry& e, bool after_event) {
    constexpr std::uint32_t in_bits = EPOLLIN | EPOLLRDHUP;
    const bool reading = e.reader && e.reader->reason == WakeReason::none;
    const bool writing = e.writer && e.writer->reason == WakeReason::none;
    std::uint32_t target;
    if (after_event)  // a reader woken but not yet back keeps its registration for its next wait
        target = (e.reader ? in_bits : 0) | (writing ? std::uint32_t(EPOLLOUT) : 0);
    else
        target = (e.registered ? (e.armed & in_bits) : 0) | (reading ? in_bits : 0) |
                 (writing ? std::uint32_t(EPOLLOUT) : 0);
    if (e.registered && target == e.armed) return true;
    if (!e.registered && target == 0) return true;
    return epoll_set(fd, e, target);
}

void Loop::io_event(int fd, std::uint32_t events) {
    if (std::size_t(fd) >= fds_.size()) return;
    FdEntry& e = fds_[std::size_t(fd)];
    const bool in = events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    const bool out = events & (EPOLLOUT | EPOLLHUP | EPOLLERR);
    Waiter* reader = e.reader;
    Waiter* writer = e.writer;
    // A waiter for both directions sits in both slots: compute its result once, then wake it.
    for (Waiter* w : {reader, writer}) {
        if (!w || w->reason != WakeReason::none) continue;
        const Io ready = Io((w == reader && in ? unsigned(Io::readable) : 0u) |
                            (w == writer && out ? unsigned(Io::writable) : 0u));
        if (!any(ready)) continue;
        w->ready = ready;
        wake(*w, WakeReason::ready);
    }
    try {
        // One-shot: the other direction, if someone still waits for it. Owned: drop what nobody
        // waits for any more.
        if (e.owner != 0)
            arm_owned(fd, e, /*after_event=*/true);
        else
            arm(fd, e);
    } catch (...) {
        // the fd went away under a waiter: let it find out from its next read or write
        for (Waiter* w : {e.reader, e.writer})
            if (w && w->reason == WakeReason::none) {
                w->ready = w->interest;
                wake(*w, WakeReason::ready);
            }
    }
}

}  // namespace orm::detail
