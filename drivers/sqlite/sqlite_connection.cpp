// SqliteConnection (see sqlite_connection.hpp).
#include "drivers/sqlite/sqlite_connection.hpp"

#include <fmt/format.h>

#include "drivers/bridge/mode.hpp"
#include "drivers/bridge/offload.hpp"
#include "drivers/errors.hpp"
#include "drivers/features.hpp"
#include "drivers/hints.hpp"
#include "drivers/sqlite/sqlite_errors.hpp"
#include "drivers/sqlite/sqlite_options.hpp"

namespace orm::db::sqlite {

namespace {

std::string begin_sql(const SqliteOptions& o) {
    if (!o.transaction_mode.empty()) return "BEGIN " + o.transaction_mode;
    return o.mode == OpenMode::ro ? "BEGIN DEFERRED" : "BEGIN IMMEDIATE";
}

// Where an operation's sqlite3 calls run: here (sync), or on a worker while the caller waits.
// On the worker it holds a CPU slot (FiberOptions::offload_cpu_slots), so that long statements
// of many fibers never take every core from the threads running fiber loops; SQLite's busy
// handler gives the slot up while it sleeps (sqlite_vfs.hpp).
template <class F>
auto run_where(bool async, F&& fn) {
    if (async)
        return orm::run_in_thread([&] {
            orm::CpuSlot slot;
            return fn();
        });
    return fn();
}

// How long a query may run on the loop's thread before it is stopped and re-run on a worker.
// Eight fibers each spending it back to back keep a 1 ms ticker within 2 ms of its time.
constexpr std::chrono::microseconds inline_budget{250};

[[noreturn]] WEFT_COLD void refuse_concurrent_use(const std::string& target, std::string_view what) {
    throw InterfaceError(fmt::format(
        "SQLite connection to '{}': {} called while another operation is running on it; a "
        "connection serves one fiber or thread at a time (give each fiber its own from the pool)",
        target, what));
}

}  // namespace

// One operation on the connection: reads the mode once, and claims the connection for its
// duration so that a second fiber or thread using it meanwhile gets an error, not a corrupt handle.
class SqliteConnection::Operation {
public:
    Operation(SqliteConnection& c, std::string_view what) : c_(c), async_(orm::is_async()) {
        if (c_.busy_.exchange(true, std::memory_order_acquire)) [[unlikely]]
            refuse_concurrent_use(c_.cfg_.target, what);
    }
    ~Operation() { c_.busy_.store(false, std::memory_order_release); }
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;

