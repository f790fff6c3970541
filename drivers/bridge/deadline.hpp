// Deadlines for every wait in the fiber runtime: an absolute steady_clock time point.
// orm::no_deadline means "as long as it takes"; orm::deadline_after(d) makes a relative one.
#pragma once

#include <chrono>

namespace orm {

using Deadline = std::chrono::steady_clock::time_point;

inline constexpr Deadline no_deadline = Deadline::max();

// now + d, saturating at no_deadline so that deadline_after(std::chrono::hours::max()) does not
// overflow. A zero or negative d gives a deadline that has already passed.
template <class Rep, class Period>
Deadline deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(no_deadline - now))
        return no_deadline;
    return now + std::chrono::duration_cast<Deadline::duration>(d);
}

}  // namespace orm
