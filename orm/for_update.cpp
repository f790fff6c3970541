// The checks of select_for_update(): options, transaction, backend features.
#include "orm/for_update.hpp"

#include <fmt/format.h>

#include "drivers/features.hpp"
#include "orm/errors.hpp"

namespace orm::detail {

void check_for_update_options(const ForUpdate& lock) {
    if (lock.nowait && lock.skip_locked)
        throw InterfaceError("select_for_update(): nowait and skip_locked cannot be used together");
}

bool lock_clause_needed(const ForUpdate& lock, bool in_transaction, const db::Features& features,
                        std::string_view backend) {
    // Checked on every backend, also where the lock is a no-op, so code that works on SQLite
    // keeps working on PostgreSQL.
    if (!in_transaction)
        throw TransactionManagementError(
            "select_for_update cannot be used outside of a transaction: evaluate the queryset inside orm::atomic() "
            "on its database");
    if (lock.nowait && !features.supports_select_for_update_nowait)
        throw NotSupportedError(fmt::format("select_for_update(nowait) is not supported on the {} backend", backend));
    if (lock.skip_locked && !features.supports_select_for_update_skip_locked)
        throw NotSupportedError(
            fmt::format("select_for_update(skip_locked) is not supported on the {} backend", backend));
    return features.supports_select_for_update;
}

}  // namespace orm::detail
