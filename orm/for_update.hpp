// Row locking: the options of QuerySet::select_for_update() and the checks a locking read makes
// before it runs. The compiler renders them as SELECT ... FOR UPDATE [NOWAIT | SKIP LOCKED].
#pragma once

#include <string_view>

namespace orm {

namespace db {
struct Features;
}

// select_for_update({.nowait = true}) / select_for_update({.skip_locked = true}).
struct ForUpdate {
    bool nowait = false;       // a row another transaction has locked fails the query (OperationalError, 55P03)
    bool skip_locked = false;  // rows other transactions have locked are left out of the result
};

namespace detail {

// Throws orm::InterfaceError for contradictory options (nowait and skip_locked together).
void check_for_update_options(const ForUpdate& lock);
// Before a locking read: throws orm::TransactionManagementError outside a transaction, and
// orm::NotSupportedError naming the backend for an option its features lack. Returns whether
// the statement carries the lock clause (false where the backend has no row locks: SQLite locks
// the whole database for a writing transaction, so plain select_for_update() is a no-op there).
bool lock_clause_needed(const ForUpdate& lock, bool in_transaction, const db::Features& features,
                        std::string_view backend);

}  // namespace detail

}  // namespace orm
