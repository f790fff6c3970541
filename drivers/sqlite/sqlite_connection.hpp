// SqliteConnection: orm::db::Connection over one sqlite3 handle (held by a Session).
//
// Both modes run the same code; only where it runs differs. Each operation reads
// orm::is_async() once when it starts: in sync mode its sqlite3 calls run on the calling thread.
// In async mode:
//  - a query (SELECT / WITH / VALUES that writes nothing) whose statement is already prepared
//    runs on the calling (loop) thread first, under a time budget of 250 us enforced by the
//    progress handler, with a busy handler that refuses to wait. Out of time, or at a lock, it
//    is stopped (sqlite3_interrupt semantics: a read-only statement stopped part-way has changed
//    nothing, not even inside a transaction), reset with its bindings kept, and run again on a
//    worker, none of its rows having reached the caller. A query that ran out of time goes
//    straight to a worker for its next 16 runs.
//  - everything else (statements that write, BEGIN/COMMIT/ROLLBACK, scripts, the first run of
//    a query, which prepares it) runs as one orm::run_in_thread() job on a worker thread while
//    the calling fiber waits (outside any fiber the caller drives its loop meanwhile), so a
//    loop never blocks on writes, commits or busy_timeout waits, which sleep on the worker.
//    Writes are never tried on the loop thread: stopping a write inside a transaction would
//    roll the whole transaction back, and commits do file I/O.
//  - a query's rows come in batches of up to batch_rows (sqlite_cursor.hpp): the first from
//    wherever the statement ran, each later one from a worker job; results of statements that
//    write are buffered whole.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "drivers/connection.hpp"
#include "drivers/sqlite/sqlite_cursor.hpp"
#include "drivers/sqlite/sqlite_session.hpp"

namespace orm::db::sqlite {

class SqliteConnection final : public Connection {
public:
    // Opens cfg.target (on a worker thread in async mode). Throws orm::ConnectionError when the
    // file cannot be opened as a database, orm::InterfaceError for bad options.
    SqliteConnection(const Backend& backend, ConnectionConfig cfg);
    ~SqliteConnection() override;

    const Backend& backend() const override { return backend_; }
    const ConnectionConfig& config() const override { return cfg_; }

    Result execute(std::string_view sql, std::span<const Value> params) override;
    bool query_first(std::string_view sql, std::span<const Value> params, RowCallback on_row, void* context) override;
    using Connection::execute;
    void execute_script(std::string_view sql) override;
    std::int64_t last_insert_id() override;

    void begin() override;
    void commit() override;
    // A no-op when no transaction is open: SQLite may already have rolled back by itself (after
    // SQLITE_FULL, SQLITE_IOERR, ...), and cleanup paths call rollback() unconditionally.
    void rollback() override;
    TransactionState transaction_state() const override;

    void set_statement_timeout(std::chrono::milliseconds timeout) override;
    // sqlite3_interrupt: from any thread or fiber, also while the statement runs on a worker.
    void cancel() override;
    bool is_broken() const override;
    bool is_usable(bool ping) override;
    void close() override;
    void abandon_after_fork() noexcept override;

    StatementCacheStats statement_cache_stats() const override;
    void clear_statement_cache() override;

    // The sqlite3 handle, for what the interface does not cover (custom functions, the backup
    // API). nullptr once closed. Do not close it. In async mode statements run on worker threads,
    // so callbacks registered on it (functions, hooks) run there too.
    sqlite3* native_handle() const noexcept { return session_->native_handle(); }

    // Where async mode ran this connection's statements (diagnostics and tests).
    OffloadStats offload_stats() const noexcept { return session_->offload_stats(); }

private:
    [[noreturn]] void too_many_params(std::string_view sql, std::size_t n) const;
    // The whole of one execute: prepare (or take from the cache), bind, the first step, and for
    // statements that write (or when `buffer_rows`), every remaining step. Async mode runs this
    // one call on a worker thread with `buffer_rows` set for statements that write.
    std::unique_ptr<SqliteCursor> run(std::string_view sql, std::span<const Value> params, bool buffer_rows);
    std::unique_ptr<SqliteCursor> run(Ref<Statement> st, std::span<const Value> params, bool buffer_rows);
    // Async mode's execute(): see the top of this file.
    // query_first() in async mode, inside its Operation.
    bool query_first_async(std::string_view sql, std::span<const Value> params, RowCallback on_row, void* context);
    // `st` and `cached_is_busy` from Session::find_idle.
    std::unique_ptr<SqliteCursor> run_async(std::string_view sql, std::span<const Value> params, Ref<Statement> st,
                                            bool cached_is_busy);
    // The first batch of a bound query, stepped here (on a worker); a streamed cursor when more follow.
    std::unique_ptr<SqliteCursor> first_batch(Ref<Statement> st);
    // Runs `sql` to its end in the mode read at this call (begin, commit, rollback).
    void run_to_end(std::string_view sql);
    class Operation;

    const Backend& backend_;
    ConnectionConfig cfg_;
    std::string begin_sql_;
    bool async_inline_ = true;  // the async_inline URL option
    Ref<Session> session_;  // shared with live cursors, which may outlive this object
    // Set while an operation runs: a second fiber or thread using the connection meanwhile is a
    // bug that would corrupt the handle (it is opened SQLITE_OPEN_NOMUTEX), so it fails loudly.
    std::atomic<bool> busy_{false};
};

}  // namespace orm::db::sqlite
