// SqliteConnection: orm::db::Connection over one sqlite3 handle (held by a Session).
#pragma once

#include <memory>
#include <string>

#include "drivers/connection.hpp"
#include "drivers/sqlite/sqlite_cursor.hpp"
#include "drivers/sqlite/sqlite_session.hpp"

namespace orm::db::sqlite {

class SqliteConnection final : public Connection {
public:
    // Opens cfg.target. Throws orm::ConnectionError when the file cannot be opened as a database,
    // orm::InterfaceError for bad options.
    SqliteConnection(const Backend& backend, ConnectionConfig cfg);
    ~SqliteConnection() override;

    const Backend& backend() const override { return backend_; }
    const ConnectionConfig& config() const override { return cfg_; }

    Result execute(std::string_view sql, std::span<const Value> params) override;
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
    void cancel() override;
    bool is_broken() const override;
    bool is_usable(bool ping) override;
    void close() override;

    StatementCacheStats statement_cache_stats() const override;
    void clear_statement_cache() override;

    // The sqlite3 handle, for what the interface does not cover (custom functions, the backup
    // API). nullptr once closed. Do not close it.
    sqlite3* native_handle() const noexcept { return session_->native_handle(); }

private:
    // The whole of one execute: prepare (or take from the cache), bind, the first step, and for
    // statements that write (or when `buffer_rows`), every remaining step. Async mode runs this
    // one call on a worker thread with `buffer_rows` set.
    std::unique_ptr<SqliteCursor> run(std::string_view sql, std::span<const Value> params, bool buffer_rows);

    const Backend& backend_;
    ConnectionConfig cfg_;
    std::string begin_sql_;
    std::shared_ptr<Session> session_;  // shared with live cursors, which may outlive this object
};

}  // namespace orm::db::sqlite
