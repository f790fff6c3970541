// SqliteConnection: orm::db::Connection over one sqlite3 handle (held by a Session).
//
// Both modes run the same code; only where it runs differs. Each operation reads
// orm::is_async() once when it starts: in sync mode its sqlite3 calls run on the calling thread;
// in async mode they run as one orm::run_in_thread() job on a worker thread while the calling
// fiber waits (outside any fiber the caller drives its loop meanwhile), so a loop never blocks
// on SQLite, not even in busy_timeout waits, which then sleep on the worker. Results of async
// operations are buffered whole before the fiber resumes (a statement cannot be left half-run
// on a worker); reading them costs no further sqlite3 calls.
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

private:
    [[noreturn]] void too_many_params(std::string_view sql, std::size_t n) const;
    // The whole of one execute: prepare (or take from the cache), bind, the first step, and for
    // statements that write (or when `buffer_rows`), every remaining step. Async mode runs this
    // one call on a worker thread with `buffer_rows` set.
    std::unique_ptr<SqliteCursor> run(std::string_view sql, std::span<const Value> params, bool buffer_rows);
    // Runs `sql` to its end in the mode read at this call (begin, commit, rollback).
    void run_to_end(std::string_view sql);
    class Operation;

    const Backend& backend_;
    ConnectionConfig cfg_;
    std::string begin_sql_;
    Ref<Session> session_;  // shared with live cursors, which may outlive this object
    // Set while an operation runs: a second fiber or thread using the connection meanwhile is a
    // bug that would corrupt the handle (it is opened SQLITE_OPEN_NOMUTEX), so it fails loudly.
    std::atomic<bool> busy_{false};
};

}  // namespace orm::db::sqlite
