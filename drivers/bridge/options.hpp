// Process-wide settings of the fiber runtime: stack size and caching, the slow-fiber
// threshold, and the size of the thread pool behind orm::run_in_thread.
#pragma once

#include <chrono>
#include <cstddef>

namespace orm {

struct FiberOptions {
    // Usable stack per fiber, rounded up to whole pages (minimum 16 KiB). Stacks are mmap'ed and
    // committed lazily, so an idle fiber costs the pages it has touched, not this size. 128 KiB
    // because in sync mode a fiber runs libpq and sqlite3 on its own stack, and libpq's connect
    // path (getaddrinfo, NSS, TLS setup) is known to want tens of KiB.
    std::size_t stack_size = 128 * 1024;
    // An inaccessible 256 KiB gap below every stack (address space only, no memory), so an
    // overflow faults at once instead of silently corrupting the neighbouring stack, even by a
    // frame that jumps far past the end; the fault is reported with the fiber's name and stack
    // size before the process dies. Frames larger than the gap need -fstack-clash-protection
    // (weft's pkg-config and CMake packages add it). One madvise(MADV_GUARD_INSTALL) per new stack (the cache
    // amortises it). Before Linux 6.13 it takes mprotect, which gives every stack a second
    // memory mapping: with vm.max_map_count at its usual 65530 that caps a process at roughly
    // 30,000 live fibers there; turn guard pages off only to go beyond that on such kernels.
    bool guard_pages = true;
    // Finished fibers' stacks kept per thread for reuse (no mmap/munmap per spawn).
    std::size_t stack_cache = 1024;
    // A fiber running longer than this between two switches is reported (FiberReport::slow_fiber).
    // Zero turns the check off (and with it one clock read per switch).
    std::chrono::milliseconds slow_fiber_threshold{100};
    // Upper bound on the worker threads behind orm::run_in_thread (started on demand).
    std::size_t offload_threads = 8;
    // Nice increment of the run_in_thread workers (0..19), applied when a worker starts. CPU-heavy
    // offloaded work (a long SQLite query) then yields the core to the loop thread whenever the
    // loop wakes, so timers and socket readiness are served within a scheduler tick instead of
    // after a full CFS latency period; the work itself still gets all otherwise idle CPU.
    int offload_nice = 10;
    // How many threads may run CPU-heavy offloaded work at once (work that holds an
    // orm::CpuSlot: the SQLite driver's statements in async mode). Zero: one less than the CPUs
    // this process may run on, at least one, so a thread running a fiber loop always finds a
    // free core and its timers and sockets are served at once instead of after the scheduler
    // gets round to it. Work blocked inside a slot (SQLite's busy handler) gives it up meanwhile,
    // so a slot holder never waits for a thread that needs a slot.
    std::size_t offload_cpu_slots = 0;
    // The scheduler time slice a thread asks for when it starts a fiber loop (Linux 6.12 and
    // later; ignored elsewhere). A loop thread mostly sleeps and then has a little to do at once
    // (a timer, an answer on a socket): with a short slice, the kernel lets it preempt a
    // CPU-bound thread when it wakes instead of after that thread's full slice (a few ms per
    // runnable competitor). It changes only when the thread runs, not how much CPU it gets.
    // Zero leaves the thread's scheduling alone. Applies to loops started after the call.
    std::chrono::microseconds loop_time_slice{100};
};

// Applies to stacks allocated and switches made after the call, on every thread. Throws
// orm::InterfaceError for a stack size below 16 KiB or above 1 GiB, or zero offload threads.
void set_fiber_options(const FiberOptions& options);
FiberOptions fiber_options();

}  // namespace orm
