// Mode entry for the conformance runner.
#include "tests/conformance/modes.hpp"

#include <stdexcept>
#include <string>

#include "drivers/bridge/mode.hpp"
#include "drivers/bridge/task.hpp"

namespace weft::conformance {

bool mode_available(std::string_view mode) { return mode == "sync" || mode == "async"; }

void run_in_mode(std::string_view mode, const std::function<void()>& body) {
    if (!mode_available(mode)) throw std::invalid_argument("mode " + std::string(mode) + " is not available");
    struct Restore {
        bool was = orm::is_async();
        ~Restore() { orm::set_async(was); }
    } restore;
    if (mode == "sync") {
        orm::set_async(false);
        body();
        return;
    }
    orm::set_async(true);
    // orm::run rethrows the root fiber's exception with its original type.
    orm::run([&body] { body(); });
}

}  // namespace weft::conformance
