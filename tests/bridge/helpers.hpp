// Shared fixtures for the fiber runtime tests: capturing reports, restoring options, pipes,
// resident memory, elapsed time.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/bridge/bridge.hpp"

namespace bridge_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Installs a reporter that keeps every report; restores the previous one when destroyed.
class ReportCapture {
public:
    ReportCapture()
        : previous_(orm::set_fiber_reporter([this](const orm::FiberReport& r) {
              std::lock_guard lock(mu_);
              reports_.push_back(r);
          })) {}
    ~ReportCapture() { orm::set_fiber_reporter(previous_); }
    std::vector<orm::FiberReport> reports() const {
        std::lock_guard lock(mu_);
        return reports_;
    }
    std::vector<orm::FiberReport> of_kind(orm::FiberReport::Kind k) const {
        std::vector<orm::FiberReport> out;
        for (auto& r : reports())
            if (r.kind == k) out.push_back(r);
        return out;
    }

private:
    mutable std::mutex mu_;
    std::vector<orm::FiberReport> reports_;
    orm::FiberReporter previous_;
};

// Restores the runtime's options when destroyed.
class OptionsGuard {
public:
    OptionsGuard() : saved_(orm::fiber_options()) {}
    ~OptionsGuard() { orm::set_fiber_options(saved_); }

private:
    orm::FiberOptions saved_;
};

// A nonblocking pipe, closed when destroyed.
struct Pipe {
    int read_end = -1;
    int write_end = -1;
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) std::perror("pipe2");
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Pipe() {
        ::close(read_end);
        ::close(write_end);
    }
    void put(char c = 'x') const { (void)!::write(write_end, &c, 1); }
};

inline std::chrono::milliseconds ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
}

// Resident set size of this process in KiB (VmRSS).
inline long rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

inline bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace bridge_test
