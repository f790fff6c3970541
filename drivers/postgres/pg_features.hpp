// What the PostgreSQL backend can do.
#pragma once

#include "drivers/features.hpp"

namespace orm::db::postgres {

const Features& pg_features();

}  // namespace orm::db::postgres
