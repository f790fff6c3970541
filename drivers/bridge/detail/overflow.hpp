// Fiber stack overflow reports (internal): a SIGSEGV/SIGBUS handler on an alternate signal
// stack that, when the faulting address lies in the guard gap below the running fiber's stack,
// writes which fiber overflowed and how big its stack is, then lets the fault take its course
// (the previous handler, or the default action: the process dies with SIGSEGV).
#pragma once

namespace orm::detail {

// Installs the process-wide handler (once) and this thread's alternate signal stack (unless the
// thread already has one). Called by every thread's loop when it is created.
void prepare_overflow_reports() noexcept;
// Removes this thread's alternate signal stack if prepare_overflow_reports() installed it.
void release_overflow_stack() noexcept;

}  // namespace orm::detail
