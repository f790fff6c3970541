// Loop, diagnostics side: slow-fiber reports, snapshots for dumps, the deadlock error.
#include <fmt/format.h>

#include "drivers/bridge/detail/loop.hpp"
#include "drivers/bridge/detail/report.hpp"
#include "drivers/errors.hpp"

namespace orm::detail {
namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

void Loop::report_slow(const FiberRecord& f, std::int64_t ran_ns, std::int64_t threshold_ns) const {
    FiberReport r{FiberReport::Kind::slow_fiber};
    r.fiber_id = f.id;
    r.fiber_name = f.display_name();
    r.duration = std::chrono::nanoseconds(ran_ns);
    r.message = fmt::format(
        "fiber '{}' (#{}) ran for {} without switching, blocking its loop (threshold {}); "
        "move blocking work to orm::run_in_thread() or call orm::yield_now() in long loops",
        r.fiber_name, f.id, format_duration(r.duration), format_duration(std::chrono::nanoseconds(threshold_ns)));
    report(r);
}

std::string Loop::describe(const Waiter& w) const {
    switch (w.kind) {
        case WaitKind::io: return fmt::format("{} fd {}", to_string(w.interest), w.fd);
        case WaitKind::sleep: return "sleep";
        case WaitKind::join: return "join " + (w.target ? w.target->display_name() : std::string("?"));
        case WaitKind::run_group: {
            const std::size_t left = w.group ? w.group->live : 0;
            return left ? fmt::format("run ({} fibers left)", left) : std::string("run");
        }
        case WaitKind::offload: return "thread offload";
        case WaitKind::queue: return "wait queue";
        case WaitKind::signal: return "signal (same thread)";
    }
    return "?";
}

void Loop::snapshot(std::vector<FiberInfo>& out) const {
    const auto now = Clock::now();
    auto add = [&](std::uint64_t fid, std::string name, FiberState state, const Waiter* w) {
        FiberInfo info;
        info.id = fid;
        info.name = std::move(name);
        info.state = state;
        info.thread = thread_;
        if (w) {
            info.waiting_for = describe(*w);
            if (w->deadline != no_deadline)
                info.time_left = std::chrono::duration_cast<std::chrono::nanoseconds>(w->deadline - now);
        }
        out.push_back(std::move(info));
    };
    if (outside_) add(0, "(thread)", FiberState::waiting, outside_);
    std::vector<const FiberRecord*> fibers;
    for (const FiberRecord* f = live_head_; f; f = f->next_live) fibers.push_back(f);
    std::reverse(fibers.begin(), fibers.end());  // spawn order
    for (const FiberRecord* f : fibers) {
        add(f->id, f->display_name(), f->state, f->state == FiberState::waiting ? f->waiting : nullptr);
        if (f->state == FiberState::ready && f->yielded) out.back().waiting_for = "yield";
    }
}

void Loop::throw_deadlock() const {
    std::vector<FiberInfo> fibers;
    snapshot(fibers);
    std::string table;
    for (const FiberInfo& f : fibers)
        table += fmt::format("\n  {} #{} {} {}", f.name, f.id, to_string(f.state), f.waiting_for);
    throw InterfaceError(fmt::format(
        "deadlock: this thread waits outside any fiber for something only its own fibers could "
        "bring about, but every fiber is suspended and nothing can wake one (no I/O, timer, "
        "thread offload or cross-thread wait is pending):{}",
        table));
}

}  // namespace orm::detail
