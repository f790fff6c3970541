// The one include of Boost.Context (internal; never reached from a public header).
//
// Under AddressSanitizer the fcontext implementation (assembly switches, no annotations) makes
// ASan lose track of which stack is current and report false stack-buffer-overflows when an
// exception unwinds on a fiber. Boost's ucontext implementation carries the
// __sanitizer_start/finish_switch_fiber annotations when BOOST_USE_ASAN is defined, so sanitized
// builds use it (slower: swapcontext saves the signal mask with a syscall).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#ifndef BOOST_USE_ASAN
#define BOOST_USE_ASAN 1
#endif
#ifndef BOOST_USE_UCONTEXT
#define BOOST_USE_UCONTEXT 1
#endif
#endif

#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>

namespace orm::detail {
// Frees what the context implementation keeps per thread (after the thread's loop is gone).
void release_thread_context() noexcept;
}  // namespace orm::detail
