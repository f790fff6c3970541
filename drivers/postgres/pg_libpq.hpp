// PgHandle: the only class that calls libpq (STYLE item 6). Every method names the libpq call it
// wraps; PGconn, PGresult and PGcancel are owned by unique_ptrs with their libpq deleters. No
// other file includes libpq-fe.h, so the rest of the driver sees plain C++ types.
//
// The async seam: a PgRequest describes one protocol exchange that produces one PGresult.
// Sync mode runs it with run_blocking() (PQexec / PQprepare / PQdescribePrepared /
// PQexecPrepared / PQexecParams). Async mode sends the same request with send() (the PQsend*
// twin) and then drives it with flush() / consume_input() / take_results() while the caller
// waits on socket() with a deadline; connect_start() / connect_poll() do the same for connecting.
// PgHandle itself never waits in those calls and holds no policy (deadlines, cancel, errors):
// PgConnection decides how to wait. What goes into a request and what is done with the result
// (error mapping, statement cache, PgCursor) is shared code that never waits.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pg_conn;
struct pg_result;
struct pg_cancel;

namespace orm::db::postgres {

using Oid = unsigned int;
using Keywords = std::vector<std::pair<std::string, std::string>>;

// One request: what to send. Pointers are borrowed for the duration of the call.
struct PgRequest {
    enum class Kind { simple_query, prepare, describe_prepared, exec_prepared, exec_params };
    Kind kind = Kind::simple_query;
    const char* sql = nullptr;    // simple_query, prepare, exec_params (NUL-terminated)
    const char* name = nullptr;   // prepare, describe_prepared, exec_prepared
    int n_params = 0;             // exec_prepared, exec_params
    const char* const* values = nullptr;
    const int* lengths = nullptr;
    const int* formats = nullptr;
};

class PgHandle {
public:
    // An owned PGresult (may be empty when libpq returned NULL).
    class Result {
    public:
        enum class Status { empty_query, command_ok, tuples_ok, copy_in, copy_out, fatal_error, pipeline_sync,
                            pipeline_aborted, other };
        enum class Field { sqlstate, primary, detail, hint, position, context, severity };

        Result() = default;
        bool has_value() const { return r_ != nullptr; }
        Status status() const;                                  // PQresultStatus
        int rows() const;                                       // PQntuples
        int columns() const;                                    // PQnfields
        std::string_view column_name(int col) const;            // PQfname
        Oid column_type(int col) const;                         // PQftype
        bool is_null(int row, int col) const;                   // PQgetisnull
        std::string_view value(int row, int col) const;         // PQgetvalue + PQgetlength
        std::string_view command_status() const;                // PQcmdStatus
        std::string_view command_tuples() const;                // PQcmdTuples
        int param_count() const;                                // PQnparams
        Oid param_type(int i) const;                            // PQparamtype
        std::string_view error_field(Field f) const;            // PQresultErrorField ("" when absent)
        std::string_view error_message() const;                 // PQresultErrorMessage

    private:
        friend class PgHandle;
        explicit Result(pg_result* r);
        std::unique_ptr<pg_result, void (*)(pg_result*)> r_{nullptr, nullptr};
    };

    enum class TxStatus { idle, active, in_transaction, in_error, unknown };

    PgHandle() = default;
    // Not movable: libpq's notice receiver holds a pointer to this object.
    PgHandle(const PgHandle&) = delete;
    PgHandle& operator=(const PgHandle&) = delete;

    // PQconninfoParse: the keywords a conninfo string (URI or key=value) sets, or nullopt with
    // libpq's error in `error`.
    static std::optional<Keywords> parse_conninfo(const std::string& conninfo, std::string& error);

    // PQconnectdbParams (expand_dbname = 0), then PQsetNoticeReceiver (notices are not printed
    // to stderr; see session_ending()) and PQgetCancel. False on failure; see error_message().
    bool connect(const Keywords& keywords);
    // PQconnectStartParams (expand_dbname = 0): starts a nonblocking connect. False when libpq
    // could not even start (see error_message()); else drive it with connect_poll(), waiting for
    // socket() as told (before the first call: writable). Host name lookup happens in here.
    bool connect_start(const Keywords& keywords);
    enum class PollStatus { reading, writing, ok, failed };
    // PQconnectPoll. On `ok` it sets up what connect() does (notice receiver, PGcancel). The
    // socket may change between calls (libpq tries the next address): re-read socket() each time.
    PollStatus connect_poll();

    // PQsetnonblocking(1) (so the goodbye never waits), then PQfinish and PQfreeCancel (through
    // the unique_ptrs). Idempotent.
    void close();
    bool is_open() const { return conn_ != nullptr; }

