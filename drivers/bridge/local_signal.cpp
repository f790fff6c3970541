// LocalSignal: a same-thread wake-up (see local_signal.hpp).
#include "drivers/bridge/local_signal.hpp"

#include <cassert>

#include "drivers/bridge/detail/loop.hpp"
#include "drivers/bridge/detail/report.hpp"
#include "drivers/errors.hpp"

namespace orm {

LocalSignal::~LocalSignal() { assert(waiter_ == nullptr && "LocalSignal destroyed while a fiber waits on it"); }

void LocalSignal::set() noexcept {
    if (detail::Waiter* w = waiter_) {
        waiter_ = nullptr;
        w->loop->notify(*w);  // our own thread: straight into the ready queue
        return;
    }
    set_ = true;
}

bool LocalSignal::wait_until(Deadline deadline) {
    if (set_) {
        set_ = false;
        return true;
    }
    if (waiter_) throw InterfaceError("LocalSignal::wait(): another fiber already waits on this signal");
    detail::Loop& loop = detail::Loop::current();
    loop.check_can_wait("LocalSignal::wait()");
    if (deadline != no_deadline && deadline <= std::chrono::steady_clock::now()) return false;
    detail::Waiter w(loop, detail::current_fiber, detail::WaitKind::signal, deadline);
    waiter_ = &w;
    detail::WakeReason reason;
    try {
        reason = loop.park(w);
    } catch (...) {
        if (waiter_ == &w) waiter_ = nullptr;
        throw;
    }
    if (waiter_ == &w) waiter_ = nullptr;  // woken otherwise (cancelled, timed out)
    if (reason == detail::WakeReason::cancelled) detail::throw_cancelled("LocalSignal::wait()");
    if (reason == detail::WakeReason::timeout) return false;
    set_ = false;
    return true;
}

}  // namespace orm
