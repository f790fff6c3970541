// PgConnection: statement cache, errors, transactions, cancel and health checks over PgHandle.
#include "drivers/postgres/pg_connection.hpp"

#include "drivers/features.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "drivers/backend.hpp"
#include "drivers/bridge/detail/wait_blocking.hpp"
#include "drivers/bridge/mode.hpp"
#include "drivers/bridge/offload.hpp"
#include "drivers/bridge/wait_queue.hpp"
#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"
#include "drivers/features.hpp"
#include "drivers/postgres/pg_conninfo.hpp"
#include "drivers/postgres/pg_cursor.hpp"
#include "drivers/postgres/pg_errors.hpp"
#include "drivers/postgres/pg_params.hpp"

namespace orm::db::postgres {

namespace {

// Cancel requests run on threads of their own, at most max_cancel_threads at once: each PQcancel
// may block for as long as the network stays silent, and a bounded set of them can never crowd
// out other work (run_in_thread's workers belong to SQLite and the application).
constexpr int max_cancel_threads = 4;
std::mutex cancellers_mu;
int cancellers_running = 0;

}  // namespace

struct PgConnection::CancelRequest {
    orm::Event done;
    bool ok = false;    // PQcancel's verdict, written before `done` is set
    std::string error;  // and its message
};

std::shared_ptr<PgConnection::CancelRequest> PgConnection::start_cancel(std::shared_ptr<pg_cancel> obj,
                                                                        std::string& why) {
    {
        std::lock_guard lock(cancellers_mu);
        if (cancellers_running >= max_cancel_threads) {
            why = fmt::format("all {} cancel threads are still waiting for the server to answer earlier cancel "
                              "requests: the network may be down",
                              max_cancel_threads);
            return nullptr;
        }
        ++cancellers_running;
    }
    auto request = std::make_shared<CancelRequest>();
    try {
        std::thread([obj = std::move(obj), request] {
            request->ok = PgHandle::cancel(obj.get(), request->error);
            {
                std::lock_guard lock(cancellers_mu);
                --cancellers_running;
            }
            request->done.set();
        }).detach();
    } catch (const std::exception& e) {
        std::lock_guard lock(cancellers_mu);
        --cancellers_running;
        why = fmt::format("cannot start a cancel thread: {}", e.what());
        return nullptr;
    }
    return request;
}

void PgConnection::settle_cancel(Exchange& x) {
    if (!x.cancel) return;
    if (!x.cancel->done.wait_until(x.deadline)) mark_broken();
    x.cancel.reset();
}

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
    if (auto it = cfg_.options.find("transaction_pooling"); it != cfg_.options.end()) transaction_pooling_ = it->second == "on";
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
    // TCP keepalives and a user timeout unless the URL sets them: a server or network that dies
    // without closing the connection is noticed within about a minute of silence (keepalive
    // probes after 30 s idle, every 10 s, 3 lost) or 30 s of unacknowledged sends, instead of
    // the kernel's two hours. (Unix sockets ignore them.)
    for (const auto& [k, v] : std::initializer_list<std::pair<const char*, const char*>>{
             {"keepalives", "1"}, {"keepalives_idle", "30"}, {"keepalives_interval", "10"},
             {"keepalives_count", "3"}, {"tcp_user_timeout", "30000"}})
        if (!has_keyword(*keywords, k)) set_keyword(*keywords, k, v);
    Operation op(*this);
    if (async_) {
        connect_async(*keywords, secrets);
    } else if (!handle_.connect(*keywords)) {  // libpq's connect_timeout, per host
        std::string msg = scrub(handle_.error_message(), secrets);
        handle_.close();
        closed_ = true;
        throw ConnectionError(fmt::format("could not connect to PostgreSQL ({}): {}", cfg_.url, msg), "08001");
    }
    // Configuring the session shares the async connect's deadline; in sync mode (and with
    // connect_timeout=0) it gets control_timeout() of its own.
    if (control_deadline_ == no_deadline) control_deadline_ = deadline_after(control_timeout());
    control_what_ = "the session setup after connecting";
    configure_session();
    control_deadline_ = no_deadline;
    control_what_ = nullptr;
}

std::chrono::milliseconds PgConnection::control_timeout() const {
    return cfg_.connect_timeout.count() > 0 ? cfg_.connect_timeout : default_control_timeout;
}

