// Loop: thread lifecycle and shutdown, scheduling, parking and waking, timers, cross-thread
// wake-ups. (I/O polling is in loop_io.cpp, dumps and reports in loop_dump.cpp.)
#include "drivers/bridge/detail/loop.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "drivers/bridge/detail/overflow.hpp"
#include "drivers/bridge/detail/report.hpp"
#include "drivers/bridge/detail/settings.hpp"
#include "drivers/errors.hpp"

namespace orm::detail {
namespace {

using Clock = std::chrono::steady_clock;

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
Registry*& registry_ptr() {
    static Registry* r = new Registry;
    return r;
}
Registry& registry() { return *registry_ptr(); }

// The child of a fork() has only the forking thread. Its loop gets kernel objects of its own
// (the epoll set and eventfd it inherited are shared with the parent, which would receive the
// child's events and wake-ups and vice versa); the other threads' loops, and the offload workers,
// are gone: the registry forgets them and the worker pool starts over.
void after_fork_in_child() noexcept {
    reset_offload_in_child();
    Registry* fresh = new (std::nothrow) Registry;
    if (fresh) {
        if (this_thread_loop) fresh->loops.push_back(this_thread_loop);
        registry_ptr() = fresh;  // the old one (its mutex perhaps held by a thread now gone) leaks
    }
    if (this_thread_loop) this_thread_loop->reset_after_fork();
}

// A thread's loop needs two descriptors. Out of descriptors is the process's condition, not a
// bug: an OperationalError that says so (the caller may wait and retry), never a crash.
[[noreturn]] void throw_setup_error(const char* call) {
    const int err = errno;
    if (err == EMFILE || err == ENFILE) {
        rlimit rl{};
        const bool known = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
        throw OperationalError(fmt::format(
            "the fiber runtime cannot start this thread's loop: out of file descriptors ({}: {}; "
            "this process may open {}, see ulimit -n / RLIMIT_NOFILE); close descriptors or raise the limit",
            call, std::strerror(err), known ? std::to_string(rl.rlim_cur) : std::string("an unknown number")));
    }
    throw std::system_error(err, std::generic_category(), fmt::format("orm fiber loop: {}", call));
}

std::system_error sys_error(const char* what) {
    return std::system_error(errno, std::generic_category(), what);
}

// FiberOptions::loop_time_slice for the calling thread: sched_setattr with SCHED_OTHER, the
// thread's own nice value and the slice as sched_runtime (EEVDF's custom slice, Linux 6.12+).
// Failure (an older kernel, a policy we must not touch) leaves the thread as it was.
void request_loop_slice() noexcept {
    const std::int64_t ns = settings.loop_slice_ns.load(std::memory_order_relaxed);
    if (ns <= 0) return;
    if (::sched_getscheduler(0) != SCHED_OTHER) return;  // real-time, batch or idle: the user's choice
    struct SchedAttr {  // the kernel's struct sched_attr (glibc 2.36 has no wrapper)
        std::uint32_t size, sched_policy;
        std::uint64_t sched_flags;
        std::int32_t sched_nice;
        std::uint32_t sched_priority;
        std::uint64_t sched_runtime, sched_deadline, sched_period;
    } attr{};
    errno = 0;
    const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    if (errno != 0) return;
    attr.size = sizeof attr;
    attr.sched_policy = SCHED_OTHER;
    attr.sched_nice = nice;
    attr.sched_runtime = static_cast<std::uint64_t>(ns);
    (void)::syscall(SYS_sched_setattr, 0, &attr, 0u);
}

// Time since an arbitrary origin for the slow-fiber check. The coarse clock costs a few ns
// instead of ~20 but ticks only every few ms, so it serves thresholds well above that.
std::int64_t switch_clock_ns(std::int64_t threshold_ns) noexcept {
    timespec ts;
    ::clock_gettime(threshold_ns >= 20'000'000 ? CLOCK_MONOTONIC_COARSE : CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
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

// The loop's kernel objects: its epoll set with its eventfd in it. On failure neither is left open.
void Loop::open_kernel_objects() {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw_setup_error("epoll_create1");
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
        const int err = errno;
        ::close(epoll_fd_);
        errno = err;
        throw_setup_error("eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_tag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
        ::close(wake_fd_);
        ::close(epoll_fd_);
        throw sys_error("orm fiber loop: epoll_ctl(eventfd)");
    }
}

Loop::Loop() : id_(next_loop_id.fetch_add(1, std::memory_order_relaxed)), thread_(std::this_thread::get_id()) {
    open_kernel_objects();
    Registry& reg = registry();
    {
        std::lock_guard lock(reg.mu);
        reg.loops.push_back(this);
    }
    request_loop_slice();
    prepare_overflow_reports();
    static std::once_flag fork_handler;
    std::call_once(fork_handler, [] { ::pthread_atfork(nullptr, nullptr, after_fork_in_child); });
}

void Loop::reset_after_fork() noexcept {
    ::close(epoll_fd_);
    ::close(wake_fd_);
    try {
        open_kernel_objects();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "weft: the fiber loop could not be set up again in a forked child: %s\n", e.what());
    }
    new (&remote_mu_) std::mutex;  // a notifier thread of the parent may have held it
    remote_.clear();
    remote_batch_.clear();
    wake_pending_ = false;
    // Registrations lived in the parent's epoll set. Waiters wake (spuriously, which every wait
    // allows) and register again with the new set when they wait again.
    for (FdEntry& e : fds_) {
        e.registered = false;
        e.armed = 0;
        for (Waiter* w : {e.reader, e.writer})
            if (w && w->reason == WakeReason::none) {
                w->ready = w->interest;
                wake(*w, WakeReason::ready);
            }
    }
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
    while (before_head_) cancel(*before_head_);  // their owners outlive the loop: forget it
    {
        std::lock_guard lock(remote_mu_);  // a notifier on another thread may still be writing
        ::close(wake_fd_);
        wake_fd_ = -1;
    }
    ::close(epoll_fd_);
    if (std::this_thread::get_id() == thread_) release_overflow_stack();
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
        if (before_head_) run_before_poll();  // may wake fibers: before the deadlock check
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

std::size_t Loop::step() {
    if (current_fiber)
        throw InterfaceError(
            "orm::loop_step() was called from inside a fiber: it runs the loop for an application's "
            "own event loop and must be called from that loop, outside any fiber (a fiber that "
            "wants others to run calls orm::yield_now())");
    if (driving_)
        throw InterfaceError(
            "orm::loop_step() was called from inside the fiber loop itself (a reporter or other loop "
            "callback, or while a weft call outside any fiber is driving the loop): it cannot re-enter");
    if (closing_) return 0;
    driving_ = true;
    OwnerLock lock(*this);
    struct Reset {
        bool& driving;
        ~Reset() { driving = false; }
    } reset{driving_};
    poll(false);
    fire_timers();
    // Only the fibers ready now: those that become ready meanwhile (a yield) wait for the next
    // step, so the application's own loop gets its turn in between.
    const unsigned before = resumes_since_poll_;
    if (ready_head_) run_ready();
    const std::size_t resumed = resumes_since_poll_ - before;
    resumes_since_poll_ = 0;
    return resumed;
}

bool Loop::pending() const {
    if (ready_head_ || before_head_) return true;
    if (!timers_.empty() && timers_.top()->deadline <= Clock::now()) return true;
    pollfd p{epoll_fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

std::chrono::nanoseconds Loop::timeout() const {
    if (ready_head_ || before_head_) return std::chrono::nanoseconds::zero();
    if (timers_.empty()) return std::chrono::nanoseconds::max();
    const auto left = timers_.top()->deadline - Clock::now();
    if (left <= Clock::duration::zero()) return std::chrono::nanoseconds::zero();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(left);
}

void Loop::run_ready() {
    FiberRecord* f = std::exchange(ready_head_, nullptr);
    ready_tail_ = nullptr;
    const std::int64_t threshold = settings.slow_fiber_ns.load(std::memory_order_relaxed);
    std::int64_t started = threshold > 0 ? switch_clock_ns(threshold) : 0;
    while (f) {
        FiberRecord* next = std::exchange(f->next_ready, nullptr);
        ++resumes_since_poll_;
        batch_rest_ = next;
        switch_in(*f);
        batch_rest_ = nullptr;
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

void Loop::fire_timers() {
    if (timers_.empty()) return;
    const auto now = Clock::now();
    while (!timers_.empty() && timers_.top()->deadline <= now) wake(*timers_.top(), WakeReason::timeout);
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

}  // namespace orm::detail
