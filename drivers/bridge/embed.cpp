// orm::loop_fd / loop_step / loop_pending / loop_timeout: this thread's fiber loop, driven by an
// application's own event loop (see embed.hpp). The work is Loop::step (detail/loop.cpp).
#include "drivers/bridge/embed.hpp"

#include "drivers/bridge/detail/loop.hpp"

namespace orm {

int loop_fd() { return detail::Loop::current().epoll_fd(); }

std::size_t loop_step() { return detail::Loop::current().step(); }

bool loop_pending() {
    detail::Loop* loop = detail::Loop::current_if_any();
    return loop && loop->pending();
}

std::chrono::nanoseconds loop_timeout() {
    detail::Loop* loop = detail::Loop::current_if_any();
    return loop ? loop->timeout() : std::chrono::nanoseconds::max();
}

int loop_timeout_ms() {
    const std::chrono::nanoseconds t = loop_timeout();
    if (t == std::chrono::nanoseconds::max()) return -1;
    const auto ms = (t.count() + 999'999) / 1'000'000;  // rounded up: never wake before the timer
    return ms > 0x7fffffff ? 0x7fffffff : int(ms);
}

std::size_t loop_fibers() noexcept {
    detail::Loop* loop = detail::Loop::current_if_any();
    return loop ? loop->live_fibers() : 0;
}

}  // namespace orm
