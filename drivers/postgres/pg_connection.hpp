// PgConnection: a PostgreSQL session over PgHandle: the prepared statement cache, parameter
// encoding, error mapping, transactions, cancel and health checks.
//
// Sync and async share everything here except how round_trip() (and connecting, and leaving an
// unsupported COPY) wait for the server. Each public operation reads orm::is_async() once at
// its start (begin_operation()) and every round trip of that operation runs in that mode:
// sync mode without a statement timeout calls PgHandle::run_blocking(); async mode, and sync mode
// with one, send the same PgRequest with PQsend*, then flush and collect the result while waiting
// on the socket under a deadline (orm::wait_io in async mode, which drives the loop when called
// outside a fiber; poll(2) in sync mode). check(), PgCursor, PgParams and the cache logic take
// finished results and never wait, so they serve both modes unchanged.
//
// Deadlines: connecting is bounded by connect_timeout (async mode: one deadline for the whole
// connect; sync mode: libpq's, per host). The driver's own exchanges (configuring the session,
// the health-check ping, BEGIN, ROLLBACK, SET statement_timeout, DEALLOCATE; see ControlExchange)
// and cancel() wait at most connect_timeout each (10 s when connect_timeout=0), in both modes
// and with or without statement_timeout: then the connection is closed. User statements are
// bounded by the statement timeout (the URL's statement_timeout, or set_statement_timeout(); 0 =
// none: then only TCP keepalives and tcp_user_timeout end one on a dead network), also set on
// the server. When the
// client-side deadline passes first, a cancel request is started on a canceller thread of its
// own (at most four; PQcancel has no timeout) and the server's answer awaited for cancel_grace
// more: a 57014 answer is an orm::TimeoutError and the connection stays usable (once the cancel
// request is done, so it cannot hit the next statement); silence abandons the statement, closes
// the connection (is_broken(), so a pool discards it) and throws orm::TimeoutError. A lost server (terminated backend, shutdown) wakes the wait as readable,
// PQconsumeInput fails and the operation throws orm::ConnectionError.
//
// transaction_pooling=on (URL): a pooler in transaction mode (PgBouncer pool_mode=transaction)
// may give each of our transactions, and each statement outside one, another server session.
// Then nothing may rely on session state: statements are unnamed (Parse/Bind/Execute in one
// exchange, no statement cache), statement_timeout is enforced by the client's deadline and a
// cancel request alone (no SET on a server session that other clients get next), and LISTEN,
// which would listen on a session we do not keep, is refused with orm::NotSupportedError. The
// SETs of configure_session stay: PgBouncer tracks TimeZone, DateStyle and
// standard_conforming_strings per client, and the others only restate PostgreSQL's defaults.
//
// What still blocks the thread in async mode: a host name lookup for the second and later hosts
// of a multi-host target (libpq does it inside PQconnectPoll; the first lookup runs on a worker
// thread), and the mutex shared by cancel() and close() while another thread is inside PQcancel.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/bridge/deadline.hpp"
#include "drivers/bridge/wait.hpp"
#include "drivers/connection.hpp"
#include "drivers/bridge/before_poll.hpp"
#include "drivers/pipeline.hpp"
#include "drivers/postgres/pg_libpq.hpp"
#include "drivers/statement_cache.hpp"

namespace orm::db::postgres {

class PgParams;

class PgConnection final : public Connection, public Multiplexed {
public:
    // Connects and configures the session. Throws orm::ConnectionError.
    PgConnection(const Backend& backend, const ConnectionConfig& cfg);
    ~PgConnection() override;

    const Backend& backend() const override { return backend_; }
    const ConnectionConfig& config() const override { return cfg_; }

    Result execute(std::string_view sql, std::span<const Value> params) override;
    using Connection::execute;
    void execute_script(std::string_view sql) override;
    std::uint64_t copy_in(const CopyIn& load) override;  // pg_copy.cpp
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
    void abandon_after_fork() noexcept override;

    StatementCacheStats statement_cache_stats() const override { return cache_.stats(); }
    void clear_statement_cache() override;

    // The server process serving this session (pg_backend_pid()), 0 when closed.
    int backend_pid() const { return handle_.backend_pid(); }

