// The type-erased side of orm::Task, orm::spawn and orm::run: joins and run groups.
#include "drivers/bridge/task.hpp"

#include <fmt/format.h>

#include "drivers/bridge/detail/loop.hpp"
#include "drivers/bridge/detail/report.hpp"
#include "drivers/errors.hpp"

namespace orm::detail {

// Once someone has the exception, it is no longer reported as lost.
void task_rethrow(FiberRecord* r) {
    if (r->error) {
        r->retrieved = true;
        std::rethrow_exception(r->error);
    }
}

TaskRef spawn_fiber(std::string name, std::unique_ptr<TaskBody> body) {
    Loop& loop = Loop::current();
    std::shared_ptr<RunGroup> group = current_fiber ? current_fiber->group : nullptr;
    return TaskRef(loop.spawn(std::move(name), std::move(body), std::move(group)));
}

bool task_done(const FiberRecord* r) noexcept { return r->done.load(std::memory_order_acquire); }

bool task_wait_until(FiberRecord* r, Deadline deadline) {
    if (r->done.load(std::memory_order_acquire)) return true;
    Loop& loop = Loop::current();
    if (r->loop_id != loop.id())
        throw InterfaceError(fmt::format(
            "cannot join fiber '{}' from this thread: it runs on another thread's loop. Join it on "
            "the thread that spawned it, or signal across threads with orm::Event / orm::WaitQueue",
            r->display_name()));
    if (r == current_fiber)
        throw InterfaceError(fmt::format("fiber '{}' tried to join itself, which would never end", r->display_name()));
    loop.check_can_wait("Task::get()");
    if (deadline != no_deadline && deadline <= std::chrono::steady_clock::now()) return false;
    Waiter w(loop, current_fiber, WaitKind::join, deadline);
    w.target = r;
    link_back(r->joiners_head, r->joiners_tail, w);
    WakeReason reason;
    {
        struct Unlink {
            FiberRecord* r;
            Waiter& w;
            ~Unlink() {
                if (w.linked) unlink(r->joiners_head, r->joiners_tail, w);
            }
        } guard{r, w};
        reason = loop.park(w);
    }
    if (reason == WakeReason::cancelled) throw_cancelled("Task::get()");
    return r->done.load(std::memory_order_acquire);
}

void task_join(FiberRecord* r) {
    while (!task_wait_until(r, no_deadline)) {
    }
}

std::string task_name(const FiberRecord* r) { return r->display_name(); }
std::uint64_t task_id(const FiberRecord* r) noexcept { return r->id; }

void throw_empty_task(const char* operation) {
    throw InterfaceError(fmt::format(
        "{} on an empty Task (default-constructed, moved from, detached, or already joined: get() "
        "can be called once)",
        operation));
}

TaskRef run_root(std::string name, std::unique_ptr<TaskBody> body) {
    Loop& loop = Loop::current();
    loop.check_can_wait("orm::run()");
    auto group = std::make_shared<RunGroup>();
    TaskRef root(loop.spawn(std::move(name), std::move(body), group));
    Waiter w(loop, current_fiber, WaitKind::run_group, no_deadline);
    w.target = root.get();
    w.group = group.get();
    while (group->live > 0) {
        group->waiter = &w;
        struct Clear {
            RunGroup& g;
            ~Clear() { g.waiter = nullptr; }
        } clear{*group};
        if (loop.park(w) == WakeReason::cancelled) throw_cancelled("orm::run()");
    }
    task_rethrow(root.get());
    return root;
}

}  // namespace orm::detail
