// FiberRecord: everything the runtime knows about one fiber, and the two context switches
// (loop -> fiber, fiber -> loop) (internal). The record is also the shared state behind
// orm::Task: counted by the runtime until the fiber ends and by the Task until it is dropped.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>

#include "drivers/bridge/detail/context.hpp"
#include "drivers/bridge/detail/waiter.hpp"
#include "drivers/bridge/dump.hpp"
#include "drivers/bridge/task.hpp"

namespace orm::detail {

class StackPool;

// The fibers started by one orm::run() call, transitively; run() returns when none is left.
struct RunGroup {
    std::size_t live = 0;
    Waiter* waiter = nullptr;  // run()'s own wait
};

struct FiberRecord {
    FiberRecord(Loop& l, std::uint64_t fiber_id, std::string fiber_name, std::unique_ptr<TaskBody> b,
                std::shared_ptr<RunGroup> g);
    FiberRecord(const FiberRecord&) = delete;
    FiberRecord& operator=(const FiberRecord&) = delete;
    ~FiberRecord();  // reports an exception that nobody retrieved

    // Creates the execution context on a stack from `stacks`; the body runs at the first switch_in.
    void start(StackPool& stacks);
    std::string display_name() const;

    std::atomic<int> refs{2};  // the runtime's (dropped when the fiber ends) and the Task's
    std::atomic<bool> done{false};
    bool retrieved = false;  // get() saw the exception
    const std::uint64_t id;
    Loop* const loop;
    const std::uint64_t loop_id;
    const std::string name;  // empty: display_name() is "fiber-<id>"
    FiberState state = FiberState::ready;
    bool yielded = false;  // ready because it called yield_now() (for dumps)

    boost::context::fiber ctx;     // the fiber itself while it is not running (empty once ended)
    boost::context::fiber caller;  // the loop, while the fiber runs
    std::unique_ptr<TaskBody> body;
    std::exception_ptr error;
    std::shared_ptr<RunGroup> group;

    void* stack_top = nullptr;  // its stack: [stack_top - stack_size, stack_top), gap below
    std::size_t stack_size = 0;
    Waiter* waiting = nullptr;  // the wait it is suspended in
    Waiter* joiners_head = nullptr;
    Waiter* joiners_tail = nullptr;
    FiberRecord* next_ready = nullptr;
    FiberRecord* prev_live = nullptr;
    FiberRecord* next_live = nullptr;
};

// The fiber running on this thread, or null on the thread's own stack.
extern thread_local constinit FiberRecord* current_fiber;

// Loop -> fiber: runs `f` until it parks, yields or ends (then f.ctx is empty).
void switch_in(FiberRecord& f);
// Fiber -> loop: returns when the loop switches back in.
void switch_out(FiberRecord& f);

}  // namespace orm::detail
