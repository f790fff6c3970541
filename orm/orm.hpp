// The public entry header: the driver layer (databases, connections, values, errors), the fiber
// runtime (set_async, spawn, run), and the ORM (models, managers, querysets, Q/F, atomic,
// database routers).
#pragma once

// No weft header needs fmt; it is here for programs that print with it (the README's tour), as
// it always was. Everything else below is what the public API names.
#include <fmt/format.h>

#include "drivers/backend.hpp"
#include "drivers/bridge/bridge.hpp"
#include "drivers/bridge/this_fiber.hpp"
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

#include "orm/atomic.hpp"
#include "orm/batch.hpp"
#include "orm/connections.hpp"
#include "orm/errors.hpp"
#include "orm/expressions.hpp"
#include "orm/functions.hpp"
#include "orm/logger.hpp"
#include "orm/manager.hpp"
#include "orm/meta.hpp"
#include "orm/model.hpp"
#include "orm/q.hpp"
#include "orm/queryset.hpp"
#include "orm/replica_router.hpp"
#include "orm/routers.hpp"
#include "orm/schema.hpp"
#include "orm/typed.hpp"