    bool async() const noexcept { return async_; }
    template <class F>
    auto operator()(F&& fn) {
        return run_where(async_, std::forward<F>(fn));
    }

private:
    SqliteConnection& c_;
    const bool async_;
};

SqliteConnection::SqliteConnection(const Backend& backend, ConnectionConfig cfg)
    : backend_(backend), cfg_(std::move(cfg)) {
    if (cfg_.target.empty())
        throw InterfaceError(fmt::format("no SQLite database path given (URL '{}'); use sqlite:///abs/path.db, "
                                         "sqlite://relative/path.db or sqlite::memory:",
                                         cfg_.url));
    SqliteOptions options = read_options(cfg_);
    begin_sql_ = begin_sql(options);
    async_inline_ = options.async_inline;
    // Opening reads the file (and may wait for a lock to set the journal mode): a worker's job.
    session_ = run_where(orm::is_async(), [&] {
        auto s = make_ref<Session>(cfg_.target, options, cfg_.statement_cache_size);
        if (cfg_.statement_timeout.count() > 0) s->set_statement_timeout(cfg_.statement_timeout);
        return s;
    });
}

SqliteConnection::~SqliteConnection() {
    try {
        close();
    } catch (...) {
        // Still in use elsewhere (a bug reported there), or no worker could start: the Session
        // closes the handle when its last owner lets go of it.
    }
}

void SqliteConnection::too_many_params(std::string_view sql, std::size_t n) const {
    throw ProgrammingError(
        fmt::format("a statement with {} bound parameters cannot run: this SQLite build takes at most {} per "
                    "statement (SQLITE_MAX_VARIABLE_NUMBER); bind a long list as one parameter (the ORM's __in "
                    "lookups send a JSON array), or split the statement: {}",
                    n, features().max_query_params, shorten_sql(sql)),
        "54023");
}

std::unique_ptr<SqliteCursor> SqliteConnection::run(std::string_view sql, std::span<const Value> params,
                                                    bool buffer_rows) {
    return run(session_->acquire(sql), params, buffer_rows);
}

std::unique_ptr<SqliteCursor> SqliteConnection::run(Ref<Statement> st, std::span<const Value> params,
                                                    bool buffer_rows) {
    try {
        // A statement that writes runs to its end inside this call (its RETURNING rows, if any, are
        // buffered), so it can bind text and blobs without copying them.
        const bool finish_here = buffer_rows || !st->readonly;
        session_->bind(*st, params, /*copy=*/!finish_here);
        const std::int64_t changes_before = finish_here ? session_->total_changes() : 0;
        bool row = session_->step(*st);
        if (!finish_here) return std::make_unique<SqliteCursor>(session_, std::move(st), row);

        BufferedRows rows = drain(*session_, *st, row);
        // sqlite3_changes64 keeps the count of the last INSERT/UPDATE/DELETE, even across DDL and
        // queries; only report it when this statement changed something.
        std::int64_t affected = session_->total_changes() != changes_before ? session_->changes() : 0;
        session_->release(*st);
        return std::make_unique<SqliteCursor>(std::move(rows), affected);
    } catch (...) {
        session_->release(*st);
        throw;
    }
}

std::unique_ptr<SqliteCursor> SqliteConnection::first_batch(Ref<Statement> st) {
    BufferedRows rows;
    describe_columns(*st, rows);
    if (fill(*session_, *st, rows, batch_rows, false) == Fill::done) {
        session_->release(*st);
        return std::make_unique<SqliteCursor>(std::move(rows), 0);
    }
    return std::make_unique<SqliteCursor>(session_, std::move(st), std::move(rows));
}

std::unique_ptr<SqliteCursor> SqliteConnection::run_async(std::string_view sql, std::span<const Value> params,
                                                          Ref<Statement> st, bool cached_is_busy) {
    if (st && st->inline_ok && st->skip_inline == 0 && async_inline_) {
        try {
            // Copies: a streamed result may outlive `params`.
            session_->bind(*st, params, /*copy=*/true);
            BufferedRows rows;
            describe_columns(*st, rows);
            Fill f;
            {
                Session::Inline scope(*session_, inline_budget);
                f = fill(*session_, *st, rows, batch_rows, /*on_loop=*/true);
            }
            if (f != Fill::moved) {
                ++session_->offload_stats().inline_runs;
                if (f == Fill::done) {
                    session_->release(*st);
                    return std::make_unique<SqliteCursor>(std::move(rows), 0);
                }
                return std::make_unique<SqliteCursor>(session_, std::move(st), std::move(rows));
            }
        } catch (...) {
            session_->release(*st);
            throw;
        }
        // Out of time or at a lock: the same statement, bindings and all, again on a worker.
        ++session_->offload_stats().worker_runs;
        return run_where(true, [&] {
            try {
                return first_batch(st);
            } catch (...) {
                session_->release(*st);
                throw;
            }
        });
    }
    if (st && st->skip_inline > 0) --st->skip_inline;
    // Not cached yet (preparing may read the schema from the file), a statement that writes, or a
    // query that recently ran out of time on the loop thread: all of it on a worker.
    ++session_->offload_stats().worker_runs;
    return run_where(true, [&]() -> std::unique_ptr<SqliteCursor> {
        if (!st) st = session_->acquire_uncached(sql, cached_is_busy);
        if (!st->inline_ok) return run(std::move(st), params, /*buffer_rows=*/true);
        try {
            session_->bind(*st, params, /*copy=*/true);
            return first_batch(st);
        } catch (...) {
            session_->release(*st);
            throw;
        }
    });
}

void SqliteConnection::run_to_end(std::string_view sql) {
    Operation op(*this, sql);
    op([&] { run(sql, {}, /*buffer_rows=*/true); });
}

Result SqliteConnection::execute(std::string_view sql, std::span<const Value> params) {
    if (params.size() > features().max_query_params) [[unlikely]]
        too_many_params(sql, params.size());
    Operation op(*this, "execute()");
    if (!op.async()) return Result(run(sql, params, /*buffer_rows=*/false));
    // Async mode: a query tries the loop thread first and streams its rows in batches; anything
    // else runs to its end on a worker (see sqlite_connection.hpp).
    bool cached_is_busy = false;
    Ref<Statement> st = session_->find_idle(sql, cached_is_busy);
    return Result(run_async(sql, params, std::move(st), cached_is_busy));
}

WEFT_HOT bool SqliteConnection::query_first(std::string_view sql, std::span<const Value> params,
                                            RowCallback on_row, void* context) {
    {
        Operation op(*this, "query_first()");
        if (!op.async()) {
            // Sync mode: a live cursor on the stack over the first step, reset when it goes.
            Ref<Statement> st = session_->acquire(sql);
            if (st->readonly) {
                bool row;
                try {
                    session_->bind(*st, params, /*copy=*/false);
                    row = session_->step(*st);
                } catch (...) {
                    session_->release(*st);
                    throw;
                }
                SqliteCursor cursor(session_, std::move(st), row);
                if (!cursor.next()) return false;
                on_row(context, Row(&cursor));
                return true;
            }
            session_->release(*st);  // a statement that writes runs to its end: execute() does that
        } else {
            return query_first_async(sql, params, on_row, context);
        }
    }
    return Connection::query_first(sql, params, on_row, context);
}

bool SqliteConnection::query_first_async(std::string_view sql, std::span<const Value> params, RowCallback on_row,
                                         void* context) {
    {
        bool cached_is_busy = false;
        Ref<Statement> st = session_->find_idle(sql, cached_is_busy);
        std::unique_ptr<SqliteCursor> cursor;
        if (st && st->inline_ok && st->skip_inline == 0 && async_inline_) {
            // Async mode, a cached query: its first step on the loop thread under the budget; the
            // live cursor is read there, as in sync mode.
            Session::Step step;
            try {
                session_->bind(*st, params, /*copy=*/false);
                Session::Inline scope(*session_, inline_budget);
                step = session_->step_inline(*st);
            } catch (...) {
                session_->release(*st);
                throw;
            }
            if (step != Session::Step::moved) {
                ++session_->offload_stats().inline_runs;
                SqliteCursor live(session_, std::move(st), step == Session::Step::row);
                if (!live.next()) return false;
                on_row(context, Row(&live));
                return true;
            }
            // Out of time or at a lock: the first row from a worker, the statement kept bound.
            ++session_->offload_stats().worker_runs;
            cursor = run_where(true, [&] {
                try {
                    bool row = session_->step(*st);
                    return std::make_unique<SqliteCursor>(session_, st, row);
                } catch (...) {
                    session_->release(*st);
                    throw;
                }
            });
        } else {
            cursor = run_async(sql, params, std::move(st), cached_is_busy);
        }
        if (!cursor->next()) return false;
        on_row(context, Row(cursor.get()));
        return true;
    }
}

void SqliteConnection::execute_script(std::string_view sql) {
    Operation op(*this, "execute_script()");
    op([&] { session_->exec(sql); });
}

std::int64_t SqliteConnection::last_insert_id() { return session_->last_insert_rowid(); }

void SqliteConnection::begin() { run_to_end(begin_sql_); }

void SqliteConnection::commit() { run_to_end("COMMIT"); }

void SqliteConnection::rollback() {
    if (session_->is_closed() || !session_->in_transaction()) return;
    run_to_end("ROLLBACK");
}

WEFT_HOT TransactionState SqliteConnection::transaction_state() const {
    // No "failed" state: a failed statement only undoes itself and the transaction stays usable.
    // sqlite3_get_autocommit also notices when SQLite rolled the transaction back on its own.
    return session_->in_transaction() ? TransactionState::active : TransactionState::idle;
}

void SqliteConnection::set_statement_timeout(std::chrono::milliseconds timeout) {
    session_->set_statement_timeout(timeout);
}

void SqliteConnection::cancel() { session_->interrupt(); }

bool SqliteConnection::is_broken() const { return session_->is_broken(); }

WEFT_HOT bool SqliteConnection::is_usable(bool ping) {
    if (session_->is_broken()) return false;
    if (!ping) return true;
    try {
        // Reads the database header, so a deleted-and-replaced or corrupt file shows up here.
        Result r = execute("PRAGMA schema_version");
        while (r.next()) {
        }
        return true;
    } catch (const Error&) {
        return false;
    }
}

void SqliteConnection::abandon_after_fork() noexcept { session_->abandon(); }

void SqliteConnection::close() {
    if (session_->is_closed()) return;
    // Closing the last connection to a WAL database checkpoints it: file I/O like any other.
    Operation op(*this, "close()");
    op([&] { session_->close(); });
}

StatementCacheStats SqliteConnection::statement_cache_stats() const { return session_->cache_stats(); }

void SqliteConnection::clear_statement_cache() { session_->clear_cache(); }

}  // namespace orm::db::sqlite
