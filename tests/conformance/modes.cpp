// Mode entry for the conformance runner.
#include "tests/conformance/modes.hpp"

#include <stdexcept>
#include <string>

namespace weft::conformance {

bool mode_available(std::string_view mode) { return mode == "sync"; }

void run_in_mode(std::string_view mode, const std::function<void()>& body) {
    if (mode != "sync") throw std::invalid_argument("mode " + std::string(mode) + " is not available");
    body();
}

}  // namespace weft::conformance
