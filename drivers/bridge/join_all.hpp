// orm::join_all: joins every Task of a group, also when some of them failed, then rethrows the
// first failure (in the tasks' order) with its original type.
//
// Why it exists: joining a group one by one with get() stops at the first task that threw, and
// the tasks after it are dropped, which detaches their fibers (see task.hpp). If those fibers
// still use what the joining function owns (its locals, a Database it opened, a lambda captured
// by reference), they go on running against destroyed objects: a crash, or a hang on a freed
// wait queue. That is what a stream of failing statements did to 200 fibers sharing a pool of 4.
// join_all never leaves a fiber of the group running when it returns or throws.
#pragma once

#include <exception>
#include <type_traits>
#include <vector>

#include "drivers/bridge/task.hpp"

namespace orm {

// Waits for every valid task in `tasks` (in order; each wait suspends the calling fiber, or
// drives this thread's loop outside any fiber). Returns their values in order (nothing for
// Task<void>); if any task threw, rethrows the first such exception once all are done. A wait
// that itself fails (a task joined from another thread, the thread exiting) is rethrown at once,
// since no later wait could succeed either.
template <class T>
auto join_all(std::vector<Task<T>>& tasks) {
    std::exception_ptr first;
    if constexpr (std::is_void_v<T>) {
        for (auto& t : tasks) {
            if (!t.valid()) continue;
            try {
                t.get();
            } catch (...) {
                if (t.valid()) throw;  // the wait failed, not the task
                if (!first) first = std::current_exception();
            }
        }
        if (first) std::rethrow_exception(first);
    } else {
        std::vector<T> values;
        values.reserve(tasks.size());
        for (auto& t : tasks) {
            if (!t.valid()) continue;
            try {
                values.push_back(t.get());
            } catch (...) {
                if (t.valid()) throw;
                if (!first) first = std::current_exception();
            }
        }
        if (first) std::rethrow_exception(first);
        return values;
    }
}

}  // namespace orm
