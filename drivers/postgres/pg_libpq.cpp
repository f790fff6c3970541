// PgHandle: thin wrappers over libpq; no policy lives here (see pg_connection.cpp for that).
#include "drivers/postgres/pg_libpq.hpp"

#include <libpq-fe.h>

#include <cstring>

namespace orm::db::postgres {

// ---- Result ---------------------------------------------------------------------------------

PgHandle::Result::Result(pg_result* r) : r_(r, PQclear) {}

PgHandle::Result::Status PgHandle::Result::status() const {
    if (!r_) return Status::fatal_error;
    switch (PQresultStatus(r_.get())) {
        case PGRES_EMPTY_QUERY: return Status::empty_query;
        case PGRES_COMMAND_OK: return Status::command_ok;
        case PGRES_TUPLES_OK: return Status::tuples_ok;
        case PGRES_COPY_IN: return Status::copy_in;
        case PGRES_COPY_OUT: return Status::copy_out;
        case PGRES_FATAL_ERROR: return Status::fatal_error;
        case PGRES_PIPELINE_SYNC: return Status::pipeline_sync;
        case PGRES_PIPELINE_ABORTED: return Status::pipeline_aborted;
        default: return Status::other;
    }
}

int PgHandle::Result::rows() const { return r_ ? PQntuples(r_.get()) : 0; }
int PgHandle::Result::columns() const { return r_ ? PQnfields(r_.get()) : 0; }
std::string_view PgHandle::Result::column_name(int col) const { return PQfname(r_.get(), col); }
Oid PgHandle::Result::column_type(int col) const { return PQftype(r_.get(), col); }
bool PgHandle::Result::is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }

std::string_view PgHandle::Result::value(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
}

std::string_view PgHandle::Result::command_status() const { return r_ ? PQcmdStatus(r_.get()) : ""; }
std::string_view PgHandle::Result::command_tuples() const { return r_ ? PQcmdTuples(r_.get()) : ""; }
int PgHandle::Result::param_count() const { return r_ ? PQnparams(r_.get()) : 0; }
Oid PgHandle::Result::param_type(int i) const { return PQparamtype(r_.get(), i); }

std::string_view PgHandle::Result::error_field(Field f) const {
    if (!r_) return {};
    int code = 0;
    switch (f) {
        case Field::sqlstate: code = PG_DIAG_SQLSTATE; break;
        case Field::primary: code = PG_DIAG_MESSAGE_PRIMARY; break;
        case Field::detail: code = PG_DIAG_MESSAGE_DETAIL; break;
        case Field::hint: code = PG_DIAG_MESSAGE_HINT; break;
        case Field::position: code = PG_DIAG_STATEMENT_POSITION; break;
        case Field::context: code = PG_DIAG_CONTEXT; break;
        case Field::severity: code = PG_DIAG_SEVERITY_NONLOCALIZED; break;
    }
    const char* v = PQresultErrorField(r_.get(), code);
    return v ? std::string_view(v) : std::string_view{};
}

std::string_view PgHandle::Result::error_message() const { return r_ ? PQresultErrorMessage(r_.get()) : ""; }

// ---- Connection -----------------------------------------------------------------------------

std::optional<Keywords> PgHandle::parse_conninfo(const std::string& conninfo, std::string& error) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
    if (!opts) {
        error = err ? err : "out of memory";
        if (err) PQfreemem(err);
        while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
        return std::nullopt;
    }
    Keywords out;
    for (PQconninfoOption* o = opts; o->keyword; ++o)
        if (o->val) out.emplace_back(o->keyword, o->val);
    PQconninfoFree(opts);
    return out;
}

namespace {

// Keyword and value arrays as PQconnectdbParams / PQconnectStartParams take them.
struct KeywordArrays {
    explicit KeywordArrays(const Keywords& keywords) {
        for (const auto& [k, v] : keywords) {
            keys.push_back(k.c_str());
            values.push_back(v.c_str());
        }
        keys.push_back(nullptr);
        values.push_back(nullptr);
    }
    std::vector<const char*> keys, values;
};

}  // namespace

