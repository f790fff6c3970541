// Lease: pinned transaction connection or a pooled one for one operation; statement logging.
#include "orm/session.hpp"

#include "drivers/backend.hpp"
#include "drivers/bridge/mode.hpp"
#include "drivers/hints.hpp"
#include "orm/connections.hpp"

namespace orm::detail {

db::Connection* pinned_connection(std::string_view alias) noexcept;  // atomic.cpp

WEFT_HOT Lease::Lease(std::string_view alias) : alias_(alias) {
    if (db::Connection* c = pinned_connection(alias)) {
        conn_ = c;
        pinned_ = true;
        return;
    }
    db_ = database_ptr(alias);
    if (db_->sharing().on() && (orm::is_async() || in_gather_fiber())) [[unlikely]] {
        ticket_ = db_->sharing().take();
        conn_ = ticket_.connection();
        shared_ = ticket_.multiplexed();
        return;
    }
    owned_ = db_->acquire();
    conn_ = owned_.get();
}

void Lease::go_exclusive() const {
    // The shared connection first: with every pooled connection shared by this thread, the
    // one this lease holds may be the one that has to come back.
    shared_ = nullptr;
    conn_ = nullptr;
    ticket_.release();
    owned_ = db_->acquire();
    conn_ = owned_.get();
}

bool Lease::shared_query_first(std::string_view sql, std::span<const Value> params,
                               db::Connection::RowCallback on_row, void* context) {
    db::Result r = shared_->execute_shared(sql, params);
    if (!r.next()) return false;
    on_row(context, r.row());
    return true;
}

WEFT_HOT Lease::~Lease() = default;

void log_statement(std::string_view alias, std::string_view sql, std::span<const Value> params,
                   std::chrono::steady_clock::time_point start, bool failed) noexcept {
    QueryEvent e;
    e.sql = sql;
    e.params = params;
    e.duration = std::chrono::steady_clock::now() - start;
    e.alias = alias;
    e.failed = failed;
    log_query(e);
}

db::Result Lease::execute(std::string_view sql, std::span<const Value> params) {
    if (shared_ && !shared_->shareable(sql)) go_exclusive();
    if (!query_logging_on()) return shared_ ? shared_->execute_shared(sql, params) : conn_->execute(sql, params);
    auto start = std::chrono::steady_clock::now();
    db::Result r;
    try {
        r = shared_ ? shared_->execute_shared(sql, params) : conn_->execute(sql, params);
    } catch (...) {
        log_statement(alias_, sql, params, start, true);
        throw;
    }
    log_statement(alias_, sql, params, start, false);
    return r;
}

WEFT_HOT bool Lease::query_first(std::string_view sql, std::span<const Value> params,
                                 db::Connection::RowCallback on_row, void* context) {
    if (shared_) [[unlikely]] {
        if (!shared_->shareable(sql)) {
            go_exclusive();
        } else if (!query_logging_on()) {
            return shared_query_first(sql, params, on_row, context);
        }
    }
    if (!query_logging_on()) return conn_->query_first(sql, params, on_row, context);
    // The statement's time, not the caller's work on the row, is what the log reports.
    auto start = std::chrono::steady_clock::now();
    bool logged = false;
    struct Logging {
        db::Connection::RowCallback on_row;
        void* context;
        Lease* lease;
        std::string_view sql;
        std::span<const Value> params;
        std::chrono::steady_clock::time_point start;
        bool* logged;
    } wrap{on_row, context, this, sql, params, start, &logged};
    try {
        auto first = [&](db::Connection::RowCallback cb, void* ctx) {
            return shared_ ? shared_query_first(sql, params, cb, ctx) : conn_->query_first(sql, params, cb, ctx);
        };
        bool found = first(
            [](void* w, const db::Row& row) {
                auto& x = *static_cast<Logging*>(w);
                *x.logged = true;
                log_statement(x.lease->alias_, x.sql, x.params, x.start, false);
                x.on_row(x.context, row);
            },
            &wrap);
        if (!logged) log_statement(alias_, sql, params, start, false);
        return found;
    } catch (...) {
        if (!logged) log_statement(alias_, sql, params, start, true);
        throw;
    }
}

const db::Dialect& dialect_for(std::string_view alias) { return database(alias).dialect(); }
const db::Features& features_for(std::string_view alias) { return database(alias).features(); }

}  // namespace orm::detail
