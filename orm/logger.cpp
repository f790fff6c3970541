// The query log sink.
#include "orm/logger.hpp"

#include <memory>
#include <mutex>

namespace orm {

namespace detail {

std::atomic<bool> query_logging{false};

namespace {
std::mutex logger_mu;
std::shared_ptr<const QueryLogger> logger_fn;
}  // namespace

void log_query(const QueryEvent& e) noexcept {
    std::shared_ptr<const QueryLogger> fn;
    {
        std::lock_guard lock(logger_mu);
        fn = logger_fn;
    }
    if (!fn || !*fn) return;
    try {
        (*fn)(e);
    } catch (...) {
        // A failing sink must not change what the statement did.
    }
}

}  // namespace detail

void set_query_logger(QueryLogger logger) {
    std::lock_guard lock(detail::logger_mu);
    const bool on = static_cast<bool>(logger);
    detail::logger_fn = on ? std::make_shared<const QueryLogger>(std::move(logger)) : nullptr;
    detail::query_logging.store(on, std::memory_order_relaxed);
}

}  // namespace orm
