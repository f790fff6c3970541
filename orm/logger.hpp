// The query log hook: every statement the ORM sends, with its parameters, how long it took and
// the database alias, goes to a sink the user installs. Off by default; when off, each
// statement pays one relaxed atomic load.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <span>
#include <string_view>

#include "drivers/value.hpp"

namespace orm {

struct QueryEvent {
    std::string_view sql;
    std::span<const Value> params;
    std::chrono::nanoseconds duration;
    std::string_view alias;
    bool failed = false;  // the statement threw (the exception propagates after the sink returns)
};

using QueryLogger = std::function<void(const QueryEvent&)>;

// Installs the sink (an empty function turns logging off). The sink may be called from several
// threads at once and must not throw; it runs after each statement, on the caller's fiber.
void set_query_logger(QueryLogger logger);

namespace detail {
extern std::atomic<bool> query_logging;
inline bool query_logging_on() noexcept { return query_logging.load(std::memory_order_relaxed); }
void log_query(const QueryEvent& e) noexcept;
}  // namespace detail

}  // namespace orm
