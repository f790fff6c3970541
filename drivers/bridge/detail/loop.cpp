// Loop: scheduling, parking and waking, epoll and timers, cross-thread wake-ups, shutdown.
#include "drivers/bridge/detail/loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "drivers/bridge/detail/report.hpp"
#include "drivers/bridge/detail/settings.hpp"
#include "drivers/errors.hpp"

namespace orm::detail {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t wake_tag = ~std::uint64_t{0};  // epoll data of the eventfd
// Between two polls for I/O the loop resumes at most about this many fibers, so fibers that keep
// yielding cannot starve sockets and cross-thread wake-ups (a poll is a syscall: ~0.5 us).
constexpr unsigned resumes_per_poll = 128;

std::atomic<std::uint64_t> next_loop_id{1};
std::atomic<std::uint64_t> next_fiber_id{1};

thread_local constinit Loop* this_thread_loop = nullptr;
thread_local constinit bool this_thread_loop_gone = false;

// Deletes this thread's loop at thread exit. The pointer stays valid while the loop shuts
// down, because fibers cancelled then still reach their loop through Loop::current().
struct LoopOwner {
    ~LoopOwner() {
        delete this_thread_loop;
        this_thread_loop = nullptr;
        this_thread_loop_gone = true;
        release_thread_context();
    }
};
thread_local LoopOwner loop_owner;

// Every live loop, for list_fibers(DumpScope::all_threads). Never destroyed: threads may still
// exit (and unregister) while static destructors run.
struct Registry {
    std::mutex mu;
    std::vector<Loop*> loops;
};
Registry& registry() {
    static Registry* r = new Registry;
    return *r;
}

std::system_error sys_error(const char* what) {
    return std::system_error(errno, std::generic_category(), what);
}

// Time since an arbitrary origin for the slow-fiber check. The coarse clock costs a few ns
// instead of ~20 but ticks only every few ms, so it serves thresholds well above that.
std::int64_t switch_clock_ns(std::int64_t threshold_ns) noexcept {
    timespec ts;
    ::clock_gettime(threshold_ns >= 20'000'000 ? CLOCK_MONOTONIC_COARSE : CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

const char* direction(Io interest) {
    switch (interest) {
        case Io::readable: return "readable";
        case Io::writable: return "writable";
        default: return "readable or writable";
    }
}

}  // namespace

Loop& Loop::current() {
    if (this_thread_loop) return *this_thread_loop;
    if (this_thread_loop_gone)
        throw InterfaceError(
            "the fiber runtime was used on a thread after its loop shut down (from a thread_local "
            "destructor that ran after the runtime's own?)");
    (void)&loop_owner;  // constructs this thread's owner, so its destructor runs at thread exit
    this_thread_loop = new Loop();
    return *this_thread_loop;
}

Loop* Loop::current_if_any() noexcept { return this_thread_loop; }

Loop::Loop() : id_(next_loop_id.fetch_add(1, std::memory_order_relaxed)), thread_(std::this_thread::get_id()) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw sys_error("orm fiber loop: epoll_create1");
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
        ::close(epoll_fd_);
        throw sys_error("orm fiber loop: eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_tag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
        ::close(wake_fd_);
        ::close(epoll_fd_);
        throw sys_error("orm fiber loop: epoll_ctl(eventfd)");
    }
    Registry& reg = registry();
    std::lock_guard lock(reg.mu);
    reg.loops.push_back(this);
}

Loop::~Loop() {
    {
        Registry& reg = registry();
        std::lock_guard lock(reg.mu);
        std::erase(reg.loops, this);
    }
    // std::exit() called on a fiber runs this on that fiber's stack: leave everything as it is.
    if (current_fiber) return;
    if (live_ > 0) shut_down_fibers();
    {
        std::lock_guard lock(remote_mu_);  // a notifier on another thread may still be writing
        ::close(wake_fd_);
        wake_fd_ = -1;
    }
    ::close(epoll_fd_);
}

// Cancels what is still suspended: every wait ends with WakeReason::cancelled, so the waiting
// call throws and the fiber unwinds normally, running its destructors on its own stack. Waits
// for thread offloads cannot be cancelled and are waited for. A fiber that swallows the error
// and goes on yielding is abandoned (and reported) after 100 rounds.
void Loop::shut_down_fibers() {
    closing_ = true;
    driving_ = true;
    OwnerLock lock(*this);
    for (int round = 0; live_ > 0 && round < 100;) {
        for (FiberRecord* f = live_head_; f; f = f->next_live)
            if (f->waiting && f->waiting->kind != WaitKind::offload) wake(*f->waiting, WakeReason::cancelled);
        if (ready_head_) {
            run_ready();
            ++round;
        }
        poll(/*block=*/ready_head_ == nullptr && offload_waits > 0);
        fire_timers();
        if (!ready_head_ && offload_waits == 0) ++round;
    }
    if (live_ > 0) {
        std::vector<FiberInfo> fibers;
        snapshot(fibers);
        std::string names;
        for (const FiberInfo& f : fibers) names += (names.empty() ? "" : ", ") + f.name;
        FiberReport r{FiberReport::Kind::abandoned_fibers};
        r.message = fmt::format(
            "{} fiber(s) could not be cancelled when their thread exited and were abandoned "
            "(their stacks and state are leaked): {}",
            live_, names);
        report(r);
    }
    driving_ = false;
}

void Loop::check_can_wait(std::string_view what) const {
    if (closing_) throw_cancelled(what);
    if (in_loop_callback())
        throw InterfaceError(fmt::format(
            "{} was called from inside the fiber loop itself (a reporter or other loop callback, "
            "outside any fiber), where nothing can wait: the loop cannot suspend itself. Spawn a "
            "fiber for the work instead",
            what));
}

FiberRecord* Loop::spawn(std::string name, std::unique_ptr<TaskBody> body, std::shared_ptr<RunGroup> group) {
    auto rec = std::make_unique<FiberRecord>(*this, next_fiber_id.fetch_add(1, std::memory_order_relaxed),
                                             std::move(name), std::move(body), std::move(group));
    rec->start(stacks_);
    OwnerLock lock(*this);
    rec->next_live = live_head_;
    if (live_head_) live_head_->prev_live = rec.get();
    live_head_ = rec.get();
    ++live_;
    if (rec->group) ++rec->group->live;
    make_ready(*rec);
    return rec.release();
}

void Loop::make_ready(FiberRecord& f) noexcept {
    f.state = FiberState::ready;
    f.yielded = false;
    f.waiting = nullptr;
    f.next_ready = nullptr;
    (ready_tail_ ? ready_tail_->next_ready : ready_head_) = &f;
    ready_tail_ = &f;
}

void Loop::yield() {
    if (FiberRecord* f = current_fiber) {
        make_ready(*f);
        f->yielded = true;
        switch_out(*f);
        return;
    }
    check_can_wait("orm::yield_now()");
    drive_once();
}

WakeReason Loop::park(Waiter& w) {
    w.reason = WakeReason::none;
    if (w.deadline != no_deadline) timers_.push(w);
    if (FiberRecord* f = current_fiber) {
        f->state = FiberState::waiting;
        f->waiting = &w;
        switch_out(*f);  // back once wake() has made it ready (and disarmed its timer)
        return w.reason;
    }
    try {
        drive([&w] { return w.reason != WakeReason::none; }, &w);
    } catch (...) {
        if (w.heap_index != not_in_heap) timers_.erase(w);
        throw;
    }
    return w.reason;
}

void Loop::wake(Waiter& w, WakeReason reason) noexcept {
    if (w.reason != WakeReason::none) return;
    w.reason = reason;
    if (w.heap_index != not_in_heap) timers_.erase(w);
    if (w.fiber) make_ready(*w.fiber);
}

void Loop::notify(Waiter& w) {
    if (this == this_thread_loop) {
        OwnerLock lock(*this);
        wake(w, WakeReason::ready);
        return;
    }
    std::lock_guard lock(remote_mu_);
    remote_.push_back(&w);
    if (!wake_pending_) {
        wake_pending_ = true;
        const std::uint64_t one = 1;
        // Written under remote_mu_: the loop closes the eventfd only while holding it.
        if (::write(wake_fd_, &one, sizeof one) < 0 && errno != EAGAIN)
            std::fprintf(stderr, "weft: cannot wake a fiber loop: %s\n", std::strerror(errno));
    }
}

void Loop::retract(Waiter& w) noexcept {
    std::lock_guard lock(remote_mu_);
    std::erase(remote_, &w);
}

void Loop::drain_remote() {
    std::uint64_t count;
    (void)!::read(wake_fd_, &count, sizeof count);
    {
        std::lock_guard lock(remote_mu_);
        std::swap(remote_, remote_batch_);
        wake_pending_ = false;
    }
    for (Waiter* w : remote_batch_) wake(*w, WakeReason::ready);
    remote_batch_.clear();
}

template <class Done>
void Loop::drive(Done done, Waiter* waiting) {
    driving_ = true;
    OwnerLock lock(*this);
    outside_ = waiting;  // under the lock, for dumps
    struct Reset {
        Loop& loop;
        ~Reset() {
            loop.outside_ = nullptr;
            loop.driving_ = false;
        }
    } reset{*this};
    while (!done()) {
        if (ready_head_) {
            run_ready();
            if (done()) break;
            if (ready_head_ && resumes_since_poll_ < resumes_per_poll) {
                fire_timers();
                continue;
            }
        }
        resumes_since_poll_ = 0;
        const bool block = ready_head_ == nullptr;
        if (block && timers_.empty() && fd_waits_ == 0 && queue_waits == 0 && offload_waits == 0)
            throw_deadlock();
        poll(block);
        fire_timers();
    }
}

void Loop::drive_once() {
    driving_ = true;
    OwnerLock lock(*this);
    struct Reset {
        bool& driving;
        ~Reset() { driving = false; }
    } reset{driving_};
    if (ready_head_) run_ready();
    resumes_since_poll_ = 0;
    poll(false);
    fire_timers();
}

void Loop::run_ready() {
    FiberRecord* f = std::exchange(ready_head_, nullptr);
    ready_tail_ = nullptr;
    const std::int64_t threshold = settings.slow_fiber_ns.load(std::memory_order_relaxed);
    std::int64_t started = threshold > 0 ? switch_clock_ns(threshold) : 0;
    while (f) {
        FiberRecord* next = std::exchange(f->next_ready, nullptr);
        ++resumes_since_poll_;
        switch_in(*f);
        if (threshold > 0) {
            const std::int64_t now = switch_clock_ns(threshold);
            if (now - started > threshold) report_slow(*f, now - started, threshold);
            started = now;
        }
        if (!f->ctx) finish(*f);
        f = next;
    }
}

void Loop::finish(FiberRecord& f) {
    (f.prev_live ? f.prev_live->next_live : live_head_) = f.next_live;
    if (f.next_live) f.next_live->prev_live = f.prev_live;
    --live_;
    // Unwinding because the thread exits is what the loop asked for, not a failure to report.
    if (closing_ && f.error && is_cancellation(f.error)) f.retrieved = true;
    f.done.store(true, std::memory_order_release);
    while (Waiter* w = f.joiners_head) {
        unlink(f.joiners_head, f.joiners_tail, *w);
        wake(*w, WakeReason::ready);
    }
    if (f.group) {
        if (--f.group->live == 0 && f.group->waiter) wake(*f.group->waiter, WakeReason::ready);
        f.group.reset();
    }
    release_record(&f);  // the runtime's reference
}

void Loop::report_slow(const FiberRecord& f, std::int64_t ran_ns, std::int64_t threshold_ns) const {
    FiberReport r{FiberReport::Kind::slow_fiber};
    r.fiber_id = f.id;
    r.fiber_name = f.display_name();
    r.duration = std::chrono::nanoseconds(ran_ns);
    r.message = fmt::format(
        "fiber '{}' (#{}) ran for {} without switching, blocking its loop (threshold {}); "
        "move blocking work to orm::run_in_thread() or call orm::yield_now() in long loops",
        r.fiber_name, f.id, format_duration(r.duration), format_duration(std::chrono::nanoseconds(threshold_ns)));
    report(r);
}

void Loop::poll(bool block) {
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
}

void Loop::fire_timers() {
    if (timers_.empty()) return;
    const auto now = Clock::now();
    while (!timers_.empty() && timers_.top()->deadline <= now) wake(*timers_.top(), WakeReason::timeout);
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
    if (read) e.reader = &w;
    if (write) e.writer = &w;
    bool pollable;
    try {
        pollable = arm(w.fd, e);
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

// One-shot registration for what the fd's current waiters still want: one epoll_ctl per wait,
// and the kernel disarms it when it fires, so an fd nobody waits on never wakes the loop twice.
bool Loop::arm(int fd, FdEntry& e) {
    std::uint32_t want = 0;
    if (e.reader && e.reader->reason == WakeReason::none) want |= EPOLLIN | EPOLLRDHUP;
    if (e.writer && e.writer->reason == WakeReason::none) want |= EPOLLOUT;
    if (want == 0) return true;
    epoll_event ev{};
    ev.events = want | EPOLLONESHOT;
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
            if (errno == EPERM) return false;  // regular files and the like: always ready
            if (errno == EBADF)
                throw InterfaceError(fmt::format("cannot wait for fd {}: it is not an open file descriptor", fd));
            throw sys_error("orm fiber loop: epoll_ctl");
        }
    }
    e.registered = true;
    return true;
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
        arm(fd, e);  // the other direction, if someone still waits for it
    } catch (...) {
        // the fd went away under a waiter: let it find out from its next read or write
        for (Waiter* w : {e.reader, e.writer})
            if (w && w->reason == WakeReason::none) {
                w->ready = w->interest;
                wake(*w, WakeReason::ready);
            }
    }
}

