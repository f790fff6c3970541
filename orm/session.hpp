// Lease: the connection one ORM operation runs on. Inside orm::atomic() on the calling fiber
// (or thread, outside fibers) it is the transaction's pinned connection; otherwise one borrowed
// from the alias's pool for this operation only. Every statement goes through execute(), which
// feeds the query log.
//
// Automatic pipelining: in async mode (and on the fibers of orm::gather in either mode), outside
// a transaction, on a database whose URL has pipelining on (PostgreSQL's default), the lease
// starts on a connection shared with other fibers of the thread (db::Sharing). Statements the
// driver calls shareable (Multiplexed::shareable) run there; the first other statement, or a
// call to conn(), trades the shared connection for an exclusive one from the pool, which the
// lease then keeps to its end (so a SET and what follows it stay on one session).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "drivers/connection.hpp"
#include "drivers/database.hpp"
#include "drivers/dialect.hpp"
#include "drivers/features.hpp"
#include "orm/compiler.hpp"
#include "orm/logger.hpp"

namespace orm::detail {

class Lease {
public:
    // `alias` must outlive the lease (it is kept as a view, for the query log).
    explicit Lease(std::string_view alias);
    ~Lease();  // out of line: callers stay small (see drivers/hints.hpp)
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    // The connection itself, exclusive to this lease (a lease on a shared connection takes one
    // from the pool first).
    db::Connection& conn() const {
        if (shared_) [[unlikely]] go_exclusive();
        return *conn_;
    }
    // Whether statements go to a connection shared with other fibers (tests).
    bool shared() const noexcept { return shared_ != nullptr; }
    const db::Dialect& dialect() const { return conn_->dialect(); }
    const db::Features& features() const { return conn_->features(); }
    std::string_view alias() const noexcept { return alias_; }
    bool in_transaction() const noexcept { return pinned_; }

    db::Result execute(std::string_view sql, std::span<const Value> params);
    db::Result execute(const Sql& s) { return execute(s.text, s.params); }
    // db::Connection::query_first, logged: `on_row(row)` for the first row; false when none.
    template <class F>
    bool query_first(std::string_view sql, std::span<const Value> params, F&& on_row) {
        return query_first(sql, params, [](void* f, const db::Row& row) { (*static_cast<F*>(f))(row); },
                           static_cast<void*>(&on_row));
    }
    bool query_first(std::string_view sql, std::span<const Value> params, db::Connection::RowCallback on_row,
                     void* context);

private:
    void go_exclusive() const;
    bool shared_query_first(std::string_view sql, std::span<const Value> params, db::Connection::RowCallback on_row,
                            void* context);

    std::string_view alias_;  // the caller's: it outlives the lease (a local alias or RoutedAlias)
    std::shared_ptr<db::Database> db_;  // keeps the pool alive while owned_ is out
    mutable db::PooledConnection owned_;
    mutable db::Sharing::Ticket ticket_;        // a shared connection (see the file comment)
    mutable db::Connection* conn_ = nullptr;
    mutable db::Multiplexed* shared_ = nullptr;  // ticket_'s connection while statements share it
    bool pinned_ = false;
};

// Whether the calling fiber runs a callable of orm::gather (batch.cpp).
bool in_gather_fiber() noexcept;

// Runs `fn` (a transaction-control call on `conn`) and logs it as `sql` when logging is on.
template <class Fn>
void logged(std::string_view alias, std::string_view sql, Fn&& fn);
void log_statement(std::string_view alias, std::string_view sql, std::span<const Value> params,
                   std::chrono::steady_clock::time_point start, bool failed) noexcept;

// The database features / dialect for an alias without borrowing a connection.
const db::Dialect& dialect_for(std::string_view alias);
const db::Features& features_for(std::string_view alias);

template <class Fn>
void logged(std::string_view alias, std::string_view sql, Fn&& fn) {
    if (!query_logging_on()) {
        fn();
        return;
    }
    auto start = std::chrono::steady_clock::now();
    try {
        fn();
    } catch (...) {
        log_statement(alias, sql, {}, start, true);
        throw;
    }
    log_statement(alias, sql, {}, start, false);
}

}  // namespace orm::detail
