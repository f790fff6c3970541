// orm::gather: callables on fibers whose statements share pipelined connections (see batch.hpp).
#include "orm/batch.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <vector>

#include "drivers/bridge/join_all.hpp"
#include "drivers/bridge/task.hpp"
#include "drivers/bridge/this_fiber.hpp"
#include "drivers/database.hpp"
#include "orm/connections.hpp"
#include "orm/session.hpp"

namespace orm {

namespace detail {

db::Connection* pinned_connection(std::string_view alias) noexcept;  // atomic.cpp

namespace {

// The fibers of this thread that run a gather's callables (fibers never change threads).
thread_local std::vector<std::uint64_t> gather_fibers;

struct GatherMark {
    std::uint64_t id = this_fiber_id();
    GatherMark() { gather_fibers.push_back(id); }
    ~GatherMark() {
        auto it = std::find(gather_fibers.begin(), gather_fibers.end(), id);
        if (it != gather_fibers.end()) gather_fibers.erase(it);
    }
};

}  // namespace

bool in_gather_fiber() noexcept {
    if (gather_fibers.empty()) return false;
    return std::find(gather_fibers.begin(), gather_fibers.end(), this_fiber_id()) != gather_fibers.end();
}

}  // namespace detail

void gather(std::span<const std::function<void()>> fns, std::string_view alias) {
    if (fns.empty()) return;
    auto db = database_ptr(alias);  // an unknown alias fails here, before anything runs
    if (fns.size() == 1 || !db->sharing().on() || detail::pinned_connection(alias)) {
        std::exception_ptr first;
        for (const auto& fn : fns) {
            try {
                fn();
            } catch (...) {
                if (!first) first = std::current_exception();
            }
        }
        if (first) std::rethrow_exception(first);
        return;
    }
    std::vector<Task<void>> tasks;
    tasks.reserve(fns.size());
    for (const auto& fn : fns)
        tasks.push_back(spawn("gather", [&fn] {
            detail::GatherMark mark;
            fn();
        }));
    join_all(tasks);
}

}  // namespace orm
