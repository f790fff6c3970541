// PgConnection: statement cache, errors, transactions, cancel and health checks over PgHandle.
#include "drivers/postgres/pg_connection.hpp"

#include <poll.h>

#include <algorithm>

#include <fmt/format.h>

#include "drivers/backend.hpp"
#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"
#include "drivers/postgres/pg_conninfo.hpp"
#include "drivers/postgres/pg_cursor.hpp"
#include "drivers/postgres/pg_errors.hpp"
#include "drivers/postgres/pg_params.hpp"

namespace orm::db::postgres {

namespace {

using Status = PgHandle::Result::Status;
using Field = PgHandle::Result::Field;

bool succeeded(const PgHandle::Result& r) {
    auto s = r.status();
    return r.has_value() && (s == Status::command_ok || s == Status::tuples_ok || s == Status::empty_query);
}

void set_keyword(Keywords& kw, std::string_view key, std::string value) {
    for (auto& [k, v] : kw)
        if (k == key) {
            v = std::move(value);
            return;
        }
    kw.emplace_back(std::string(key), std::move(value));
}

bool has_keyword(const Keywords& kw, std::string_view key) {
    return std::any_of(kw.begin(), kw.end(), [&](const auto& p) { return p.first == key; });
}

std::string nul_terminated(std::string_view sql) {
    if (sql.find('\0') != std::string_view::npos)
        throw ProgrammingError(fmt::format("SQL text contains a NUL byte: {}", shorten_sql(sql.substr(0, sql.find('\0')))));
    return std::string(sql);
}

}  // namespace

PgConnection::PgConnection(const Backend& backend, const ConnectionConfig& cfg)
    : backend_(backend),
      cfg_(cfg),
      cache_(cfg.statement_cache_size, [this](Prepared& p) {
          if (!p.gone && !broken_ && !closed_) pending_deallocate_.push_back(p.name);
      }) {
    std::string error;
    auto keywords = PgHandle::parse_conninfo(cfg_.target, error);
    if (!keywords) throw InterfaceError(fmt::format("invalid PostgreSQL connection target for {}: {}", cfg_.url, error));
    std::vector<std::string> secrets;
    for (const auto& [k, v] : *keywords)
        if (k == "password") secrets.push_back(v);
    // We read and write UTF-8 text whatever the server or PGCLIENTENCODING says.
    set_keyword(*keywords, "client_encoding", "UTF8");
    if (cfg_.connect_timeout.count() > 0) {
        // libpq counts whole seconds (and treats 1 as 2); round up so we never wait less than asked.
        auto seconds = (cfg_.connect_timeout.count() + 999) / 1000;
        set_keyword(*keywords, "connect_timeout", std::to_string(seconds));
    }
    if (!has_keyword(*keywords, "application_name")) set_keyword(*keywords, "fallback_application_name", "weft");
    if (!handle_.connect(*keywords)) {
        std::string msg = scrub(handle_.error_message(), secrets);
        handle_.close();
        closed_ = true;
        throw ConnectionError(fmt::format("could not connect to PostgreSQL ({}): {}", cfg_.url, msg), "08001");
    }
    configure_session();
}

PgConnection::~PgConnection() { close(); }

void PgConnection::configure_session() {
    // Pins down the text formats PgCursor parses and PgDialect::literal writes. One round trip.
    std::string setup =
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET extra_float_digits = 3; SET bytea_output = 'hex'; "
        "SET standard_conforming_strings = on";
    // Left alone when not asked for, so a server or role default still applies.
    if (cfg_.statement_timeout.count() > 0)
        setup += fmt::format("; SET statement_timeout = {}", cfg_.statement_timeout.count());
    try {
        run_simple(setup);
    } catch (const Error& e) {
        close();
        throw ConnectionError(fmt::format("could not configure the PostgreSQL session ({}): {}", cfg_.url, e.what()),
                              e.sqlstate().empty() ? "08001" : e.sqlstate());
    }
}

// ---- waiting and results ------------------------------------------------------------------

PgHandle::Result PgConnection::round_trip(const PgRequest& req) { return handle_.run_blocking(req); }

bool PgConnection::lost(const PgHandle::Result& r) const {
    if (!handle_.connection_ok() || handle_.session_ending()) return true;
    // FATAL / PANIC: the server ends the session after sending it (pg_terminate_backend, shutdown).
    auto severity = r.error_field(Field::severity);
    return severity == "FATAL" || severity == "PANIC";
}

PgHandle::Result PgConnection::check(PgHandle::Result r, std::string_view sql) {
    if (succeeded(r)) return r;
    auto status = r.status();
    if (r.has_value() && (status == Status::copy_in || status == Status::copy_out)) {
        handle_.abandon_copy(status);
        if (!handle_.connection_ok()) mark_broken();
        throw NotSupportedError(fmt::format("COPY FROM STDIN / TO STDOUT is not supported by execute(): {}",
                                            shorten_sql(sql)));
    }
    PgFailure f = describe_failure(r, handle_.error_message(), sql);
    bool was_lost = lost(r);
    if (was_lost) mark_broken();
    throw_failure(f, was_lost);
}

PgHandle::Result PgConnection::run_simple(std::string_view sql) {
    std::string q = nul_terminated(sql);
    PgRequest req;
    req.kind = PgRequest::Kind::simple_query;
    req.sql = q.c_str();
    return check(round_trip(req), sql);
}

// ---- execute ------------------------------------------------------------------------------

Result PgConnection::execute(std::string_view sql, std::span<const Value> params) {
    ensure_usable();
    if (sql.find('\0') != std::string_view::npos) nul_terminated(sql);  // throws
    PgParams encoded(params);  // DataError before anything is sent
    flush_deallocations();
    if (cfg_.statement_cache_size == 0) return execute_uncached(sql, encoded);
    return execute_cached(sql, encoded);
}

Result PgConnection::execute_uncached(std::string_view sql, const PgParams& params) {
    // Unnamed statement: the server checks the parameter count (08P01, a ProgrammingError).
    std::string q(sql);
    PgRequest req;
    req.kind = PgRequest::Kind::exec_params;
    req.sql = q.c_str();
    params.apply(req);
    return Result(std::make_unique<PgCursor>(check(round_trip(req), sql)));
}

namespace {

// Failures a statement prepared against an older table definition can cause: the server fixed
// each parameter's type when the statement was prepared, and a table dropped and re-created
// with other column types (a migration, a test fixture) leaves those types stale.
// Class 22 covers values that no longer parse as the parameter's type (22P02, 22P03, 22021,
// 22003, 22007...); 42804 / 42883 a NULL or operator that no longer fits; 08P01 binary bytea
// data against a non-bytea parameter. Genuine errors of these kinds pay one extra
// prepare + describe, and only on the error path.
bool may_be_stale_types(std::string_view sqlstate) {
    return sqlstate.starts_with("22") || sqlstate == "42804" || sqlstate == "42883" || sqlstate == "08P01";
}

}  // namespace

Result PgConnection::execute_cached(std::string_view sql, const PgParams& params) {
    Prepared* p = nullptr;
    for (int attempt = 0;; ++attempt) {
        if (!p) p = cache_.find(sql);
        if (!p) p = &prepare(sql);
        if (p->param_types.size() != static_cast<std::size_t>(params.size()))
            throw ProgrammingError(fmt::format("statement expects {} parameter{}, got {}: {}", p->param_types.size(),
                                               p->param_types.size() == 1 ? "" : "s", params.size(),
                                               shorten_sql(sql)));
        PgRequest req;
        req.kind = PgRequest::Kind::exec_prepared;
        req.name = p->name.c_str();
        params.apply(req);
        PgHandle::Result r = round_trip(req);
        if (succeeded(r)) return Result(std::make_unique<PgCursor>(std::move(r)));
        if (lost(r) || attempt > 0) check(std::move(r), sql);  // throws
        bool idle = handle_.transaction_status() == PgHandle::TxStatus::idle;
        std::string_view state = r.error_field(Field::sqlstate);
        if (state == "26000" || state == "0A000") {
            // 26000: the statement is gone (DEALLOCATE ALL, DISCARD ALL); 0A000: "cached plan
            // must not change result type" after the table changed. Drop it; outside a
            // transaction the failed statement changed nothing, so running it afresh is safe.
            if (state == "26000") p->gone = true;
            cache_.erase(sql);
            p = nullptr;
            if (idle) continue;
        } else if (may_be_stale_types(state)) {
            // Prepare afresh and retry only if the server now infers other parameter types;
            // otherwise the error was genuine and stands. Inside a transaction nothing can run
            // until ROLLBACK, so just drop the entry: the next use prepares it again.
            std::vector<Oid> old_types = p->param_types;
            cache_.erase(sql);
            p = nullptr;
            if (idle) {
                Prepared& fresh = prepare(sql);
                if (fresh.param_types != old_types) {
                    p = &fresh;
                    continue;
                }
            }
        }
        check(std::move(r), sql);  // throws
    }
}

PgConnection::Prepared& PgConnection::prepare(std::string_view sql) {
    std::string q(sql);
    std::string name = fmt::format("weft_{}", ++next_statement_);
    PgRequest req;
    req.kind = PgRequest::Kind::prepare;
    req.sql = q.c_str();
    req.name = name.c_str();
    check(round_trip(req), sql);
    // One describe per statement, so a wrong parameter count is caught here, not by the server.
    PgRequest describe;
    describe.kind = PgRequest::Kind::describe_prepared;
    describe.name = name.c_str();
    PgHandle::Result d;
    try {
        d = check(round_trip(describe), sql);
    } catch (...) {
        if (!broken_) pending_deallocate_.push_back(name);
        throw;
    }
    Prepared prepared{std::move(name), {}};
    for (int i = 0; i < d.param_count(); ++i) prepared.param_types.push_back(d.param_type(i));
    return *cache_.insert(sql, std::move(prepared));
}

void PgConnection::flush_deallocations() {
    // Only outside a transaction: DEALLOCATE of a statement the server already dropped fails,
    // and inside a transaction that failure would abort the user's work. Until then the
    // statements stay allocated on the server, which is harmless.
    if (pending_deallocate_.empty() || handle_.transaction_status() != PgHandle::TxStatus::idle) return;
    std::string q;
    for (const auto& name : pending_deallocate_) q += fmt::format("DEALLOCATE {}; ", name);
    pending_deallocate_.clear();
    PgRequest req;
    req.kind = PgRequest::Kind::simple_query;
    req.sql = q.c_str();
    PgHandle::Result r = round_trip(req);
    if (!succeeded(r) && lost(r)) check(std::move(r), q);  // throws ConnectionError
}

void PgConnection::execute_script(std::string_view sql) {
    ensure_usable();
    flush_deallocations();
    run_simple(sql);
}

std::int64_t PgConnection::last_insert_id() {
    throw NotSupportedError(
        "PostgreSQL has no session-wide last insert id (Features::has_last_insert_id is false); "
        "use INSERT ... RETURNING id (Features::supports_returning)");
}

// ---- transactions -------------------------------------------------------------------------

void PgConnection::begin() {
    ensure_usable();
    if (handle_.transaction_status() != PgHandle::TxStatus::idle)
        throw_database_error("25001",
                             "cannot begin a transaction: one is already in progress on this connection (use a "
                             "savepoint to nest)");
    run_simple(dialect().begin_sql());
}

void PgConnection::commit() {
    ensure_usable();
    PgHandle::Result r = run_simple("COMMIT");
    // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK (and no error).
    if (r.command_status() == "ROLLBACK")
        throw_database_error("25P02",
                             "COMMIT rolled the transaction back because an earlier statement in it failed; "
                             "nothing it did was written");
}

void PgConnection::rollback() {
    ensure_usable();
    run_simple("ROLLBACK");
}

TransactionState PgConnection::transaction_state() const {
    if (broken_ || closed_) return TransactionState::idle;
    switch (handle_.transaction_status()) {
        case PgHandle::TxStatus::in_transaction:
        case PgHandle::TxStatus::active: return TransactionState::active;
        case PgHandle::TxStatus::in_error: return TransactionState::failed;
        default: return TransactionState::idle;
    }
}

void PgConnection::set_statement_timeout(std::chrono::milliseconds timeout) {
    ensure_usable();
    if (timeout.count() < 0) throw InterfaceError("set_statement_timeout: the timeout must not be negative");
    // Note: SET inside a transaction is undone if the transaction rolls back.
    run_simple(fmt::format("SET statement_timeout = {}", timeout.count()));
    cfg_.statement_timeout = timeout;
}

// ---- lifecycle ----------------------------------------------------------------------------

void PgConnection::cancel() {
    // Touches only the PGcancel object, under the lock that close() and mark_broken() take to
    // free it; the flags belong to the owning thread and are not read here.
    std::lock_guard lock(cancel_mu_);
    if (!handle_.can_cancel()) return;  // closed or lost: nothing runs
    std::string error;
    if (!handle_.cancel(error)) throw OperationalError("PostgreSQL cancel request failed: " + error);
}

bool PgConnection::is_usable(bool ping) {
    if (broken_ || closed_) return false;
    if (!handle_.connection_ok()) {
        mark_broken();
        return false;
    }
    auto tx = handle_.transaction_status();
    if (tx == PgHandle::TxStatus::active || tx == PgHandle::TxStatus::unknown) return false;
    // An idle session receives nothing unasked except notifications, or a FATAL error followed by
    // EOF when the server ends it (pg_terminate_backend, shutdown). Reading and parsing what is
    // there (no round trip) shows either the FATAL message or the EOF (CONNECTION_BAD).
    for (int i = 0; i < 4; ++i) {
        pollfd p{handle_.socket(), POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) break;
        bool read = handle_.consume_input();
        handle_.is_busy();  // parses: an unsolicited ErrorResponse reaches the notice receiver
        if (!read || !handle_.connection_ok() || handle_.session_ending()) {
            mark_broken();
            return false;
        }
    }
    if (!ping) return true;
    PgRequest req;
    req.kind = PgRequest::Kind::simple_query;
    req.sql = "";  // an empty query: the cheapest full round trip
    PgHandle::Result r = round_trip(req);
    if (r.status() == Status::empty_query) return true;
    if (lost(r)) mark_broken();
    return false;
}

void PgConnection::ensure_usable() const {
    if (closed_) throw InterfaceError(fmt::format("the PostgreSQL connection ({}) is closed", cfg_.url));
    if (broken_)
        throw ConnectionError(
            fmt::format("the PostgreSQL connection ({}) was lost earlier and cannot be used again; open a new one",
                        cfg_.url),
            "08003");
}

void PgConnection::mark_broken() {
    if (broken_ || closed_) return;
    broken_ = true;
    cache_.clear(false);  // the server already forgot them
    pending_deallocate_.clear();
    std::lock_guard lock(cancel_mu_);
    handle_.close();
}

void PgConnection::close() {
    if (closed_) return;
    closed_ = true;
    cache_.clear(false);  // ending the session frees them
    pending_deallocate_.clear();
    std::lock_guard lock(cancel_mu_);
    handle_.close();
}

void PgConnection::clear_statement_cache() {
    if (broken_ || closed_) {
        cache_.clear(false);
        return;
    }
    cache_.clear(true);
    flush_deallocations();
}

}  // namespace orm::db::postgres
