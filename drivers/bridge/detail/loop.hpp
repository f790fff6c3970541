// Loop: the per-thread scheduler (internal). It owns the ready queue, the timer heap, the epoll
// set, the fd table, the cross-thread wake-up queue (one eventfd) and the stack cache, and it
// is what a thread waiting outside any fiber drives until its own wait ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "drivers/bridge/detail/fiber.hpp"
#include "drivers/bridge/detail/stack_pool.hpp"
#include "drivers/bridge/detail/timer_heap.hpp"
#include "drivers/bridge/before_poll.hpp"
#include "drivers/bridge/detail/waiter.hpp"
#include "drivers/bridge/dump.hpp"

namespace orm::detail {

class Loop {
public:
    // This thread's loop, created on first use and destroyed at thread exit (which cancels the
    // fibers still suspended on it).
    static Loop& current();
    static Loop* current_if_any() noexcept;

    Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;
    ~Loop();

    std::uint64_t id() const noexcept { return id_; }
    std::size_t live_fibers() const noexcept { return live_; }
    // The thread is running loop code outside any fiber (inside a drive or a callback of it).
    bool in_loop_callback() const noexcept { return driving_ && current_fiber == nullptr; }
    bool closing() const noexcept { return closing_; }

    // Throws orm::InterfaceError when `what` cannot wait here: from a loop callback outside any
    // fiber, or while the thread is exiting.
    void check_can_wait(std::string_view what) const;

    FiberRecord* spawn(std::string name, std::unique_ptr<TaskBody> body, std::shared_ptr<RunGroup> group);
    void yield();

    // Suspends the calling fiber, or drives the loop when called outside any fiber, until `w`
    // is woken; arms w's deadline. Returns why it was woken.
    WakeReason park(Waiter& w);
    // Ends `w`'s wait (the first reason given wins). This thread only.
    void wake(Waiter& w, WakeReason reason) noexcept;
    // Ends `w`'s wait with WakeReason::ready, from any thread (through the eventfd if not ours).
    void notify(Waiter& w);
    // Withdraws a notify() of `w` not yet delivered, so nothing touches `w` afterwards.
    void retract(Waiter& w) noexcept;

    // Registers `w` for readiness of w.fd as w.interest asks. False: the fd cannot be polled
    // (a regular file), so it is always ready.
    bool watch(Waiter& w);
    void unwatch(Waiter& w) noexcept;
    // See orm::io_idle_quiet / io_poll_mark.
    bool idle_quiet(int fd, std::uint64_t owner, std::uint64_t mark) const noexcept;
    std::uint64_t poll_mark() const noexcept { return (id_ << mark_poll_bits) | (polls_ & mark_poll_mask); }
    static constexpr unsigned mark_poll_bits = 40;
    static constexpr std::uint64_t mark_poll_mask = (std::uint64_t{1} << mark_poll_bits) - 1;

    // orm::BeforePoll: scheduled work, run (in the order scheduled) at the start of the next poll.
    void schedule(BeforePoll& b) noexcept;
    void cancel(BeforePoll& b) noexcept;
    // orm::io_rouse: wakes fd's waiters with what they wait for.
    void rouse(int fd) noexcept;
    // Whether a fiber other than the running one is ready: queued, or later in the batch that
    // run_ready() took off the queue.
    bool has_ready() const noexcept { return ready_head_ != nullptr || batch_rest_ != nullptr; }

    // In the child of a fork(): new epoll set and eventfd, registrations re-armed by the waiters.
    void reset_after_fork() noexcept;

    // Embedding in an application's event loop (orm::loop_fd and friends, embed.hpp).
    int epoll_fd() const noexcept { return epoll_fd_; }
    std::size_t step();
    bool pending() const;
    std::chrono::nanoseconds timeout() const;

    // Waits only something outside this loop can end: they keep a waiting loop from being
    // declared deadlocked.
    std::size_t queue_waits = 0;
    std::size_t offload_waits = 0;

