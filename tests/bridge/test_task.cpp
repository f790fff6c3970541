// spawn / Task / run: ordering, values, exceptions across joins, detaching.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "drivers/bridge/bridge.hpp"
#include "drivers/errors.hpp"

TEST_CASE("spawn and get return the value") {
    auto t = orm::spawn([] { return 42; });
    CHECK(t.valid());
    CHECK(t.get() == 42);
    CHECK_FALSE(t.valid());
}
