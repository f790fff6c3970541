// How the fiber runtime reports what should not happen silently: a fiber that blocks the loop
// too long, a failed task whose exception nobody retrieved, fibers abandoned at thread exit.
// The default reporter writes one line to stderr; tests and applications can install their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>

namespace orm {

struct FiberReport {
    enum class Kind {
        slow_fiber,             // ran longer than FiberOptions::slow_fiber_threshold without switching
        unretrieved_exception,  // a task ended with an exception and its Task was dropped without get()
        abandoned_fibers,       // fibers still suspended when their thread exited could not be cancelled
    };
    Kind kind;
    std::uint64_t fiber_id = 0;
    std::string fiber_name;
    std::chrono::nanoseconds duration{0};  // slow_fiber: how long it ran
    std::exception_ptr error;              // unretrieved_exception: the exception itself
    std::string message;                   // one human-readable line saying all of the above
};

using FiberReporter = std::function<void(const FiberReport&)>;

// Installs `reporter` (an empty function restores the default) and returns the previous one.
// It may be called on any thread, from inside the loop: it must not wait (waiting calls throw
// orm::InterfaceError there) and should be quick. An exception it throws is written to stderr.
FiberReporter set_fiber_reporter(FiberReporter reporter);

// The default: "weft: <message>" on stderr.
void report_to_stderr(const FiberReport& report);

}  // namespace orm
