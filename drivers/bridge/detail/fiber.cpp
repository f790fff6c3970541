// FiberRecord: creation on a pooled stack, the context switches, and end-of-life reporting.
#include "drivers/bridge/detail/fiber.hpp"

#include <fmt/format.h>

#include "drivers/bridge/detail/loop.hpp"
#include "drivers/bridge/detail/report.hpp"
#include "drivers/bridge/detail/stack_pool.hpp"

namespace orm::detail {

thread_local constinit FiberRecord* current_fiber = nullptr;

FiberRecord::FiberRecord(Loop& l, std::uint64_t fiber_id, std::string fiber_name,
                         std::unique_ptr<TaskBody> b, std::shared_ptr<RunGroup> g)
    : id(fiber_id), loop(&l), loop_id(l.id()), name(std::move(fiber_name)), body(std::move(b)),
      group(std::move(g)) {}

FiberRecord::~FiberRecord() {
    if (error && !retrieved) {
        FiberReport r{FiberReport::Kind::unretrieved_exception};
        r.fiber_id = id;
        r.fiber_name = display_name();
        r.error = error;
        r.message = fmt::format(
            "fiber '{}' (#{}) ended with an exception that nobody retrieved (its Task was dropped "
            "without get()): {}",
            r.fiber_name, id, describe_exception(error));
        report(r);
    }
}

std::string FiberRecord::display_name() const {
    return name.empty() ? fmt::format("fiber-{}", id) : name;
}

void FiberRecord::start(StackPool& stacks) {
    ctx = boost::context::fiber(std::allocator_arg, PooledStack{&stacks, this},
                                [this](boost::context::fiber&& from) {
                                    caller = std::move(from);
                                    try {
                                        body->run();
                                    } catch (const boost::context::detail::forced_unwind&) {
                                        throw;  // Boost unwinding a fiber it destroys
                                    } catch (...) {
                                        error = std::current_exception();
                                    }
                                    return std::move(caller);
                                });
}

void switch_in(FiberRecord& f) {
    current_fiber = &f;
    f.state = FiberState::running;
    f.ctx = std::move(f.ctx).resume();
    current_fiber = nullptr;
}

void switch_out(FiberRecord& f) {
    f.caller = std::move(f.caller).resume();
}

void release_record(FiberRecord* r) noexcept {
    if (r->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete r;
}

}  // namespace orm::detail
