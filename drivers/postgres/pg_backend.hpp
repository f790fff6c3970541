// The PostgreSQL backend (libpq): its registry entry point. Everything else in drivers/postgres
// is private to the driver; users reach it through URLs ("postgresql://...", "postgres://...",
// or a libpq "host=... dbname=..." string) and the Backend interface.
#pragma once

#include <memory>

#include "drivers/backend.hpp"

namespace orm::db::postgres {

// The backend for the "postgresql" and "postgres" schemes (one shared instance).
std::shared_ptr<const Backend> make_backend();

}  // namespace orm::db::postgres