std::string Loop::describe(const Waiter& w) const {
    switch (w.kind) {
        case WaitKind::io: return fmt::format("{} fd {}", direction(w.interest), w.fd);
        case WaitKind::sleep: return "sleep";
        case WaitKind::join: return "join " + (w.target ? w.target->display_name() : std::string("?"));
        case WaitKind::run_group: {
            const std::size_t left = w.group ? w.group->live : 0;
            return left ? fmt::format("run ({} fibers left)", left) : std::string("run");
        }
        case WaitKind::offload: return "thread offload";
        case WaitKind::queue: return "wait queue";
    }
    return "?";
}

void Loop::snapshot(std::vector<FiberInfo>& out) const {
    const auto now = Clock::now();
    auto add = [&](std::uint64_t fid, std::string name, FiberState state, const Waiter* w) {
        FiberInfo info;
        info.id = fid;
        info.name = std::move(name);
        info.state = state;
        info.thread = thread_;
        if (w) {
            info.waiting_for = describe(*w);
            if (w->deadline != no_deadline)
                info.time_left = std::chrono::duration_cast<std::chrono::nanoseconds>(w->deadline - now);
        }
        out.push_back(std::move(info));
    };
    if (outside_) add(0, "(thread)", FiberState::waiting, outside_);
    std::vector<const FiberRecord*> fibers;
    for (const FiberRecord* f = live_head_; f; f = f->next_live) fibers.push_back(f);
    std::reverse(fibers.begin(), fibers.end());  // spawn order
    for (const FiberRecord* f : fibers) {
        add(f->id, f->display_name(), f->state, f->state == FiberState::waiting ? f->waiting : nullptr);
        if (f->state == FiberState::ready && f->yielded) out.back().waiting_for = "yield";
    }
}