PgConnection::ControlExchange::ControlExchange(PgConnection& c, const char* what)
    : c_(c), outer_(c.control_deadline_ == no_deadline) {
    if (!outer_) return;
    c.control_deadline_ = deadline_after(c.control_timeout());
    c.control_what_ = what;
}

PgConnection::ControlExchange::~ControlExchange() {
    if (!outer_) return;
    c_.control_deadline_ = no_deadline;
    c_.control_what_ = nullptr;
}

void PgConnection::connect_async(const Keywords& keywords, const std::vector<std::string>& secrets) {
    // libpq's own connect_timeout only works inside PQconnectdb; here the whole connect,
    // every host and address libpq tries included, shares one deadline.
    const auto limit = cfg_.connect_timeout;
    control_deadline_ = limit.count() > 0 ? deadline_after(limit) : no_deadline;
    control_what_ = "connecting";
    auto failure = [&](const std::string& why) {
        handle_.close();
        closed_ = true;
        return ConnectionError(fmt::format("could not connect to PostgreSQL ({}): {}", cfg_.url, why), "08001");
    };
    // PQconnectStartParams resolves the host name (getaddrinfo blocks): keep that off the loop.
    if (!orm::run_in_thread([&] { return handle_.connect_start(keywords); }))
        throw failure(scrub(handle_.error_message(), secrets));
    Io interest = Io::writable;  // what PQconnectPoll wants before its first call
    for (;;) {
        int fd = handle_.socket();
        if (fd < 0) throw failure(scrub(handle_.error_message(), secrets));
        try {
            orm::wait_io(fd, interest, control_deadline_);
        } catch (const TimeoutError&) {
            throw failure(fmt::format("timed out after {} ms (connect_timeout) waiting for the server", limit.count()));
        } catch (...) {
            handle_.close();
            closed_ = true;
            throw;
        }
        switch (handle_.connect_poll()) {
            case PgHandle::PollStatus::ok: return;
            case PgHandle::PollStatus::failed: throw failure(scrub(handle_.error_message(), secrets));
            case PgHandle::PollStatus::reading: interest = Io::readable; break;
            case PgHandle::PollStatus::writing: interest = Io::writable; break;
        }
    }
}

PgConnection::~PgConnection() { close(); }

void PgConnection::configure_session() {
    // Pins down the text formats PgCursor parses and PgDialect::literal writes. One round trip.
    std::string setup =
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET extra_float_digits = 3; SET bytea_output = 'hex'; "
        "SET standard_conforming_strings = on";
    // Left alone when not asked for, so a server or role default still applies. Behind a
    // transaction pooler the session would keep it for whichever client gets it next: there the
    // client-side deadline and its cancel request enforce the timeout alone.
    if (cfg_.statement_timeout.count() > 0 && !transaction_pooling_)
        setup += fmt::format("; SET statement_timeout = {}", cfg_.statement_timeout.count());
    // Last, so its row is the answer: whether upper() (which the case-insensitive lookups use,
    // as Django does) folds a non-ASCII letter here. A database whose LC_CTYPE is C folds ASCII
    // only; other server encodings than UTF8 are taken not to (chr() would mean other characters).
    setup += "; SELECT CASE WHEN pg_catalog.current_setting('server_encoding') = 'UTF8' "
             "THEN pg_catalog.upper(pg_catalog.chr(233)) = pg_catalog.chr(201) ELSE false END";
    try {
        PgHandle::Result r = run_simple(setup);
        const bool folds = r.status() == PgHandle::Result::Status::tuples_ok && r.rows() == 1 && r.value(0, 0) == "t";
        if (folds != features().case_insensitive_matches_non_ascii || folds != features().iregex_matches_non_ascii) {
            auto learnt = std::make_shared<Features>(features());
            learnt->case_insensitive_matches_non_ascii = folds;
            learnt->iregex_matches_non_ascii = folds;
            cfg_.features = std::move(learnt);
        }
    } catch (const Error& e) {
        close();
        throw ConnectionError(fmt::format("could not configure the PostgreSQL session ({}): {}", cfg_.url, e.what()),
                              e.sqlstate().empty() ? "08001" : e.sqlstate());
    }
}

// ---- waiting and results ------------------------------------------------------------------

