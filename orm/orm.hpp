// The public entry header. (The ORM layer grows here; today it exposes the driver layer.)
#pragma once

#include "drivers/backend.hpp"
#include "drivers/connection.hpp"
#include "drivers/database.hpp"
#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"
#include "drivers/features.hpp"
#include "drivers/introspection.hpp"
#include "drivers/pool.hpp"
#include "drivers/result.hpp"
#include "drivers/schema.hpp"
#include "drivers/value.hpp"
