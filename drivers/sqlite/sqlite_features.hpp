// The SQLite backend's capability flags.
#pragma once

#include "drivers/features.hpp"

namespace orm::db::sqlite {

// Probes the linked SQLite library (version, variable limit) once per call.
Features make_features();

}  // namespace orm::db::sqlite