PgConnection::Operation::Operation(PgConnection& c) : c_(c) {
    if (c.in_use_.exchange(true, std::memory_order_acquire))
        throw InterfaceError(fmt::format(
            "the PostgreSQL connection ({}) is busy with an operation of another fiber or thread; a connection "
            "serves one caller at a time (give each fiber its own, e.g. from a pool)",
            c.cfg_.url));
    c.async_ = orm::is_async();
}

PgHandle::Result PgConnection::round_trip(const PgRequest& req, std::string_view sql) {
    // Async mode, and sync mode with a deadline (a statement timeout, or the driver's own
    // exchange): the nonblocking exchange, which waits with the deadline (a fiber wait, or
    // poll(2) in sync mode), so a silent network cannot hold a query past statement_timeout plus
    // the cancel grace, nor a ping or ROLLBACK past connect_timeout.
    if (async_ || cfg_.statement_timeout.count() > 0 || control_deadline_ != no_deadline)
        return round_trip_async(req, sql);
    // PQexec* ignore nonblocking mode anyway; switching back keeps the sync path exactly libpq's
    // blocking one. A failure means the connection is bad: check() reports it.
    if (!handle_.set_nonblocking(false)) return {};
    return handle_.run_blocking(req);
}

PgConnection::Exchange PgConnection::new_exchange(std::string_view sql) const {
    Exchange x;
    x.sql = sql;
    if (control_deadline_ != no_deadline) {
        x.deadline = control_deadline_;
        x.limit = control_timeout();
        x.limit_name = cfg_.connect_timeout.count() > 0 ? "connect_timeout"
                                                         : "the driver's own limit, as connect_timeout=0";
        x.what = control_what_;
        x.may_cancel = false;  // the driver's own exchange: no cancel, the connection is given up
    } else if (cfg_.statement_timeout.count() > 0) {
        x.deadline = deadline_after(cfg_.statement_timeout);
        x.limit = cfg_.statement_timeout;
        x.limit_name = "statement_timeout";
    }
    return x;
}

PgHandle::Result PgConnection::round_trip_async(const PgRequest& req, std::string_view sql) {
    Exchange x = new_exchange(sql);
    // Nothing sent: check() reports libpq's message, and a bad connection as lost.
    if (!handle_.set_nonblocking(true) || !handle_.send(req)) return {};
    PgHandle::Result last;
    try {
        if (!flush_output(x)) return {};
        // Straight to waiting: the answer cannot be there yet, so reading first would only cost
        // a failed recv().
        while (!handle_.take_results(last)) {
            wait_socket(Io::readable, x);
            if (!handle_.consume_input()) {
                // Lost (EOF, reset). Keep the server's last words (a FATAL error from
                // pg_terminate_backend or a shutdown); a success without the final
                // ReadyForQuery may not have committed, so PQexec would report the loss instead.
                if (last.status() != Status::fatal_error) last = {};
                return last;
            }
        }
    } catch (...) {
        // Abandoned mid-exchange (timed out after the cancel grace, or the fiber is being
        // cancelled): the protocol state is unknown, so the session cannot be used again.
        mark_broken();
        throw;
    }
    idle_mark_ = orm::io_poll_mark();  // for is_usable: the loop has seen this socket up to here
    settle_cancel(x);
    if (x.cancelled && last.has_value() && last.error_field(Field::sqlstate) == "57014") throw_cancelled(x, last);
    return last;
}

bool PgConnection::flush_output(Exchange& x) {
    // libpq's recipe for nonblocking sends: while PQflush has output left, wait for either
    // direction; if the server talks meanwhile (an early error), read that first, so neither
    // side stalls on a full buffer.
    for (;;) {
        int f = handle_.flush();
        if (f == 0) return true;
        if (f < 0) return false;
        if (any(wait_socket(Io::both, x) & Io::readable) && !handle_.consume_input()) return false;
    }
}