    // ---- shared by fibers (pg_pipeline.cpp; automatic pipelining, see the README) ----
    // Pipelined: one statement starting with SELECT, INSERT, UPDATE, DELETE, WITH, VALUES or
    // TABLE that names none of FOR UPDATE / FOR NO KEY UPDATE / FOR SHARE / FOR KEY SHARE,
    // set_config, advisory locks, currval / lastval / setval, SELECT ... INTO, TEMP / TEMPORARY.
    // Reads among them (SELECT, WITH, VALUES, TABLE naming no INSERT / UPDATE / DELETE / MERGE
    // and calling only PostgreSQL built-ins of a fixed list) that fibers queue in the same loop
    // round share one Sync; the other statements get one each (see pg_pipeline.cpp).
    bool shareable(std::string_view sql) const override;
    Result execute_shared(std::string_view sql, std::span<const Value> params) override;
    void end_sharing() noexcept override;
    // Statements (and Syncs sent on their own) queued on the shared connection and not yet
    // answered (tests).
    std::size_t in_flight() const { return segments_.size(); }

private:
    struct Prepared {
        std::string name;      // "weft_<n>", never reused on this connection
        std::vector<Oid> param_types;  // as the server inferred them (PQdescribePrepared)
        bool gone = false;     // the server no longer has it: nothing to DEALLOCATE
        bool described = true; // param_types known (false while its Parse is in a pipeline)
        // shareable()'s verdict on its SQL: -1 not asked yet, 0 exclusive, 1 pipelined with a Sync
        // of its own, 2 a read that may share its Sync with others queued in the same loop round
        signed char shareable = -1;
    };

    // A PQcancel running on a canceller thread; `done` is set when it returns.
    struct CancelRequest;

    // One nonblocking exchange in progress: its deadline and what to say when it passes.
    struct Exchange {
        Deadline deadline = no_deadline;
        std::chrono::milliseconds limit{0};   // what the deadline was derived from (for messages)
        const char* limit_name = "";          // "statement_timeout" / "connect_timeout"
        const char* what = nullptr;           // the driver's own exchange ("the health-check ping"), if one
        std::string_view sql;
        bool may_cancel = true;               // at the deadline: cancel and wait cancel_grace more
        bool cancelled = false;               // the deadline passed and a cancel was requested
        bool cancel_sent = false;             // a cancel request was started on a canceller thread
        std::string cancel_error;
        std::shared_ptr<CancelRequest> cancel;  // the request in flight, shared with its thread
    };