    // PQstatus == CONNECTION_OK, and no PQconsumeInput / PQflush has failed since connecting.
    bool connection_ok() const;
    TxStatus transaction_status() const;       // PQtransactionStatus
    std::string error_message() const;         // PQerrorMessage, trailing newline removed
    int socket() const;                        // PQsocket
    int backend_pid() const;                   // PQbackendPID
    int server_version() const;                // PQserverVersion
    bool consume_input();                      // PQconsumeInput (a failure means the connection is lost)
    bool is_busy();                            // PQisBusy (also parses input already read)
    // True once the server sent a FATAL or PANIC error outside a query (libpq hands those to the
    // notice receiver): it is about to close the session, even if the EOF has not arrived yet.
    bool session_ending() const { return session_ending_; }

    // The blocking twin of each PQsend*: PQexec, PQprepare (paramTypes NULL), PQdescribePrepared,
    // PQexecPrepared / PQexecParams (paramTypes NULL, text results).
    Result run_blocking(const PgRequest& req);

    // ---- nonblocking exchanges (async mode) ----
    // PQsetnonblocking: PQsend* / PQflush / PQputCopyEnd never block in nonblocking mode. Only
    // calls libpq when the mode changes. False on failure (the connection is bad).
    bool set_nonblocking(bool on);
    // The PQsend* twin of run_blocking(): PQsendQuery / PQsendPrepare / PQsendDescribePrepared /
    // PQsendQueryPrepared / PQsendQueryParams. False when nothing could be queued (error_message()).
    bool send(const PgRequest& req);
    // PQflush: 0 when everything is sent, 1 when output remains (wait until socket() is readable
    // or writable; when readable, consume_input() before flushing again, as libpq asks), -1 on failure.
    int flush();
    // PQisBusy / PQgetResult while they do not block, keeping in `last` the result PQexec would
    // return (the last one; it stops early at a COPY result or a lost connection, as PQexec does).
    // True once the exchange is over (PQgetResult returned NULL); false when more input is needed.
    bool take_results(Result& last);

    // COPY without waiting (async mode), for abandoning one: PQputCopyEnd with an error message
    // (1 queued, 0 no room yet, -1 failed), and PQgetCopyData(async) discarding rows (1 one row
    // discarded, 0 needs more input, -1 the copy is over, -2 failed).
    int put_copy_end(const char* error);
    // COPY FROM STDIN, nonblocking: PQputCopyData (1 queued, 0 no room yet: wait writable and
    // flush, -1 failed). PQputCopyEnd(nullptr) through put_copy_end(nullptr) ends it well.
    int put_copy_data(const char* data, int size);
    // One PQgetResult when it will not block: false when more input is needed (PQisBusy);
    // else true with the next result in `out` (empty once the exchange is over).
    bool next_result(Result& out);
    int discard_copy_data();

    // ---- pipeline mode (libpq 14+; shared connections, see pg_pipeline.cpp) ----
    // PQenterPipelineMode / PQexitPipelineMode (both only when no result is pending; false
    // otherwise), PQpipelineSync (queues a Sync: ends the segment an error may abort; false when
    // it could not be queued), PQpipelineStatus != PQ_PIPELINE_OFF.
    bool enter_pipeline();
    bool exit_pipeline();
    bool pipeline_sync();
    bool in_pipeline() const;

    // Leaves COPY state after an unsupported COPY, blocking: PQputCopyEnd with an error /
    // PQgetCopyData until done, then PQgetResult until NULL. Needs blocking mode.
    void abandon_copy(Result::Status status);

    // PQcancel on the PGcancel object taken at connect. Thread-safe with respect to queries
    // running on this handle (not with respect to close(): the caller serializes those).
    bool cancel(std::string& error);
    bool can_cancel() const { return cancel_ != nullptr; }
    // The PGcancel object itself, shared: a cancel request running on another thread keeps it
    // alive after the handle closed. PQcancel on it through cancel(obj, error).
    std::shared_ptr<pg_cancel> cancel_object() const { return cancel_; }
    static bool cancel(pg_cancel* obj, std::string& error);

private:
    static void on_notice(void* self, const pg_result* notice);

    void finish_connect();

    bool session_ending_ = false;
    bool nonblocking_ = false;  // PQisnonblocking, mirrored
    bool io_failed_ = false;    // a PQconsumeInput or PQflush failed: the session is unusable
    std::unique_ptr<pg_conn, void (*)(pg_conn*)> conn_{nullptr, nullptr};
    std::shared_ptr<pg_cancel> cancel_;
};

}  // namespace orm::db::postgres