Io PgConnection::wait_socket(Io interest, Exchange& x) {
    for (;;) {
        int fd = handle_.socket();
        // libpq drops the socket when it gives up on the connection.
        if (fd < 0)
            throw ConnectionError(fmt::format("connection to PostgreSQL ({}) lost: {}", cfg_.url, handle_.error_message()),
                                  "08006");
        try {
            return async_ ? orm::wait_io(fd, interest, x.deadline, io_owner_)
                          : orm::detail::wait_io_blocking(fd, interest, x.deadline);
        } catch (const TimeoutError&) {
            if (!x.may_cancel && x.what)
                throw TimeoutError(fmt::format("no answer from PostgreSQL ({}) to {} within {} ms ({}): the network or "
                                               "the server is silent, so the connection was closed",
                                               cfg_.url, x.what, x.limit.count(), x.limit_name));
            if (!x.may_cancel)
                throw TimeoutError(fmt::format("no answer from PostgreSQL ({}) within {} ms ({})\nSQL: {}", cfg_.url,
                                               x.limit.count(), x.limit_name, shorten_sql(x.sql)));
            if (x.cancelled) {
                std::string cancel = x.cancel_sent ? "a cancel request was sent"
                                                   : fmt::format("no cancel request could be sent ({})", x.cancel_error);
                throw TimeoutError(fmt::format(
                    "no result from PostgreSQL ({}) within {} ms ({}); {} and no answer came in {} ms more, so "
                    "the statement was abandoned and the connection closed\nSQL: {}",
                    cfg_.url, x.limit.count(), x.limit_name, cancel, cancel_grace.count(), shorten_sql(x.sql)));
            }
            cancel_on_server(x);
        }
    }
}

void PgConnection::cancel_on_server(Exchange& x) {
    x.cancelled = true;
    // PQcancel opens a connection to the server and waits for its answer with no timeout of its
    // own: on a silent network that is for ever. So it runs on a canceller thread of its own
    // (never on run_in_thread's workers, which SQLite needs), and nobody waits for it: this
    // caller goes on waiting for the server's answer on its own socket, for cancel_grace. The
    // thread holds its own reference to the PGcancel object, which may outlive the connection.
    std::shared_ptr<pg_cancel> obj;
    {
        std::lock_guard lock(cancel_mu_);
        obj = handle_.cancel_object();
    }
    if (!obj) {
        x.cancel_error = "the connection is closed";
    } else {
        x.cancel = start_cancel(std::move(obj), x.cancel_error);
        x.cancel_sent = x.cancel != nullptr;
    }
    x.deadline = deadline_after(cancel_grace);
}

void PgConnection::throw_cancelled(const Exchange& x, const PgHandle::Result& r) const {
    PgFailure f = describe_failure(r, "", x.sql);
    throw TimeoutError(fmt::format("statement timeout: no result from PostgreSQL ({}) within {} ms ({}), so it "
                                   "was cancelled on the server: {}",
                                   cfg_.url, x.limit.count(), x.limit_name, f.message),
                       f.sqlstate);
}

void PgConnection::leave_copy(Status status) {
    if (!async_) {
        handle_.set_nonblocking(false);
        handle_.abandon_copy(status);
        return;
    }
    // The same steps as PgHandle::abandon_copy, waiting on the socket instead of blocking.
    Exchange x = new_exchange("COPY");
    try {
        if (status == Status::copy_in) {
            for (;;) {
                int r = handle_.put_copy_end("COPY FROM STDIN is not supported by weft's execute()");
                if (r == 1) break;
                if (r < 0) return;  // lost: the caller sees it in connection_ok()
                wait_socket(Io::writable, x);
            }
            if (!flush_output(x)) return;
        } else if (status == Status::copy_out) {
            for (;;) {
                int r = handle_.discard_copy_data();
                if (r == 1) continue;
                if (r == -1) break;
                if (r < -1) return;
                wait_socket(Io::readable, x);
                if (!handle_.consume_input()) return;
            }
        }
        PgHandle::Result last;
        while (!handle_.take_results(last)) {
            wait_socket(Io::readable, x);
            if (!handle_.consume_input()) return;
        }
    } catch (...) {
        mark_broken();
        throw;
    }
}

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
        leave_copy(status);
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
    return check(round_trip(req, sql), sql);
}

// ---- execute ------------------------------------------------------------------------------

namespace {

[[noreturn]] void too_many_params(std::string_view sql, std::size_t n, std::size_t max) {
    throw ProgrammingError(fmt::format(
        "a statement with {} bound parameters cannot be sent: PostgreSQL takes at most {} per statement here "
        "(the protocol's limit is 65535, and libpq 15 loses the connection describing more than {}); bind a long "
        "list as one array parameter (the ORM's __in lookups do), or split the statement: {}",
        n, max, max, shorten_sql(sql)),
        "54000");
}

}  // namespace

