// Waiter: one pending wait of a fiber, or of a thread waiting outside any fiber (internal).
// It lives on the waiting code's own stack for the duration of the wait, linked into whatever
// will end it: the timer heap, the loop's fd table, a join list, a WaitQueue, an offload job.
#pragma once

#include <cstddef>
#include <cstdint>

#include "drivers/bridge/deadline.hpp"
#include "drivers/bridge/wait.hpp"

namespace orm::detail {

struct FiberRecord;
struct RunGroup;
class Loop;

enum class WaitKind : std::uint8_t { io, sleep, join, run_group, offload, queue, signal };

enum class WakeReason : std::uint8_t {
    none,       // still waiting
    ready,      // what it waited for happened
    timeout,    // the deadline passed first
    cancelled,  // the thread is exiting
};

inline constexpr std::size_t not_in_heap = ~std::size_t{0};
inline constexpr std::size_t timer_in_run = not_in_heap - 1;

struct Waiter {
    Waiter(Loop& l, FiberRecord* f, WaitKind k, Deadline d) noexcept
        : loop(&l), fiber(f), kind(k), deadline(d) {}
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

    Loop* loop;
    FiberRecord* fiber;  // null: the thread itself, which drives the loop while it waits
    WaitKind kind;
    WakeReason reason = WakeReason::none;
    Deadline deadline;

    int fd = -1;              // io
    std::uint64_t owner = 0;  // io: the socket's owner token (0: a one-shot registration)
    Io interest{};            // io: asked for
    Io ready{};               // io: found ready
    const FiberRecord* target = nullptr;  // join / run_group: whom it waits for (dumps)
    const RunGroup* group = nullptr;      // run_group: the fibers run() waits for (dumps)

    std::size_t heap_index = not_in_heap;  // timer heap slot while armed (timer_in_run: in the run)
    std::uint64_t timer_seq = 0;           // FIFO among equal deadlines
    Waiter* timer_prev = nullptr;          // links in the timer heap's run of ordered deadlines
    Waiter* timer_next = nullptr;

    Waiter* prev = nullptr;  // links in a join list or a WaitQueue
    Waiter* next = nullptr;
    bool linked = false;
};

}  // namespace orm::detail

namespace orm::detail {

// Intrusive FIFO of waiters (join lists, wait queues); the caller provides the locking.
inline void link_back(Waiter*& head, Waiter*& tail, Waiter& w) noexcept {
    w.prev = tail;
    w.next = nullptr;
    (tail ? tail->next : head) = &w;
    tail = &w;
    w.linked = true;
}

inline void unlink(Waiter*& head, Waiter*& tail, Waiter& w) noexcept {
    (w.prev ? w.prev->next : head) = w.next;
    (w.next ? w.next->prev : tail) = w.prev;
    w.prev = w.next = nullptr;
    w.linked = false;
}

}  // namespace orm::detail
