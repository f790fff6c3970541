// Delivering FiberReports to the installed reporter, and the text helpers behind messages.
#include "drivers/bridge/report.hpp"

#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <typeinfo>

#include <fmt/format.h>

#include "drivers/bridge/detail/report.hpp"
#include "drivers/bridge/wait.hpp"
#include "drivers/errors.hpp"

namespace orm {
namespace {

std::mutex reporter_mu;
FiberReporter& installed() {
    static FiberReporter* r = new FiberReporter;  // never destroyed: reports may come during exit
    return *r;
}

std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
    return status == 0 && d ? std::string(d.get()) : std::string(name);
}

}  // namespace

FiberReporter set_fiber_reporter(FiberReporter reporter) {
    std::lock_guard lock(reporter_mu);
    std::swap(installed(), reporter);
    return reporter;
}

void report_to_stderr(const FiberReport& report) {
    std::fprintf(stderr, "weft: %s\n", report.message.c_str());
}

namespace detail {

void report(const FiberReport& r) noexcept {
    try {
        FiberReporter reporter;
        {
            std::lock_guard lock(reporter_mu);
            reporter = installed();
        }
        if (reporter)
            reporter(r);
        else
            report_to_stderr(r);
    } catch (...) {
        std::fprintf(stderr, "weft: %s\nweft: (the fiber reporter threw while reporting that: %s)\n",
                     r.message.c_str(), describe_exception(std::current_exception()).c_str());
    }
}

std::string describe_exception(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return demangle(typeid(x).name()) + ": " + x.what();
    } catch (...) {
        const std::type_info* t = abi::__cxa_current_exception_type();
        return t ? demangle(t->name()) + " (not derived from std::exception)" : std::string("unknown exception");
    }
}

std::string format_duration(std::chrono::nanoseconds d) {
    const double ns = double(d.count());
    if (ns < 0) return "-" + format_duration(-d);
    if (ns < 1e3) return fmt::format("{} ns", d.count());
    if (ns < 1e6) return fmt::format("{:.0f} us", ns / 1e3);
    if (ns < 1e9) return fmt::format("{:.1f} ms", ns / 1e6);
    return fmt::format("{:.3f} s", ns / 1e9);
}

bool is_cancellation(const std::exception_ptr& e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const FiberCancelled&) {
        return true;
    } catch (...) {
        return false;
    }
}

void throw_cancelled(std::string_view what) {
    throw FiberCancelled(fmt::format(
        "{}: cancelled because its thread is exiting (the loop cancels the fibers still suspended "
        "on it, so they unwind and release what they hold)",
        what));
}

}  // namespace detail
}  // namespace orm
