// Sanitized builds only: the thread-local "current context" that Boost.Context's ucontext
// implementation expects from the library. Debian builds libboost_context for fcontext, which
// lacks it, and detail/context.hpp switches to ucontext under AddressSanitizer.
//
// Boost's own version frees the record in a thread_local destructor, which may run before the
// loop's (which still switches into fibers to cancel them). Here it is made on first use and
// freed by the loop's owner after the loop is gone.
#include "drivers/bridge/detail/context.hpp"

namespace orm::detail {

#if defined(BOOST_USE_UCONTEXT)

namespace {
thread_local boost::context::detail::fiber_activation_record* current_record = nullptr;
}  // namespace

void release_thread_context() noexcept {
    delete current_record;
    current_record = nullptr;
}

}  // namespace orm::detail

namespace boost::context::detail {

fiber_activation_record*& fiber_activation_record::current() noexcept {
    if (!orm::detail::current_record) orm::detail::current_record = new fiber_activation_record();
    return orm::detail::current_record;
}

}  // namespace boost::context::detail

#else

void release_thread_context() noexcept {}

}  // namespace orm::detail

#endif
