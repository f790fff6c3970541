// StackPool: fiber stacks as lazily committed mmap regions with a guard page, cached per thread
// so spawning reuses a finished fiber's stack instead of mapping a new one (internal).
#pragma once

#include <cstdint>
#include <vector>

#include "drivers/bridge/detail/context.hpp"

namespace orm::detail {

struct FiberRecord;

// The inaccessible gap below every fiber stack (see map_stack in stack_pool.cpp).
inline constexpr std::size_t stack_guard_gap = 256 * 1024;

class StackPool {
public:
    StackPool() = default;
    StackPool(const StackPool&) = delete;
    StackPool& operator=(const StackPool&) = delete;
    ~StackPool();

    boost::context::stack_context allocate();
    void deallocate(boost::context::stack_context& sc) noexcept;

private:
    void flush() noexcept;

    std::vector<void*> free_;  // stack tops of cached stacks, all of size_ usable bytes
    std::size_t size_ = 0;
    std::uint64_t generation_ = ~std::uint64_t{0};
};

// The allocator Boost.Context keeps inside each fiber; forwards to the fiber's thread's pool.
// It also tells the fiber's record where its stack lies (for the stack overflow report).
struct PooledStack {
    StackPool* pool;
    FiberRecord* owner = nullptr;
    boost::context::stack_context allocate();
    void deallocate(boost::context::stack_context& sc) noexcept { pool->deallocate(sc); }
};

}  // namespace orm::detail
