// orm::this_fiber_id() (see this_fiber.hpp).
#include "drivers/bridge/this_fiber.hpp"

#include "drivers/bridge/detail/fiber.hpp"

namespace orm {

std::uint64_t this_fiber_id() noexcept {
    const detail::FiberRecord* f = detail::current_fiber;
    return f ? f->id : 0;
}

}  // namespace orm
