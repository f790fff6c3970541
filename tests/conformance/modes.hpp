// How the runner enters a mode: sync runs the test directly on the runner's thread, outside any
// fiber; async switches orm::set_async(true) and runs the test as the root fiber of orm::run, so
// the fibers it spawns share the loop with it.
#pragma once

#include <functional>
#include <string_view>

namespace weft::conformance {

bool mode_available(std::string_view mode);
// Runs `body` in `mode` ("sync" or "async") and restores the previous orm::set_async() setting
// afterwards, also when `body` throws; its exceptions (Skip included) propagate with their type.
void run_in_mode(std::string_view mode, const std::function<void()>& body);

}  // namespace weft::conformance
