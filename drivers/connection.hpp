// Connection: one session with a database. Implemented by each driver.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "drivers/config.hpp"
#include "drivers/result.hpp"
#include "drivers/value.hpp"

namespace orm::db {

class Backend;
class Dialect;
struct Features;

enum class TransactionState {
    idle,            // autocommit: no transaction open
    active,          // inside BEGIN ... (savepoints included)
    failed,          // a statement failed inside the transaction; only ROLLBACK (TO SAVEPOINT) works
};

// A COPY-in load (Connection::copy_in): rows for `columns` of `table`, row-major in `values`
// (values.size() a multiple of columns.size()). Names are unquoted; the driver quotes them.
// describe_row(context, i), when set, names row i (0-based) in an error the server pins on it.
struct CopyIn {
    std::string_view table;
    std::span<const std::string> columns;
    std::span<const Value> values;
    std::string (*describe_row)(void* context, std::size_t row) = nullptr;
    void* context = nullptr;
};

struct StatementCacheStats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::size_t size = 0;
    std::size_t capacity = 0;
};

class Connection {
public:
    virtual ~Connection() = default;
    Connection() = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    virtual const Backend& backend() const = 0;
    const Dialect& dialect() const;
    const Features& features() const;
    virtual const ConnectionConfig& config() const = 0;

    // Runs one statement with bound parameters through the prepared statement cache (keyed by the
    // SQL text). Throws orm::ProgrammingError when the parameter count does not match the statement.
    // The Result must be consumed or destroyed before the next statement on this connection.
    virtual Result execute(std::string_view sql, std::span<const Value> params) = 0;
    Result execute(std::string_view sql) { return execute(sql, std::span<const Value>{}); }
    Result execute(std::string_view sql, std::initializer_list<Value> params) {
        return execute(sql, std::span<const Value>(params.begin(), params.size()));
    }
    // Runs a query like execute() and hands its first row, if there is one, to on_row(context,
    // row); the row is valid during that call only and later rows are not read. Returns whether
    // there was a row. For one-row reads (a get by primary key): a driver may spare what building
    // a Result costs.
    using RowCallback = void (*)(void* context, const Row& row);
    virtual bool query_first(std::string_view sql, std::span<const Value> params, RowCallback on_row, void* context);
    // Loads rows with COPY ... FROM STDIN (Features::supports_copy_in) in one statement, under the
    // statement timeout; returns the rows loaded. A row the server refuses gives the same typed
    // error an INSERT would (IntegrityError, DataError...), naming the row where the server says
    // which. The default throws orm::NotSupportedError.
    virtual std::uint64_t copy_in(const CopyIn& load);
    // Runs one or more ';'-separated statements without parameters and without caching (DDL, SET).
    virtual void execute_script(std::string_view sql) = 0;

    // The key of the row the last INSERT on this connection created (Features::has_last_insert_id).
    virtual std::int64_t last_insert_id() = 0;

    virtual void begin() = 0;
    virtual void commit() = 0;
    virtual void rollback() = 0;
    virtual void savepoint(std::string_view name);
    virtual void release_savepoint(std::string_view name);
    virtual void rollback_to_savepoint(std::string_view name);
    virtual TransactionState transaction_state() const = 0;

    // The statement timeout for statements that follow (0: none). Where the backend supports it
    // (Features::supports_statement_timeout) the server cancels the statement itself.
    virtual void set_statement_timeout(std::chrono::milliseconds timeout) = 0;

    // Asks the database to stop the statement running on this connection. Safe to call from any thread.
    virtual void cancel() = 0;
    // True once the connection is known to be unusable (lost, closed); it is never used again.
    virtual bool is_broken() const = 0;
    // Health check for pools: cheap local checks (false when is_broken()), plus a round trip when
    // `ping` is set.
    virtual bool is_usable(bool ping) = 0;
    virtual void close() = 0;

    virtual StatementCacheStats statement_cache_stats() const = 0;
    virtual void clear_statement_cache() = 0;

    // In the child of a fork(): lets go of the connection without a word to the server or the
    // file (a PostgreSQL socket is shared with the parent, whose session must go on undisturbed;
    // closing a SQLite handle could checkpoint the parent's WAL). Nothing of the connection may be
    // used afterwards, and destroying it then does no I/O. The pool calls it for the connections
    // a forked child inherited.
    virtual void abandon_after_fork() noexcept {}

private:
    friend class Pool;
    // When the connection was last returned to its pool (Pool's coarse clock); pool bookkeeping.
    std::chrono::nanoseconds pool_idle_since_{0};
    // The pool's fork generation when the connection was opened (see Pool::forget_after_fork).
    std::uint64_t pool_generation_ = 0;
};

// Runs BEGIN; rolls back in the destructor unless commit() was called.
class Transaction {
public:
    explicit Transaction(Connection& c) : c_(c) { c_.begin(); }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction();
    void commit() { done_ = true; c_.commit(); }
    void rollback() { done_ = true; c_.rollback(); }

private:
    Connection& c_;
    bool done_ = false;
};

}  // namespace orm::db
