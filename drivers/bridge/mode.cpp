// The process-wide mode flag and in_fiber().
#include "drivers/bridge/mode.hpp"

#include "drivers/bridge/detail/fiber.hpp"

namespace orm {

namespace detail {
constinit std::atomic<bool> async_mode{false};
}  // namespace detail

bool in_fiber() noexcept { return detail::current_fiber != nullptr; }

}  // namespace orm
