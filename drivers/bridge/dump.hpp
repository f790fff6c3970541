// Listing fibers for debugging: every fiber of this thread's loop (or of all threads) with its
// state and what it waits for, as data or as a printable table.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace orm {

enum class FiberState { running, ready, waiting };

struct FiberInfo {
    std::uint64_t id = 0;        // 0: the thread itself, waiting outside any fiber
    std::string name;
    FiberState state = FiberState::ready;
    // "readable fd 7", "writable fd 7", "sleep", "join fetch-12", "run (3 fibers left)",
    // "thread offload", "wait queue", "yield"; empty while running or newly spawned.
    std::string waiting_for;
    std::optional<std::chrono::nanoseconds> time_left;  // until the wait's deadline, if it has one
    std::thread::id thread;
};

enum class DumpScope { this_thread, all_threads };

// A snapshot. For other threads it waits up to 100 ms for each loop to be between two fiber
// switches; a loop busy longer than that is listed as one entry named "(busy)".
std::vector<FiberInfo> list_fibers(DumpScope scope = DumpScope::this_thread);

// The same as text, one line per fiber, e.g. "  fetch-7 #7  waiting  readable fd 9 (2.300 s left)".
std::string fiber_dump(DumpScope scope = DumpScope::this_thread);

const char* to_string(FiberState s) noexcept;

}  // namespace orm
