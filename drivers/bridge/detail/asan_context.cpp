// Sanitized builds only: the thread-local "current context" that Boost.Context's ucontext
// implementation expects from the library. Debian builds libboost_context for fcontext, which
// lacks it, and detail/context.hpp switches to ucontext under AddressSanitizer. Same scheme as
// Boost's own src/fiber.cpp: a per-thread record for the thread's original stack, made on first use.
#include "drivers/bridge/detail/context.hpp"

#if defined(BOOST_USE_UCONTEXT)

namespace boost::context::detail {
namespace {
thread_local fiber_activation_record* current_record = nullptr;
thread_local std::size_t users = 0;
}  // namespace

fiber_activation_record_initializer::fiber_activation_record_initializer() noexcept {
    if (users++ == 0) current_record = new fiber_activation_record();
}

fiber_activation_record_initializer::~fiber_activation_record_initializer() {
    if (--users == 0) {
        delete current_record;
        current_record = nullptr;
    }
}

fiber_activation_record*& fiber_activation_record::current() noexcept {
    thread_local fiber_activation_record_initializer initializer;
    return current_record;
}

}  // namespace boost::context::detail

#endif
