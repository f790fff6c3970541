// How the runner enters a mode: sync runs the test directly; async (once the fiber bridge is
// built) switches orm::set_async(true) and runs the test as a root fiber.
#pragma once

#include <functional>
#include <string_view>

namespace weft::conformance {

bool mode_available(std::string_view mode);
void run_in_mode(std::string_view mode, const std::function<void()>& body);

}  // namespace weft::conformance
