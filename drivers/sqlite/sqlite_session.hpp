// Session: the one class that calls the sqlite3 functions which do I/O or change a connection's
// state (open, prepare, bind, step, exec, interrupt, close). SqliteConnection and SqliteCursor go
// through it. A Session is used by one thread at a time, not always the same one: in async mode
// short reads run on the loop's thread (step_inline, under a time budget) and everything else on
// whichever worker thread orm::run_in_thread picks, the hand-over between them ordered by the
// runtime's wake-ups. Only interrupt() may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "drivers/connection.hpp"
#include "drivers/hints.hpp"
#include "drivers/sqlite/sqlite_handles.hpp"
#include "drivers/sqlite/sqlite_options.hpp"
#include "drivers/statement_cache.hpp"
#include "drivers/value.hpp"

namespace orm::db::sqlite {

struct Statement final : RefCounted {
    StmtPtr handle;
    std::string sql;
    bool readonly = false;  // sqlite3_stmt_readonly, read once at prepare
    int parameters = 0;     // sqlite3_bind_parameter_count, read once at prepare
    // Held by a cursor that has not been destroyed: executing the same SQL meanwhile prepares a
    // separate statement instead of resetting this one under the cursor's feet.
    bool busy = false;
    // Text, blob, timestamp or date parameters are bound: release() clears the bindings so that
    // copies are freed and no pointer into a caller's strings stays behind. Integer, real and
    // NULL parameters need no clearing, since every execution rebinds every parameter.
    bool holds_bound_data = false;
    // Time spent inside sqlite3_step for the current execution (the statement timeout's budget).
    std::chrono::nanoseconds spent{0};
    // A query (SELECT, WITH or VALUES that writes nothing): async mode may try it on the loop's
    // thread first, since stopping it part-way there has no effect to undo (step_inline).
    bool inline_ok = false;
    bool sets_busy_timeout = false;  // a PRAGMA busy_timeout (see Session::reread_busy_timeout)
    // Executions left that skip the loop-thread attempt because the last one ran out of time.
    std::uint8_t skip_inline = 0;
};

// How async mode placed this connection's statements (SqliteConnection::offload_stats).
struct OffloadStats {
    std::uint64_t inline_runs = 0;      // queries that ran to their end (or first batch) on the loop thread
    std::uint64_t moved_by_budget = 0;  // queries stopped at the loop thread's time budget, re-run on a worker
    std::uint64_t moved_by_lock = 0;    // queries that met a lock on the loop thread, re-run on a worker
    std::uint64_t worker_runs = 0;      // operations that ran on a worker (moved ones included)
    std::uint64_t longest_inline_us = 0;  // the longest time a statement held the loop thread
};

class Session final : public RefCounted {
public:
    using Clock = std::chrono::steady_clock;

    // Opens `path` (a file or ":memory:") and applies the options. Throws orm::ConnectionError.
    Session(const std::string& path, const SqliteOptions& options, std::size_t cache_capacity);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // A prepared statement for `sql` (from the cache when possible), marked busy; give it back
    // with release(). Throws orm::ProgrammingError for empty SQL or more than one statement.
    Ref<Statement> acquire(std::string_view sql);
    // Checks the parameter count, then binds. `copy` false binds text and blobs without copying
    // them; only allowed when the statement runs to completion before `params` goes away.
    void bind(Statement& st, std::span<const Value> params, bool copy);
    // A cached statement for `sql` that no cursor holds, marked busy (give it back with
    // release()); null when there is none. Never prepares (which may read the schema from disk).
    // On null, `cached_is_busy` says whether a cursor holds the cached one; acquire_uncached()
    // then does the rest of what acquire() would have done (the cache counts one lookup).
    Ref<Statement> find_idle(std::string_view sql, bool& cached_is_busy);
    WEFT_NOINLINE Ref<Statement> acquire_uncached(std::string_view sql, bool cached_is_busy);
    // One sqlite3_step under the statement timeout: true for a row, false when done. On error the
    // statement is reset and the mapped orm::DatabaseError is thrown.
    bool step(Statement& st);

