// PgConnection: a PostgreSQL session over PgHandle: the prepared statement cache, parameter
// encoding, error mapping, transactions, cancel and health checks.
//
// Sync and async share everything here except round_trip(), the one member that waits for the
// server. Sync mode calls PgHandle::run_blocking(); the async path (next issue) will send the
// same PgRequest with PQsend* and suspend the fiber on the socket until the result is complete,
// under a deadline. check(), PgCursor, PgParams and the cache logic take finished results and
// never wait, so they serve both modes unchanged.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "drivers/connection.hpp"
#include "drivers/postgres/pg_libpq.hpp"
#include "drivers/statement_cache.hpp"

namespace orm::db::postgres {

class PgParams;

class PgConnection final : public Connection {
public:
    // Connects and configures the session. Throws orm::ConnectionError.
    PgConnection(const Backend& backend, const ConnectionConfig& cfg);
    ~PgConnection() override;

    const Backend& backend() const override { return backend_; }
    const ConnectionConfig& config() const override { return cfg_; }

    Result execute(std::string_view sql, std::span<const Value> params) override;
    using Connection::execute;
    void execute_script(std::string_view sql) override;
    std::int64_t last_insert_id() override;

    void begin() override;
    void commit() override;
    void rollback() override;
    TransactionState transaction_state() const override;
    void set_statement_timeout(std::chrono::milliseconds timeout) override;

    void cancel() override;
    bool is_broken() const override { return broken_ || closed_; }
    bool is_usable(bool ping) override;
    void close() override;

    StatementCacheStats statement_cache_stats() const override { return cache_.stats(); }
    void clear_statement_cache() override;

    // The server process serving this session (pg_backend_pid()), 0 when closed.
    int backend_pid() const { return handle_.backend_pid(); }

private:
    struct Prepared {
        std::string name;      // "weft_<n>", never reused on this connection
        std::vector<Oid> param_types;  // as the server inferred them (PQdescribePrepared)
        bool gone = false;     // the server no longer has it: nothing to DEALLOCATE
    };

    // The only member that waits for the server (see the file comment).
    PgHandle::Result round_trip(const PgRequest& req);
    // Passes a successful result through; otherwise throws its error family (marking the
    // connection broken when it was lost).
    PgHandle::Result check(PgHandle::Result r, std::string_view sql);
    bool lost(const PgHandle::Result& r) const;
    PgHandle::Result run_simple(std::string_view sql);

    Result execute_cached(std::string_view sql, const PgParams& params);
    Result execute_uncached(std::string_view sql, const PgParams& params);
    Prepared& prepare(std::string_view sql);
    void flush_deallocations();

    void ensure_usable() const;
    void mark_broken();
    void configure_session();

    const Backend& backend_;
    ConnectionConfig cfg_;
    PgHandle handle_;
    bool broken_ = false;
    bool closed_ = false;
    std::mutex cancel_mu_;                      // serializes cancel() with closing the handle
    std::vector<std::string> pending_deallocate_;  // evicted statements, DEALLOCATEd when idle
    std::uint64_t next_statement_ = 0;
    StatementCache<Prepared> cache_;            // after pending_deallocate_: its evict callback uses it
};

}  // namespace orm::db::postgres
