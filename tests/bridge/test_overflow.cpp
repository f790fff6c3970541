// A fiber that overflows its stack dies with a report naming it and its stack size, whether it
// recurses page by page or jumps far past the end with one big frame (which a single guard page
// let land silently in the neighbouring fiber's stack). Each case runs in a forked child.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "helpers.hpp"

using namespace bridge_test;

namespace {

struct Death {
    bool signalled = false;
    int signal = 0;
    std::string stderr_text;
};

// Runs `body` on a fresh thread of a forked child (its own loop), capturing the child's stderr.
Death in_child(const std::function<void()>& body) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(fds[1], STDERR_FILENO);
        ::close(fds[0]);
        // doctest's own crash handler (chained after ours) prints its report to stdout: not ours.
        const int null = ::open("/dev/null", O_WRONLY);
        if (null >= 0) ::dup2(null, STDOUT_FILENO);
        std::thread t(body);
        t.join();
        ::_exit(0);
    }
    ::close(fds[1]);
    Death d;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        d.stderr_text.append(buf, std::size_t(n));
    }
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    d.signalled = WIFSIGNALED(status);
    d.signal = d.signalled ? WTERMSIG(status) : 0;
    return d;
}

int recurse(int depth) {
    volatile char pad[512];
    pad[0] = char(depth);
    return depth > 1'000'000'000 ? pad[0] : recurse(depth + 1) + pad[0];
}

void big_frame() {
    volatile char big[200 * 1024];  // larger than the whole 128 KiB stack
    big[0] = 1;                     // the lowest address: far below the stack's end
    std::memset(const_cast<char*>(big), 2, sizeof big);
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
TEST_CASE("fiber stack overflow reports (not under AddressSanitizer, which reports overflows itself)" * doctest::skip()) {}
#else
TEST_CASE("a fiber recursing past its stack dies with SIGSEGV and a report naming it") {
    const Death d = in_child([] {
        orm::run([] { orm::spawn("deep", [] { (void)recurse(0); }).get(); });
    });
    CHECK(d.signalled);
    CHECK(d.signal == SIGSEGV);
    CHECK(d.stderr_text.find("fiber 'deep' (#") != std::string::npos);
    CHECK(d.stderr_text.find("overflowed its stack of 128 KiB") != std::string::npos);
    CHECK(d.stderr_text.find("stack_size") != std::string::npos);
}

TEST_CASE("one 200 KiB frame on a 128 KiB stack faults in the guard gap instead of corrupting a neighbour") {
    const Death d = in_child([] {
        orm::run([] {
            // A neighbour parked right below in memory (stacks come from one pool), then the big frame.
            auto neighbour = orm::spawn("neighbour", [] { orm::sleep_for(std::chrono::seconds(5)); });
            orm::yield_now();
            orm::spawn("big-frame", [] { big_frame(); }).get();
            neighbour.get();
        });
    });
    CHECK(d.signalled);
    CHECK(d.signal == SIGSEGV);
    CHECK(d.stderr_text.find("fiber 'big-frame'") != std::string::npos);
    CHECK(d.stderr_text.find("overflowed its stack") != std::string::npos);
}
#endif