bool PgHandle::connect(const Keywords& keywords) {
    close();
    KeywordArrays a(keywords);
    conn_ = {PQconnectdbParams(a.keys.data(), a.values.data(), 0), PQfinish};
    if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) return false;
    finish_connect();
    return true;
}

bool PgHandle::connect_start(const Keywords& keywords) {
    close();
    KeywordArrays a(keywords);
    conn_ = {PQconnectStartParams(a.keys.data(), a.values.data(), 0), PQfinish};
    return conn_ && PQstatus(conn_.get()) != CONNECTION_BAD;
}

PgHandle::PollStatus PgHandle::connect_poll() {
    if (!conn_) return PollStatus::failed;
    switch (PQconnectPoll(conn_.get())) {
        case PGRES_POLLING_READING: return PollStatus::reading;
        case PGRES_POLLING_WRITING: return PollStatus::writing;
        case PGRES_POLLING_OK: finish_connect(); return PollStatus::ok;
        default: return PollStatus::failed;
    }
}

void PgHandle::finish_connect() {
    session_ending_ = false;
    io_failed_ = false;
    nonblocking_ = PQisnonblocking(conn_.get()) == 1;
    PQsetNoticeReceiver(conn_.get(), &PgHandle::on_notice, this);
    if (pg_cancel* c = PQgetCancel(conn_.get()))
        cancel_ = std::shared_ptr<pg_cancel>(c, PQfreeCancel);
    else
        cancel_.reset();
}

void PgHandle::on_notice(void* self, const pg_result* notice) {
    const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0))
        static_cast<PgHandle*>(self)->session_ending_ = true;
}

void PgHandle::close() {
    cancel_.reset();
    // PQfinish sends Terminate and flushes it, with whatever output an abandoned exchange left:
    // in blocking mode that flush could wait for ever on a silent network with full buffers.
    // Nonblocking, it writes what fits and returns. (From blocking mode nothing is pending, so
    // PQsetnonblocking's own flush has nothing to send.)
    if (conn_ && !nonblocking_) PQsetnonblocking(conn_.get(), 1);
    conn_.reset();
    session_ending_ = false;
    io_failed_ = false;
    nonblocking_ = false;
}

bool PgHandle::connection_ok() const { return conn_ && !io_failed_ && PQstatus(conn_.get()) == CONNECTION_OK; }

PgHandle::TxStatus PgHandle::transaction_status() const {
    if (!conn_) return TxStatus::unknown;
    switch (PQtransactionStatus(conn_.get())) {
        case PQTRANS_IDLE: return TxStatus::idle;
        case PQTRANS_ACTIVE: return TxStatus::active;
        case PQTRANS_INTRANS: return TxStatus::in_transaction;
        case PQTRANS_INERROR: return TxStatus::in_error;
        default: return TxStatus::unknown;
    }
}

std::string PgHandle::error_message() const {
    if (!conn_) return "connection is closed";
    std::string m = PQerrorMessage(conn_.get());
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
}

int PgHandle::socket() const { return conn_ ? PQsocket(conn_.get()) : -1; }
int PgHandle::backend_pid() const { return conn_ ? PQbackendPID(conn_.get()) : 0; }
int PgHandle::server_version() const { return conn_ ? PQserverVersion(conn_.get()) : 0; }
bool PgHandle::consume_input() {
    if (!conn_) return false;
    if (PQconsumeInput(conn_.get()) == 1) return true;
    io_failed_ = true;
    return false;
}
bool PgHandle::is_busy() { return conn_ && PQisBusy(conn_.get()) == 1; }

PgHandle::Result PgHandle::run_blocking(const PgRequest& req) {
    PGconn* c = conn_.get();
    if (!c) return Result{};
    switch (req.kind) {
        case PgRequest::Kind::simple_query: return Result(PQexec(c, req.sql));
        case PgRequest::Kind::prepare: return Result(PQprepare(c, req.name, req.sql, 0, nullptr));
        case PgRequest::Kind::describe_prepared: return Result(PQdescribePrepared(c, req.name));
        case PgRequest::Kind::exec_prepared:
            return Result(PQexecPrepared(c, req.name, req.n_params, req.values, req.lengths, req.formats, 0));
        case PgRequest::Kind::exec_params:
            return Result(PQexecParams(c, req.sql, req.n_params, nullptr, req.values, req.lengths, req.formats, 0));
    }
    return Result{};
}

