// Internal side of orm::FiberReport: delivering reports and the text helpers they share with
// error messages and dumps.
#pragma once

#include <chrono>
#include <exception>
#include <string>
#include <string_view>

#include "drivers/bridge/report.hpp"

namespace orm::detail {

// Hands `r` to the installed reporter; never throws.
void report(const FiberReport& r) noexcept;

// "std::runtime_error: boom" (the dynamic type, demangled), or the type alone for non-std ones.
std::string describe_exception(const std::exception_ptr& e);

// "250 us", "12.5 ms", "2.300 s".
std::string format_duration(std::chrono::nanoseconds d);

// The exception is the FiberCancelled that throw_cancelled() throws.
bool is_cancellation(const std::exception_ptr& e) noexcept;

// The error every wait throws when its thread is exiting and the loop cancels its fibers.
[[noreturn]] void throw_cancelled(std::string_view what);

}  // namespace orm::detail
