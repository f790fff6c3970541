// The live values of orm::FiberOptions, as atomics the hot paths read without locking (internal).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace orm::detail {

struct Settings {
    std::atomic<std::size_t> stack_size{128 * 1024};
    std::atomic<bool> guard_pages{true};
    std::atomic<std::size_t> stack_cache{1024};
    std::atomic<std::int64_t> slow_fiber_ns{100'000'000};
    std::atomic<std::size_t> offload_threads{8};
    std::atomic<int> offload_nice{10};
    std::atomic<std::size_t> offload_cpu_slots{0};
    std::atomic<std::int64_t> loop_slice_ns{100'000};
    // Bumped by every set_fiber_options(), so per-thread stack caches notice a new stack size.
    std::atomic<std::uint64_t> generation{0};
};

extern Settings settings;

}  // namespace orm::detail
