// FiberOptions: validation and the atomics the runtime reads them from.
#include "drivers/bridge/options.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "drivers/bridge/detail/settings.hpp"
#include "drivers/errors.hpp"

namespace orm {

namespace detail {
constinit Settings settings;
}  // namespace detail

void set_fiber_options(const FiberOptions& o) {
    constexpr std::size_t min_stack = 16 * 1024;
    constexpr std::size_t max_stack = std::size_t{1} << 30;
    if (o.stack_size < min_stack || o.stack_size > max_stack)
        throw InterfaceError(fmt::format("FiberOptions::stack_size = {} bytes: must be between {} (16 KiB) and {} (1 GiB)",
                                         o.stack_size, min_stack, max_stack));
    if (o.offload_threads == 0)
        throw InterfaceError("FiberOptions::offload_threads = 0: run_in_thread needs at least one worker thread");
    if (o.offload_nice < 0 || o.offload_nice > 19)
        throw InterfaceError(fmt::format("FiberOptions::offload_nice = {}: must be between 0 and 19 (an unprivileged "
                                         "thread can only lower its priority)",
                                         o.offload_nice));
    if (o.loop_time_slice.count() < 0)
        throw InterfaceError("FiberOptions::loop_time_slice is negative: use 0 to leave the scheduler's default");
    if (o.slow_fiber_threshold.count() < 0)
        throw InterfaceError("FiberOptions::slow_fiber_threshold is negative: use 0 to turn the check off");
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    auto& s = detail::settings;
    s.stack_size.store((o.stack_size + page - 1) / page * page, std::memory_order_relaxed);
    s.guard_pages.store(o.guard_pages, std::memory_order_relaxed);
    s.stack_cache.store(o.stack_cache, std::memory_order_relaxed);
    s.slow_fiber_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(o.slow_fiber_threshold).count(),
                          std::memory_order_relaxed);
    s.offload_threads.store(o.offload_threads, std::memory_order_relaxed);
    s.offload_nice.store(o.offload_nice, std::memory_order_relaxed);
    s.offload_cpu_slots.store(o.offload_cpu_slots, std::memory_order_relaxed);
    s.loop_slice_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(o.loop_time_slice).count(),
                          std::memory_order_relaxed);
    s.generation.fetch_add(1, std::memory_order_release);
}

FiberOptions fiber_options() {
    const auto& s = detail::settings;
    FiberOptions o;
    o.stack_size = s.stack_size.load(std::memory_order_relaxed);
    o.guard_pages = s.guard_pages.load(std::memory_order_relaxed);
    o.stack_cache = s.stack_cache.load(std::memory_order_relaxed);
    o.slow_fiber_threshold = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::nanoseconds(s.slow_fiber_ns.load(std::memory_order_relaxed)));
    o.offload_threads = s.offload_threads.load(std::memory_order_relaxed);
    o.offload_nice = s.offload_nice.load(std::memory_order_relaxed);
    o.offload_cpu_slots = s.offload_cpu_slots.load(std::memory_order_relaxed);
    o.loop_time_slice = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::nanoseconds(s.loop_slice_ns.load(std::memory_order_relaxed)));
    return o;
}

}  // namespace orm