    // What list_fibers() shows; call on the owning thread or with owner_mutex() held.
    void snapshot(std::vector<FiberInfo>& out) const;
    // The same for every loop of the process (this thread's first).
    static void snapshot_all(std::vector<FiberInfo>& out);
    // Held by the owning thread whenever it changes the loop's state, except while it blocks in
    // epoll_wait: a dump from another thread takes it to read a consistent picture.
    std::timed_mutex& owner_mutex() const noexcept { return owner_mu_; }

private:
    friend class OwnerLock;
    static constexpr std::uint64_t wake_tag = ~std::uint64_t{0};  // epoll data of the eventfd
    struct FdEntry {
        Waiter* reader = nullptr;
        Waiter* writer = nullptr;
        bool registered = false;  // added to the epoll set (the kernel drops it when the fd closes)
        // Owned registrations (wait_io with an owner): level-triggered, kept between waits.
        std::uint64_t owner = 0;  // whose registration this is (0: one-shot)
        std::uint32_t armed = 0;  // the events registered for an owner, while `registered`
    };

    void open_kernel_objects();
    // Runs the loop until done(); `waiting` is the thread's own wait, shown in dumps.
    template <class Done>
    void drive(Done done, Waiter* waiting);
    void drive_once();
    void run_ready();
    void poll(bool block);
    void run_before_poll() noexcept;
    void fire_timers();
    void drain_remote();
    void finish(FiberRecord& f);
    void make_ready(FiberRecord& f) noexcept;
    bool arm(int fd, FdEntry& e);
    bool arm_owned(int fd, FdEntry& e, bool after_event);
    bool epoll_set(int fd, FdEntry& e, std::uint32_t events);
    void io_event(int fd, std::uint32_t events);
    void report_slow(const FiberRecord& f, std::int64_t ran_ns, std::int64_t threshold_ns) const;
    [[noreturn]] void throw_deadlock() const;
    void shut_down_fibers();
    std::string describe(const Waiter& w) const;

    const std::uint64_t id_;
    const std::thread::id thread_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    bool use_pwait2_ = true;

    StackPool stacks_;
    TimerHeap timers_;
    FiberRecord* ready_head_ = nullptr;
    FiberRecord* ready_tail_ = nullptr;
    FiberRecord* live_head_ = nullptr;
    std::size_t live_ = 0;
    std::vector<FdEntry> fds_;
    std::uint64_t polls_ = 0;         // complete polls (every ready event delivered and handled)
    std::int64_t last_poll_ns_ = 0;   // CLOCK_MONOTONIC_COARSE at the last complete poll
    std::size_t fd_waits_ = 0;
    Waiter* outside_ = nullptr;  // the thread's own wait while it drives the loop
    bool driving_ = false;
    bool closing_ = false;
    unsigned resumes_since_poll_ = 0;
    FiberRecord* batch_rest_ = nullptr;  // run_ready(): the fibers after the running one
    BeforePoll* before_head_ = nullptr;  // scheduled BeforePoll work, oldest first
    BeforePoll* before_tail_ = nullptr;
    std::size_t before_count_ = 0;

    std::mutex remote_mu_;
    std::vector<Waiter*> remote_;  // notify()'ed from other threads, not yet delivered
    std::vector<Waiter*> remote_batch_;
    bool wake_pending_ = false;  // the eventfd has been written since the last drain

    mutable std::timed_mutex owner_mu_;
    bool owner_locked_ = false;
};

// After fork() in the child: a fresh offload worker pool and CPU slots (offload.cpp).
void reset_offload_in_child() noexcept;

// Takes the loop's owner mutex unless this thread already holds it.
class OwnerLock {
public:
    explicit OwnerLock(Loop& l) : loop_(l), took_(!l.owner_locked_) {
        if (took_) {
            l.owner_mu_.lock();
            l.owner_locked_ = true;
        }
    }
    OwnerLock(const OwnerLock&) = delete;
    OwnerLock& operator=(const OwnerLock&) = delete;
    ~OwnerLock() {
        if (took_) {
            loop_.owner_locked_ = false;
            loop_.owner_mu_.unlock();
        }
    }

private:
    Loop& loop_;
    bool took_;
};

}  // namespace orm::detail