bool PgHandle::set_nonblocking(bool on) {
    if (!conn_) return false;
    if (nonblocking_ == on) return true;
    if (PQsetnonblocking(conn_.get(), on ? 1 : 0) != 0) return false;
    nonblocking_ = on;
    return true;
}

bool PgHandle::send(const PgRequest& req) {
    PGconn* c = conn_.get();
    if (!c) return false;
    switch (req.kind) {
        case PgRequest::Kind::simple_query: return PQsendQuery(c, req.sql) == 1;
        case PgRequest::Kind::prepare: return PQsendPrepare(c, req.name, req.sql, 0, nullptr) == 1;
        case PgRequest::Kind::describe_prepared: return PQsendDescribePrepared(c, req.name) == 1;
        case PgRequest::Kind::exec_prepared:
            return PQsendQueryPrepared(c, req.name, req.n_params, req.values, req.lengths, req.formats, 0) == 1;
        case PgRequest::Kind::exec_params:
            return PQsendQueryParams(c, req.sql, req.n_params, nullptr, req.values, req.lengths, req.formats, 0) == 1;
    }
    return false;
}

int PgHandle::flush() {
    if (!conn_) return -1;
    int r = PQflush(conn_.get());
    if (r < 0) io_failed_ = true;
    return r;
}

bool PgHandle::take_results(Result& last) {
    PGconn* c = conn_.get();
    if (!c) return true;
    while (PQisBusy(c) == 0) {
        PGresult* r = PQgetResult(c);
        if (!r) return true;
        last = Result(r);
        // Where PQexec stops collecting (fe-exec.c, PQexecFinish): the caller must deal with a
        // COPY first, and a lost connection has nothing more to give.
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH || PQstatus(c) == CONNECTION_BAD)
            return true;
    }
    return false;
}

int PgHandle::put_copy_end(const char* error) { return conn_ ? PQputCopyEnd(conn_.get(), error) : -1; }

int PgHandle::put_copy_data(const char* data, int size) { return conn_ ? PQputCopyData(conn_.get(), data, size) : -1; }

bool PgHandle::next_result(Result& out) {
    PGconn* c = conn_.get();
    if (!c) {
        out = Result();
        return true;
    }
    if (PQisBusy(c) != 0) return false;
    PGresult* r = PQgetResult(c);
    out = r ? Result(r) : Result();
    return true;
}

bool PgHandle::enter_pipeline() { return conn_ && PQenterPipelineMode(conn_.get()) == 1; }
bool PgHandle::exit_pipeline() { return conn_ && PQexitPipelineMode(conn_.get()) == 1; }
bool PgHandle::pipeline_sync() { return conn_ && PQpipelineSync(conn_.get()) == 1; }
bool PgHandle::in_pipeline() const { return conn_ && PQpipelineStatus(conn_.get()) != PQ_PIPELINE_OFF; }

int PgHandle::discard_copy_data() {
    if (!conn_) return -2;
    char* buf = nullptr;
    int n = PQgetCopyData(conn_.get(), &buf, 1);
    if (buf) PQfreemem(buf);
    return n > 0 ? 1 : n;
}

void PgHandle::abandon_copy(Result::Status status) {
    PGconn* c = conn_.get();
    if (!c) return;
    if (status == Result::Status::copy_in) {
        PQputCopyEnd(c, "COPY FROM STDIN is not supported by weft's execute()");
    } else if (status == Result::Status::copy_out) {
        char* buf = nullptr;
        while (PQgetCopyData(c, &buf, 0) > 0) PQfreemem(buf);
    }
    while (PGresult* r = PQgetResult(c)) PQclear(r);
}

bool PgHandle::cancel(std::string& error) {
    if (!cancel_) {
        error = "connection is closed";
        return false;
    }
    return cancel(cancel_.get(), error);
}

bool PgHandle::cancel(pg_cancel* obj, std::string& error) {
    char buf[256] = {};
    if (PQcancel(obj, buf, sizeof buf) == 1) return true;
    error = buf;
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    return false;
}

}  // namespace orm::db::postgres
