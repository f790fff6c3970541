// orm::this_fiber_id(): who is calling, for state that belongs to a fiber rather than a thread
// (the ORM pins a transaction's connection to the fiber that opened it).
#pragma once

#include <cstdint>

namespace orm {

// A process-unique id of the calling fiber (the id orm::Task::id() reports), or 0 when the
// caller runs on a thread's own stack. Ids are never reused while the process runs.
std::uint64_t this_fiber_id() noexcept;

}  // namespace orm
