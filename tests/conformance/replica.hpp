// The runner's --replica-url: a hot standby of --url, for the primary/replica router tests
// (test_orm_replica.cpp), which skip without one.
#pragma once

#include <string>

namespace weft::conformance {

std::string& replica_url();

}  // namespace weft::conformance