void Loop::snapshot_all(std::vector<FiberInfo>& out) {
    Loop* own = this_thread_loop;
    if (own) own->snapshot(out);
    Registry& reg = registry();
    std::lock_guard lock(reg.mu);
    for (Loop* l : reg.loops) {
        if (l == own) continue;
        std::unique_lock owner(l->owner_mu_, std::defer_lock);
        if (owner.try_lock_for(std::chrono::milliseconds(100))) {
            l->snapshot(out);
        } else {
            FiberInfo busy;
            busy.name = "(busy)";
            busy.state = FiberState::running;
            busy.waiting_for = "a fiber has been running for over 100 ms; its loop could not be inspected";
            busy.thread = l->thread_;
            out.push_back(std::move(busy));
        }
    }
}

void Loop::throw_deadlock() const {
    std::vector<FiberInfo> fibers;
    snapshot(fibers);
    std::string table;
    for (const FiberInfo& f : fibers)
        table += fmt::format("\n  {} #{} {} {}", f.name, f.id, to_string(f.state), f.waiting_for);
    throw InterfaceError(fmt::format(
        "deadlock: this thread waits outside any fiber for something only its own fibers could "
        "bring about, but every fiber is suspended and nothing can wake one (no I/O, timer, "
        "thread offload or cross-thread wait is pending):{}",
        table));
}

}  // namespace orm::detail