Result PgConnection::execute(std::string_view sql, std::span<const Value> params) {
    ensure_usable();
    Operation op(*this);
    if (sql.find('\0') != std::string_view::npos) nul_terminated(sql);  // throws
    if (params.size() > features().max_query_params) too_many_params(sql, params.size(), features().max_query_params);
    if (transaction_pooling_) refuse_session_state(sql);
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
    return Result(std::make_unique<PgCursor>(check(round_trip(req, sql), sql)));
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
        if (p->described && p->param_types.size() != static_cast<std::size_t>(params.size()))
            throw ProgrammingError(fmt::format("statement expects {} parameter{}, got {}: {}", p->param_types.size(),
                                               p->param_types.size() == 1 ? "" : "s", params.size(),
                                               shorten_sql(sql)));
        PgRequest req;
        req.kind = PgRequest::Kind::exec_prepared;
        req.name = p->name.c_str();
        params.apply(req);
        PgHandle::Result r = round_trip(req, sql);
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
    check(round_trip(req, sql), sql);
    // One describe per statement, so a wrong parameter count is caught here, not by the server.
    PgRequest describe;
    describe.kind = PgRequest::Kind::describe_prepared;
    describe.name = name.c_str();
    PgHandle::Result d;
    try {
        d = check(round_trip(describe, sql), sql);
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
    ControlExchange control(*this, "DEALLOCATE of evicted prepared statements");
    std::string q;
    for (const auto& name : pending_deallocate_) q += fmt::format("DEALLOCATE {}; ", name);
    pending_deallocate_.clear();
    PgRequest req;
    req.kind = PgRequest::Kind::simple_query;
    req.sql = q.c_str();
    PgHandle::Result r = round_trip(req, q);
    if (!succeeded(r) && lost(r)) check(std::move(r), q);  // throws ConnectionError
}

void PgConnection::execute_script(std::string_view sql) {
    ensure_usable();
    Operation op(*this);
    if (transaction_pooling_) refuse_session_state(sql);
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
    Operation op(*this);
    if (handle_.transaction_status() != PgHandle::TxStatus::idle)
        throw_database_error("25001",
                             "cannot begin a transaction: one is already in progress on this connection (use a "
                             "savepoint to nest)");
    ControlExchange control(*this, "BEGIN");
    run_simple(dialect().begin_sql());
}

void PgConnection::commit() {
    ensure_usable();
    Operation op(*this);
    PgHandle::Result r = run_simple("COMMIT");
    // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK (and no error).
    if (r.command_status() == "ROLLBACK")
        throw_database_error("25P02",
                             "COMMIT rolled the transaction back because an earlier statement in it failed; "
                             "nothing it did was written");
}

void PgConnection::rollback() {
    ensure_usable();
    Operation op(*this);
    ControlExchange control(*this, "ROLLBACK");
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
    Operation op(*this);
    // Note: SET inside a transaction is undone if the transaction rolls back. Behind a
    // transaction pooler no SET (see configure_session): the client-side deadline alone.
    if (!transaction_pooling_) {
        ControlExchange control(*this, "SET statement_timeout");
        run_simple(fmt::format("SET statement_timeout = {}", timeout.count()));
    }
    cfg_.statement_timeout = timeout;
}

// ---- lifecycle ----------------------------------------------------------------------------

void PgConnection::cancel() {
    // Touches only the PGcancel object, taken under the lock that close() and mark_broken() take
    // to free it; the flags belong to the owning thread and are not read here.
    std::shared_ptr<pg_cancel> obj;
    {
        std::lock_guard lock(cancel_mu_);
        obj = handle_.cancel_object();
    }
    if (!obj) return;  // closed or lost: nothing runs
    // PQcancel opens a connection to the server and has no timeout of its own: it runs on a
    // canceller thread (as the statement deadline's cancels do) and this caller, a fiber or a
    // thread, waits for it at most control_timeout(). A silent network leaves the request running
    // there (one of at most four) and the caller gets a TimeoutError.
    std::string why;
    auto request = start_cancel(std::move(obj), why);
    if (!request) throw OperationalError("PostgreSQL cancel request failed: " + why);
    const auto limit = control_timeout();
    if (!request->done.wait_until(deadline_after(limit)))
        throw TimeoutError(fmt::format(
            "PostgreSQL cancel request ({}): no answer from the server within {} ms ({}); the network or the server "
            "is silent (the request goes on in the background until the kernel gives up on it)",
            cfg_.url, limit.count(),
            cfg_.connect_timeout.count() > 0 ? "connect_timeout" : "the driver's own limit, as connect_timeout=0"));
    if (!request->ok) throw OperationalError("PostgreSQL cancel request failed: " + request->error);
}

bool PgConnection::is_usable(bool ping) {
    if (broken_ || closed_) return false;
    if (in_use_.load(std::memory_order_acquire)) return false;  // another caller's operation runs
    if (!segments_.empty() || handle_.in_pipeline()) return false;  // still shared by fibers
    if (!handle_.connection_ok()) {
        mark_broken();
        return false;
    }
    auto tx = handle_.transaction_status();
    if (tx == PgHandle::TxStatus::active || tx == PgHandle::TxStatus::unknown) return false;
    // An idle session receives nothing unasked except notifications, or a FATAL error followed by
    // EOF when the server ends it (pg_terminate_backend, shutdown). Reading and parsing what is
    // there (no round trip) shows either the FATAL message or the EOF (CONNECTION_BAD).
    // In async mode this thread's fiber loop may already know that nothing has arrived (it keeps
    // the socket registered between round trips and drops the registration when something
    // arrives unasked): then the poll() below, a system call per checkout, is skipped.
    const bool quiet = !ping && orm::is_async() && orm::io_idle_quiet(handle_.socket(), io_owner_, idle_mark_);
    for (int i = 0; i < 4 && !quiet; ++i) {
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
    Operation op(*this);
    // Bounded by connect_timeout with or without statement_timeout: behind a silent network the
    // connection is closed (the pool then discards it and opens another) instead of hanging.
    ControlExchange control(*this, "the health-check ping at checkout");
    PgRequest req;
    req.kind = PgRequest::Kind::simple_query;
    req.sql = "";  // an empty query: the cheapest full round trip
    PgHandle::Result r = round_trip(req, "");
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

void PgConnection::refuse_session_state(std::string_view sql) const {
    // Only the statement's first word (after blanks): enough for LISTEN, which a user types as a
    // statement of its own; the pooler would register it on a session that serves other clients
    // next, and its notifications would reach nobody.
    std::size_t i = 0;
    while (i < sql.size() && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r' || sql[i] == ';')) ++i;
    std::string_view word = sql.substr(i, 6);
    auto lower = [](char ch) { return ch >= 'A' && ch <= 'Z' ? char(ch - 'A' + 'a') : ch; };
    bool listen = word.size() == 6 && sql.size() > i + 6 && !std::isalnum(static_cast<unsigned char>(sql[i + 6])) &&
                  sql[i + 6] != '_';
    for (std::size_t k = 0; listen && k < 6; ++k) listen = lower(word[k]) == "listen"[k];
    if (listen)
        throw NotSupportedError(fmt::format(
            "LISTEN needs a session of its own, and with transaction_pooling=on ({}) the pooler hands the server "
            "session to other clients between transactions, so no notification would reach this connection; "
            "listen on a direct connection to the server instead: {}",
            cfg_.url, shorten_sql(sql)));
}

void PgConnection::mark_broken() {
    sync_owed_ = false;
    sync_later_.cancel();
    if (broken_ || closed_) return;
    broken_ = true;
    if (!segments_.empty())  // shared: every statement still in flight fails with it
        fail_segments(std::make_exception_ptr(ConnectionError(
            fmt::format("connection to PostgreSQL ({}) lost: {}", cfg_.url, handle_.error_message()), "08006")));
    cache_.clear(false);  // the server already forgot them
    pending_deallocate_.clear();
    std::lock_guard lock(cancel_mu_);
    handle_.close();
}

void PgConnection::abandon_after_fork() noexcept {
    if (closed_) return;
    closed_ = true;
    broken_ = true;
    cache_.clear(false);
    pending_deallocate_.clear();
    // The socket is the parent's too: point our descriptor at /dev/null first, so that libpq's
    // goodbye (Terminate) goes nowhere and only our reference to the socket is closed.
    if (const int fd = handle_.socket(); fd >= 0) {
        const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd >= 0) {
            (void)::dup2(null_fd, fd);
            ::close(null_fd);
        }
    }
    handle_.close();
}

void PgConnection::close() {
    sync_owed_ = false;
    sync_later_.cancel();  // scheduled only while shared, on the sharing thread
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
    Operation op(*this);
    cache_.clear(true);
    flush_deallocations();
}

}  // namespace orm::db::postgres