    // How long the server has to answer a cancel sent at the client-side deadline before the
    // statement is abandoned and the connection closed.
    static constexpr std::chrono::milliseconds cancel_grace{2000};
    // Bounds the driver's own exchanges when connect_timeout=0 (no limit for connecting).
    static constexpr std::chrono::milliseconds default_control_timeout{10'000};

    // The driver's own exchanges, not user statements (configuring the session, the health-check
    // ping, BEGIN, ROLLBACK, SET statement_timeout, DEALLOCATE): while one lives, every round trip
    // waits at most control_timeout() (connect_timeout), with or without statement_timeout; at
    // that deadline nothing is cancelled, the connection is closed and orm::TimeoutError names
    // `what`. Nests: an inner one keeps the outer deadline.
    class ControlExchange {
    public:
        ControlExchange(PgConnection& c, const char* what);
        ~ControlExchange();
        ControlExchange(const ControlExchange&) = delete;
        ControlExchange& operator=(const ControlExchange&) = delete;

    private:
        PgConnection& c_;
        bool outer_;
    };
    std::chrono::milliseconds control_timeout() const;

    // One public operation: marks the connection in use (a second fiber or thread calling in
    // meanwhile gets orm::InterfaceError instead of stealing the first one's results) and reads
    // orm::is_async() for it (set_async takes effect here).
    class Operation {
    public:
        explicit Operation(PgConnection& c);
        ~Operation() { c_.in_use_.store(false, std::memory_order_release); }
        Operation(const Operation&) = delete;
        Operation& operator=(const Operation&) = delete;

    private:
        PgConnection& c_;
    };
    // The only member that waits for the server in a query (see the file comment); `sql` is
    // for messages.
    PgHandle::Result round_trip(const PgRequest& req, std::string_view sql);
    PgHandle::Result round_trip_async(const PgRequest& req, std::string_view sql);
    Exchange new_exchange(std::string_view sql) const;
    // Waits until the socket is ready as asked, under x's deadline; at the deadline, cancels
    // on the server and waits cancel_grace more; after that throws orm::TimeoutError.
    Io wait_socket(Io interest, Exchange& x);
    void cancel_on_server(Exchange& x);
    // Starts PQcancel on a canceller thread of its own; null (and why) when none is free.
    static std::shared_ptr<CancelRequest> start_cancel(std::shared_ptr<pg_cancel> obj, std::string& why);
    // After the answer to a cancelled statement: waits (until the exchange's deadline) for the
    // cancel request to be done, so that it cannot land on the next statement; a connection whose
    // cancel is still out is marked broken instead.
    void settle_cancel(Exchange& x);

    // Sends all pending output (reading input when the server talks meanwhile); false if lost.
    bool flush_output(Exchange& x);
    [[noreturn]] void throw_cancelled(const Exchange& x, const PgHandle::Result& r) const;
    // Connecting: blocking (PQconnectdbParams) or nonblocking (PQconnectPoll under connect_timeout).
    void connect_async(const Keywords& keywords, const std::vector<std::string>& secrets);
    // After an unsupported COPY: back to the ready state, in this operation's mode.
    void leave_copy(PgHandle::Result::Status status);
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
    // Under transaction_pooling: refuses SQL that needs a session of its own (LISTEN).
    void refuse_session_state(std::string_view sql) const;
    void mark_broken();
    void configure_session();

    // One statement in a pipeline: the steps queued before its Sync, and what came back.
    struct Segment;
    // The statements queued on the shared connection, oldest first, and spare segments kept for
    // the next statements (pg_pipeline.cpp, which frees them).
    struct SegmentQueue {
        std::deque<Segment*> queued;
        std::vector<Segment*> spare;
        SegmentQueue() = default;
        SegmentQueue(const SegmentQueue&) = delete;
        SegmentQueue& operator=(const SegmentQueue&) = delete;
        ~SegmentQueue();
        bool empty() const noexcept { return queued.empty(); }
        std::size_t size() const noexcept { return queued.size(); }
    };
    // A segment (a spare one when there is one), held by its caller and queued.
    Segment* new_segment(bool held);
    // The caller no longer needs `s` / the queue let go of it: spare once neither holds it.
    void release_segment(Segment* s) noexcept;
    void unqueue_segment(Segment* s) noexcept;
    // `alone`: with a Sync of its own even when it is a read (it was skipped once already).
    Segment* queue_statement(std::string_view sql, const PgParams& params, bool alone);
    // Queues the statement's Parse/Describe (new SQL; `p` null), Bind/Execute and, unless
    // `defer`, a Sync for `s` (and for the reads queued before it without one).
    void queue_steps(Segment& s, Prepared* p, std::string_view sql, const PgParams& params, bool defer);
    // Queues the Sync owed to the reads queued without one, as an item of its own. False: libpq
    // could not take it (the connection is to be marked broken).
    bool send_owed_sync() noexcept;
    // Sends the owed Sync just before this thread's loop polls, so that every fiber that runs
    // before then adds its read to the same group.
    struct SyncLater final : orm::BeforePoll {
        explicit SyncLater(PgConnection& c) : conn(c) {}
        void run() noexcept override;
        PgConnection& conn;
    };
    void queue_deallocations();
    // Waits until `s` is answered, reading the socket for every statement queued before it
    // when nobody else does. Rethrows what failed the connection.
    void await_segment(Segment& s);
    void read_until_done(Segment& s);
    // Hands results that can be read without waiting to their segments; false: needs input.
    bool pump();
    void finish_segment(Segment& s);
    void hand_over_reading();
    // The connection failed: every queued segment gets `error` (and its fiber is woken).
    void fail_segments(std::exception_ptr error);
    void send_or_fail(const PgRequest& req, std::string_view sql);
    [[noreturn]] void pipeline_failed(std::string_view sql);

    const Backend& backend_;
    ConnectionConfig cfg_;
    PgHandle handle_;
    bool broken_ = false;
    bool closed_ = false;
    bool async_ = false;                        // the mode of the operation in progress
    bool transaction_pooling_ = false;          // URL transaction_pooling=on (see the file comment)
    std::atomic<bool> in_use_{false};           // an Operation is in progress
    Deadline control_deadline_ = no_deadline;   // bounds round trips of a ControlExchange (and connecting)
    const char* control_what_ = nullptr;        // what that exchange is, for messages
    // Names the connected socket to the fiber loop (orm::wait_io with an owner), which then keeps
    // its epoll registration between round trips. Fresh per connection: a closed socket's fd
    // number may be reused by the next one.
    std::uint64_t io_owner_ = orm::new_io_owner();
    std::uint64_t idle_mark_ = 0;  // orm::io_poll_mark() when the last async exchange ended
    std::mutex cancel_mu_;                      // serializes cancel() with closing the handle
    std::vector<std::string> pending_deallocate_;  // evicted statements, DEALLOCATEd when idle
    std::uint64_t next_statement_ = 0;
    StatementCache<Prepared> cache_;            // after pending_deallocate_: its evict callback uses it
    SegmentQueue segments_;                     // shared mode: queued statements, oldest first
    bool reading_ = false;                      // a fiber reads the socket for the segments
    bool failing_ = false;                      // fail_segments() runs
    bool sync_owed_ = false;                    // reads were queued after the last Sync
    std::size_t group_bytes_ = 0;               // about what they take on the wire
    SyncLater sync_later_{*this};               // scheduled while sync_owed_
};

}  // namespace orm::db::postgres
