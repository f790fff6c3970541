// The process-wide mode switch (blocking drivers vs. nonblocking drivers under fibers) and
// in_fiber(). Drivers read is_async() once at the start of each operation, so flipping the
// switch takes effect at the next operation and one already in flight finishes in its mode.
#pragma once

#include <atomic>

namespace orm {

namespace detail {
extern std::atomic<bool> async_mode;
}  // namespace detail

// true: drivers never block the thread; a waiting operation suspends the calling fiber, or,
// outside any fiber, drives this thread's loop until it completes. false: blocking calls.
inline void set_async(bool on) noexcept { detail::async_mode.store(on, std::memory_order_release); }
inline bool is_async() noexcept { return detail::async_mode.load(std::memory_order_acquire); }

// True while the caller runs on a fiber started by orm::spawn or orm::run on this thread.
bool in_fiber() noexcept;

}  // namespace orm
