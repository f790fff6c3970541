// StackPool: mmap'ed fiber stacks with an optional guard gap, reused per thread.
#include "drivers/bridge/detail/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <new>

#include "drivers/bridge/detail/fiber.hpp"
#include "drivers/bridge/detail/settings.hpp"

namespace orm::detail {
namespace {

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13; glibc 2.36 does not know it yet
#endif

// Linux 6.13+ installs guard pages without a mapping of their own; older kernels need mprotect,
// which splits the region into two mappings (and so counts against vm.max_map_count twice).
std::atomic<bool> guard_install_works{true};

// Every stack is mapped with a guard gap of stack_guard_gap bytes below it; with guard_pages the
// gap faults on any access, without it is simply never touched. It costs address space only (no
// memory), and a gap this wide catches a frame that jumps up to 256 KiB past the stack's end (a
// big local array), which one 4 KiB page would let land silently in the neighbouring mapping.
// Larger frames need -fstack-clash-protection (weft's pkg-config and CMake packages pass it on), which probes
// each page of a big frame in order so that the first probe past the end hits the gap.
void* map_stack(std::size_t size, bool guard) {
    const std::size_t gap = stack_guard_gap;
    // MAP_NORESERVE: memory is committed page by page as the stack grows, which is what keeps an
    // idle fiber at a few KiB. MAP_STACK also opts the region out of transparent huge pages
    // (Linux 6.7+), which would otherwise back merged neighbouring stacks with 2 MiB pages.
    void* base = ::mmap(nullptr, size + gap, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    bool guarded = !guard;
    if (guard && guard_install_works.load(std::memory_order_relaxed)) {
        guarded = ::madvise(base, gap, MADV_GUARD_INSTALL) == 0;
        if (!guarded && errno == EINVAL) guard_install_works.store(false, std::memory_order_relaxed);
    }
    if (!guarded) guarded = ::mprotect(base, gap, PROT_NONE) == 0;
    if (!guarded) {
        ::munmap(base, size + gap);
        throw std::bad_alloc();
    }
    if (!guard || !guard_install_works.load(std::memory_order_relaxed))
        ::madvise(base, size + gap, MADV_NOHUGEPAGE);  // kernels where MAP_STACK does not imply it
    return static_cast<char*>(base) + gap + size;
}

void unmap_stack(void* top, std::size_t size) noexcept {
    ::munmap(static_cast<char*>(top) - size - stack_guard_gap, size + stack_guard_gap);
}

}  // namespace

StackPool::~StackPool() { flush(); }

void StackPool::flush() noexcept {
    for (void* top : free_) unmap_stack(top, size_);
    free_.clear();
}

boost::context::stack_context PooledStack::allocate() {
    boost::context::stack_context sc = pool->allocate();
    if (owner) {
        owner->stack_top = sc.sp;
        owner->stack_size = sc.size;
    }
    return sc;
}

boost::context::stack_context StackPool::allocate() {
    const std::uint64_t generation = settings.generation.load(std::memory_order_acquire);
    if (generation != generation_) {
        flush();
        generation_ = generation;
        size_ = settings.stack_size.load(std::memory_order_relaxed);
    }
    boost::context::stack_context sc;
    sc.size = size_;
    if (!free_.empty()) {
        sc.sp = free_.back();
        free_.pop_back();
    } else {
        sc.sp = map_stack(size_, settings.guard_pages.load(std::memory_order_relaxed));
    }
    return sc;
}

void StackPool::deallocate(boost::context::stack_context& sc) noexcept {
    const bool reusable = sc.size == size_ &&
                          generation_ == settings.generation.load(std::memory_order_relaxed) &&
                          free_.size() < settings.stack_cache.load(std::memory_order_relaxed);
    if (reusable) {
        try {
            free_.push_back(sc.sp);
            return;
        } catch (...) {
            // no room to remember it: unmap instead
        }
    }
    unmap_stack(sc.sp, sc.size);
}

}  // namespace orm::detail
