// list_fibers / fiber_dump: snapshots of this thread's loop or of every loop.
#include "drivers/bridge/dump.hpp"

#include <sstream>

#include <fmt/format.h>

#include "drivers/bridge/detail/loop.hpp"
#include "drivers/bridge/detail/report.hpp"

namespace orm {

const char* to_string(FiberState s) noexcept {
    switch (s) {
        case FiberState::running: return "running";
        case FiberState::ready: return "ready";
        case FiberState::waiting: return "waiting";
    }
    return "?";
}

std::vector<FiberInfo> list_fibers(DumpScope scope) {
    std::vector<FiberInfo> out;
    if (scope == DumpScope::all_threads) {
        detail::Loop::snapshot_all(out);
    } else if (detail::Loop* own = detail::Loop::current_if_any()) {
        own->snapshot(out);
    }
    return out;
}

std::string fiber_dump(DumpScope scope) {
    const std::vector<FiberInfo> fibers = list_fibers(scope);
    std::string text;
    bool first = true;
    std::thread::id thread;
    for (const FiberInfo& f : fibers) {
        if (first || f.thread != thread) {
            std::ostringstream id;
            id << f.thread;
            text += fmt::format("thread {}:\n", id.str());
            thread = f.thread;
            first = false;
        }
        std::string line = fmt::format("  {} #{}  {}", f.name, f.id, to_string(f.state));
        if (!f.waiting_for.empty()) line += "  " + f.waiting_for;
        if (f.time_left) line += fmt::format(" ({} left)", detail::format_duration(*f.time_left));
        text += line + "\n";
    }
    if (text.empty()) text = "no fibers\n";
    return text;
}

}  // namespace orm
