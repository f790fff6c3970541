// Fiber stack overflow reports: see overflow.hpp. Everything the handler does is
// async-signal-safe: it reads the running fiber's record (a thread_local pointer), formats into a
// buffer on the alternate stack and write(2)s it.
#include "drivers/bridge/detail/overflow.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "drivers/bridge/detail/fiber.hpp"
#include "drivers/bridge/detail/stack_pool.hpp"

namespace orm::detail {
namespace {

constexpr std::size_t alt_stack_size = 64 * 1024;

struct sigaction previous_segv{};
struct sigaction previous_bus{};
thread_local constinit void* own_alt_stack = nullptr;

// A tiny formatter over a fixed buffer (no allocation, no locale).
struct Line {
    char buf[512];
    std::size_t n = 0;
    void text(const char* s, std::size_t len) {
        for (std::size_t i = 0; i < len && n < sizeof buf; ++i) buf[n++] = s[i];
    }
    void text(const char* s) { text(s, std::strlen(s)); }
    void number(std::uint64_t v) {
        char digits[24];
        std::size_t k = 0;
        do {
            digits[k++] = char('0' + v % 10);
            v /= 10;
        } while (v != 0);
        while (k > 0 && n < sizeof buf) buf[n++] = digits[--k];
    }
};

void report_overflow(const FiberRecord& f, std::uintptr_t fault) {
    const auto bottom = reinterpret_cast<std::uintptr_t>(f.stack_top) - f.stack_size;
    Line l;
    l.text("weft: fatal: fiber '");
    if (f.name.empty()) {
        l.text("fiber-");
        l.number(f.id);
    } else {
        l.text(f.name.data(), f.name.size() > 200 ? 200 : f.name.size());
    }
    l.text("' (#");
    l.number(f.id);
    l.text(") overflowed its stack of ");
    l.number(f.stack_size / 1024);
    l.text(" KiB (the fault is ");
    l.number(bottom - fault);
    l.text(" bytes past its end). Raise orm::FiberOptions::stack_size (orm::set_fiber_options), "
           "move large buffers to the heap, or bound the recursion; build with "
           "-fstack-clash-protection so that frames larger than the guard gap fault too.\n");
    (void)!::write(STDERR_FILENO, l.buf, l.n);
}

void on_fault(int sig, siginfo_t* info, void* context) {
    const int saved_errno = errno;
    const FiberRecord* f = current_fiber;
    if (f && f->stack_top && info) {
        const auto fault = reinterpret_cast<std::uintptr_t>(info->si_addr);
        const auto bottom = reinterpret_cast<std::uintptr_t>(f->stack_top) - f->stack_size;
        if (fault < bottom && bottom - fault <= stack_guard_gap) report_overflow(*f, fault);
    }
    // Then whatever would have happened without us.
    const struct sigaction& prev = sig == SIGSEGV ? previous_segv : previous_bus;
    errno = saved_errno;
    if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction) {
        prev.sa_sigaction(sig, info, context);
        return;
    }
    if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
        prev.sa_handler(sig);
        return;
    }
    // Default action: restore it; returning re-executes the faulting access, which now kills the
    // process with the original signal (and a core dump where enabled).
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(sig, &dfl, nullptr);
}

// (Re)installs the handler unless it is in place: a test framework or another library may have
// put back what it found before us, and a new loop must not go without the report.
void install_handler() noexcept {
    static std::mutex mu;
    std::lock_guard lock(mu);
    struct sigaction current{};
    if (::sigaction(SIGSEGV, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) &&
        current.sa_sigaction == on_fault)
        return;
    struct sigaction sa{};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &previous_segv);
    ::sigaction(SIGBUS, &sa, &previous_bus);
}

}  // namespace

void prepare_overflow_reports() noexcept {
    install_handler();
    if (own_alt_stack) return;
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;  // the thread has one
    void* mem = ::mmap(nullptr, alt_stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return;
    stack_t ss{};
    ss.ss_sp = mem;
    ss.ss_size = alt_stack_size;
    if (::sigaltstack(&ss, nullptr) != 0) {
        ::munmap(mem, alt_stack_size);
        return;
    }
    own_alt_stack = mem;
}

void release_overflow_stack() noexcept {
    if (!own_alt_stack) return;
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && current.ss_sp == own_alt_stack && !(current.ss_flags & SS_ONSTACK)) {
        stack_t off{};
        off.ss_flags = SS_DISABLE;
        if (::sigaltstack(&off, nullptr) == 0) ::munmap(own_alt_stack, alt_stack_size);
    }
    own_alt_stack = nullptr;
}

}  // namespace orm::detail