    // The loop thread's attempt at a query (async mode), inside an Inline scope: `moved` when the
    // scope's time budget ran out or a lock would have to be waited for (no busy wait happens
    // here; the busy handler refuses). The statement is then reset with its bindings kept, having
    // had no effect (it only reads), and the caller runs it again on a worker. Other errors are
    // thrown as by step().
    enum class Step : std::uint8_t { done, row, moved };
    Step step_inline(Statement& st);
    // Arms the budget and the refusing busy handler for step_inline() calls; restores the
    // busy_timeout handler when it ends.
    class Inline {
    public:
        Inline(Session& s, std::chrono::microseconds budget) noexcept;
        ~Inline();
        Inline(const Inline&) = delete;
        Inline& operator=(const Inline&) = delete;

    private:
        Session& s_;
    };
    OffloadStats& offload_stats() noexcept { return offload_stats_; }
    // Reset + clear bindings; the statement may be handed out again.
    void release(Statement& st) noexcept;
    // Runs ';'-separated statements with sqlite3_exec.
    void exec(std::string_view script);

    bool in_transaction() const;
    std::int64_t last_insert_rowid() const;
    std::int64_t changes() const;
    std::int64_t total_changes() const;

    void set_statement_timeout(std::chrono::milliseconds timeout);
    std::chrono::milliseconds statement_timeout() const noexcept { return timeout_; }
    // sqlite3_interrupt; safe from any thread, also while close() runs.
    void interrupt() noexcept;
    void close() noexcept;
    // After fork() in the child: forgets the handle without closing it (closing could checkpoint
    // and remove the parent's WAL); the sqlite3 object is leaked on purpose.
    void abandon() noexcept;
    bool is_closed() const noexcept { return closed_; }
    bool is_broken() const noexcept { return broken_ || closed_; }

    StatementCacheStats cache_stats() const { return cache_.stats(); }
    void clear_cache() { cache_.clear(); }

    // The raw handle, for users who need the C API (custom functions, backups); nullptr once closed.
    sqlite3* native_handle() const noexcept { return db_.get(); }

private:
    Ref<Statement> prepare(std::string_view sql, bool persistent);
    void check_single_statement(std::string_view rest, std::string_view sql);
    void ensure_open() const {
        if (closed_) [[unlikely]]
            throw_closed();
    }
    [[noreturn]] void throw_closed() const;
    [[noreturn]] void fail(int code, std::string message, std::string_view doing, std::string_view sql);
    // What step() and step_inline() share: sqlite3_step under the statement timeout (its result
    // code), and the error path (resets the statement, throws the mapped error).
    int timed_step(Statement& st);
    [[noreturn]] void step_failed(Statement& st, int rc);
    [[noreturn]] void bind_failed(int rc, Statement& st, int n, ValueKind kind);
    static int on_progress(void* self) noexcept;
    static int refuse_busy(void* self, int count) noexcept;
    // A statement that sets busy_timeout by PRAGMA ran: take its value as the one to restore.
    void reread_busy_timeout() noexcept;
    struct Armed;

    DbPtr db_;
    std::string path_;
    std::chrono::milliseconds busy_timeout_;
    // Guards db_ between interrupt() (any thread) and close().
    mutable std::mutex handle_mu_;
    // Declared after db_, so cached statements are finalized before the handle is closed.
    StatementCache<Ref<Statement>> cache_;
    std::size_t cache_capacity_;
    std::chrono::milliseconds timeout_{0};
    // The progress handler stops the statement at deadline_ (the earlier of the statement
    // timeout's and the loop thread's budget); max() when neither applies.
    Clock::time_point deadline_ = Clock::time_point::max();
    Clock::time_point timeout_deadline_ = Clock::time_point::max();
    Clock::time_point budget_end_ = Clock::time_point::max();  // set inside an Inline scope
    Clock::time_point inline_start_;
    bool inline_ = false;
    bool budget_hit_ = false;
    bool busy_refused_ = false;
    OffloadStats offload_stats_;
    bool timed_out_ = false;
    bool closed_ = false;
    bool broken_ = false;
};

}  // namespace orm::db::sqlite
