// Session: every sqlite3 call that does I/O or changes connection state (see sqlite_session.hpp).
#include "drivers/sqlite/sqlite_session.hpp"
#include "drivers/utf8.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "drivers/errors.hpp"
#include "drivers/hints.hpp"
#include "drivers/sqlite/sqlite_errors.hpp"
#include "drivers/sqlite/sqlite_regexp.hpp"
#include "drivers/sqlite/sqlite_statistics.hpp"
#include "drivers/sqlite/sqlite_vfs.hpp"

namespace orm::db::sqlite {

namespace {

// VM instructions between two looks at the clock: a few microseconds of work, so a timeout
// fires promptly while the clock reads cost well under 1% of the statement.
constexpr int progress_interval = 1000;

int open_flags(OpenMode mode) {
    // NOMUTEX: a connection is used by one thread at a time (the pool may hand it to another
    // thread later, which is fine); SQLite's own per-connection mutex would only cost time.
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE | SQLITE_OPEN_EXRESCODE;
    switch (mode) {
    case OpenMode::rwc: return flags | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    case OpenMode::rw: return flags | SQLITE_OPEN_READWRITE;
    case OpenMode::ro: return flags | SQLITE_OPEN_READONLY;
    }
    return flags;
}

std::string_view mode_name(OpenMode mode) {
    switch (mode) {
    case OpenMode::rwc: return "rwc";
    case OpenMode::rw: return "rw";
    case OpenMode::ro: return "ro";
    }
    return "?";
}

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool contains_nocase(std::string_view s, std::string_view word) noexcept {
    if (word.size() > s.size()) return false;
    for (std::size_t i = 0; i + word.size() <= s.size(); ++i) {
        std::size_t k = 0;
        while (k < word.size() && lower(s[i + k]) == word[k]) ++k;
        if (k == word.size()) return true;
    }
    return false;
}

// The first keyword of `sql` (comments are not skipped: they only cost the loop-thread attempt).
std::string_view first_word(std::string_view sql) noexcept {
    std::size_t i = 0;
    while (i < sql.size() && (sql[i] == ' ' || sql[i] == '\n' || sql[i] == '\t' || sql[i] == '\r' || sql[i] == '('))
        ++i;
    std::size_t j = i;
    while (j < sql.size() && ((sql[j] >= 'a' && sql[j] <= 'z') || (sql[j] >= 'A' && sql[j] <= 'Z'))) ++j;
    return sql.substr(i, j - i);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

// A query that may try the loop thread first in async mode: it writes nothing (so stopping it
// part-way undoes nothing; sqlite3_stmt_readonly is also true of BEGIN and COMMIT, hence the
// keyword) and does not end or start a transaction.
bool may_run_inline(std::string_view sql, bool readonly) noexcept {
    if (!readonly) return false;
    std::string_view w = first_word(sql);
    return iequals(w, "select") || iequals(w, "with") || iequals(w, "values");
}

bool only_separators(std::string_view s) {
    for (char c : s)
        if (c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != ';' && c != '\f' && c != '\v') return false;
    return true;
}

}  // namespace

Session::Session(const std::string& path, const SqliteOptions& o, std::size_t cache_capacity)
    : path_(path), busy_timeout_(o.busy_timeout), cache_(cache_capacity), cache_capacity_(cache_capacity) {
    sqlite3* raw = nullptr;
    // The default VFS, except that a worker's CPU slot is given up while SQLite sleeps (sqlite_vfs.hpp).
    int rc = sqlite3_open_v2(path.c_str(), &raw, open_flags(o.mode), slot_aware_vfs());
    db_.reset(raw);
    auto open_error = [&](int code, std::string_view message) {
        std::string text = fmt::format("cannot open SQLite database '{}' (mode={}): {} [{}]", path, mode_name(o.mode),
                                       message, result_code_name(code));
        db_.reset();
        closed_ = true;
        orm::throw_database_error("08001", text);  // sqlclient_unable_to_establish_sqlconnection
    };
    if (rc != SQLITE_OK) open_error(rc, raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));

    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, static_cast<int>(std::min<std::int64_t>(o.busy_timeout.count(), INT_MAX)));
    // Always installed: it costs a call per progress_interval VM instructions, and returns at
    // once unless a statement timeout or the loop thread's budget is armed.
    sqlite3_progress_handler(raw, progress_interval, &Session::on_progress, this);
    register_regexp(raw);  // REGEXP and the ORM's regex lookups (sqlite_regexp.cpp)
    register_statistics(raw);  // STDDEV_POP, VAR_SAMP, ... for StdDev / Variance (sqlite_statistics.cpp)

    std::string journal = o.journal_mode;
    if (journal.empty() && o.mode != OpenMode::ro) journal = is_memory_target(path) ? "MEMORY" : "WAL";
    std::string setup = fmt::format("PRAGMA foreign_keys = {};", o.foreign_keys ? "ON" : "OFF");
    if (!journal.empty()) setup += fmt::format("PRAGMA journal_mode = {};", journal);
    if (!o.synchronous.empty()) setup += fmt::format("PRAGMA synchronous = {};", o.synchronous);
    // The journal_mode pragma reads the file header, so a file that is not a database fails here.
    char* err = nullptr;
    rc = sqlite3_exec(raw, setup.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string message = err ? err : sqlite3_errmsg(raw);
        sqlite3_free(err);
        open_error(rc, message);
    }
}

Session::~Session() { close(); }

void Session::throw_closed() const {
    throw InterfaceError(fmt::format("the SQLite connection to '{}' is closed", path_));
}

void Session::fail(int code, std::string message, std::string_view doing, std::string_view sql) {
    switch (code & 0xff) {
    case SQLITE_INTERRUPT:
        message += timed_out_ ? fmt::format(": canceling statement due to statement timeout ({}ms)", timeout_.count())
                              : std::string(": canceling statement due to user request (Connection::cancel)");
        break;
    case SQLITE_BUSY:
        message += fmt::format(" (gave up after busy_timeout={}ms)", busy_timeout_.count());
        break;
    default: break;
    }
    if (is_fatal(code)) broken_ = true;
    throw_error(code, message, doing, sql);
}

Ref<Statement> Session::prepare(std::string_view sql, bool persistent) {
    if (sql.size() >= static_cast<std::size_t>(INT_MAX))
        fail(SQLITE_TOOBIG, "SQL text too long", "preparing", sql);
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    timed_out_ = false;
    int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                persistent ? SQLITE_PREPARE_PERSISTENT : 0, &raw, &tail);
    auto st = make_ref<Statement>();
    st->handle.reset(raw);
    if (rc != SQLITE_OK) fail(rc, sqlite3_errmsg(db_.get()), "preparing", sql);
    if (!raw) throw ProgrammingError(fmt::format("empty statement: the SQL text holds no statement to run: '{}'",
                                                 shorten_sql(sql)));
    if (tail && tail < sql.data() + sql.size())
        check_single_statement(sql.substr(static_cast<std::size_t>(tail - sql.data())), sql);
    st->sql = std::string(sql);
    st->readonly = sqlite3_stmt_readonly(raw) != 0;
    st->inline_ok = may_run_inline(sql, st->readonly);
    st->sets_busy_timeout = contains_nocase(sql, "busy_timeout");
    st->parameters = sqlite3_bind_parameter_count(raw);
    return st;
}

void Session::check_single_statement(std::string_view rest, std::string_view sql) {
    if (only_separators(rest)) return;
    if (rest.front() == '\0')
        throw ProgrammingError(fmt::format("the SQL text contains a NUL byte at offset {}: {}",
                                           sql.size() - rest.size(), shorten_sql(sql)));
    // Only comments may follow; anything that prepares (or fails to) is a second statement.
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), rest.data(), static_cast<int>(rest.size()), 0, &raw, nullptr);
    StmtPtr second(raw);
    if (rc != SQLITE_OK || second)
        throw ProgrammingError(fmt::format("execute() runs a single statement, but the SQL text holds more "
                                           "(use execute_script for several): {}",
                                           shorten_sql(sql)));
}

WEFT_HOT Ref<Statement> Session::acquire(std::string_view sql) {
    ensure_open();
    if (auto* hit = cache_.find(sql); hit && !(*hit)->busy) [[likely]] {
        (*hit)->busy = true;
        (*hit)->spent = {};
        return *hit;
    } else {
        return acquire_uncached(sql, hit != nullptr);
    }
}

Ref<Statement> Session::find_idle(std::string_view sql, bool& cached_is_busy) {
    ensure_open();
    auto* hit = cache_.find(sql);
    cached_is_busy = hit != nullptr;
    if (!hit || (*hit)->busy) return {};
    (*hit)->busy = true;
    (*hit)->spent = {};
    return *hit;
}

// acquire() when the cache has no idle statement for `sql`: prepares one (and caches it unless a
// cached one is busy, i.e. held by a live cursor).
Ref<Statement> Session::acquire_uncached(std::string_view sql, bool cached_is_busy) {
    ensure_open();
    Ref<Statement> st;
    if (cached_is_busy) {
        st = prepare(sql, false);  // the cached one is held by a live cursor
    } else {
        st = prepare(sql, cache_capacity_ > 0);
        if (cache_capacity_ > 0) cache_.insert(sql, st);
    }
    st->busy = true;
    st->spent = {};
    return st;
}

WEFT_HOT void Session::bind(Statement& st, std::span<const Value> params, bool copy) {
    sqlite3_stmt* s = st.handle.get();
    const int expected = st.parameters;
    if (static_cast<std::size_t>(expected) != params.size())
        throw ProgrammingError(fmt::format("statement expects {} parameter{}, got {}: {}", expected,
                                           expected == 1 ? "" : "s", params.size(), shorten_sql(st.sql)));
    auto text_mode = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;
    for (std::size_t i = 0; i < params.size(); ++i) {
        const int n = static_cast<int>(i + 1);
        const auto& storage = params[i].storage();
        if (const auto* key = std::get_if<std::int64_t>(&storage)) {  // the common case: a key
            if (int rc = sqlite3_bind_int64(s, n, *key); rc != SQLITE_OK) [[unlikely]]
                bind_failed(rc, st, n, params[i].kind());
            continue;
        }
        switch (params[i].kind()) {
            case ValueKind::null:
            case ValueKind::boolean:
            case ValueKind::int32:
            case ValueKind::int64:
            case ValueKind::float64: break;
            default: st.holds_bound_data = true;
        }
        int rc = std::visit(
            [&](const auto& v) -> int {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::monostate>) {
                    return sqlite3_bind_null(s, n);
                } else if constexpr (std::is_same_v<T, bool>) {
                    return sqlite3_bind_int(s, n, v ? 1 : 0);
                } else if constexpr (std::is_same_v<T, std::int32_t>) {
                    return sqlite3_bind_int(s, n, v);
                } else if constexpr (std::is_same_v<T, std::int64_t>) {
                    return sqlite3_bind_int64(s, n, v);
                } else if constexpr (std::is_same_v<T, double>) {
                    // SQLite turns a bound NaN into NULL; refusing is better than silently storing NULL.
                    if (std::isnan(v)) {
                        sqlite3_clear_bindings(s);
                        throw DataError(fmt::format("cannot bind NaN to parameter {}: SQLite would store it as "
                                                    "NULL: {}",
                                                    n, shorten_sql(st.sql)));
                    }
                    return sqlite3_bind_double(s, n, v);
                } else if constexpr (std::is_same_v<T, std::string>) {
                    // Explicit length: NUL bytes and any UTF-8 survive; what is not UTF-8 is
                    // refused as PostgreSQL refuses it.
                    if (invalid_utf8_offset(v) != std::string_view::npos) {
                        sqlite3_clear_bindings(s);
                        check_utf8_param(v, std::to_string(n));
                    }
                    return sqlite3_bind_text64(s, n, v.data(), v.size(), text_mode, SQLITE_UTF8);
                } else if constexpr (std::is_same_v<T, Bytes>) {
                    // A null data pointer would bind NULL, and an empty vector may have one.
                    if (v.empty()) return sqlite3_bind_zeroblob(s, n, 0);
                    return sqlite3_bind_blob64(s, n, v.data(), v.size(), text_mode);
                } else if constexpr (std::is_same_v<T, Timestamp>) {
                    std::string t = format_timestamp(v);
                    return sqlite3_bind_text64(s, n, t.data(), t.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
                } else {
                    static_assert(std::is_same_v<T, Date>);
                    std::string t = format_date(v);
                    return sqlite3_bind_text64(s, n, t.data(), t.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
                }
            },
            storage);
        if (rc != SQLITE_OK) bind_failed(rc, st, n, params[i].kind());
    }
}

void Session::bind_failed(int rc, Statement& st, int n, ValueKind kind) {
    std::string message = sqlite3_errmsg(db_.get());
    sqlite3_clear_bindings(st.handle.get());
    fail(rc, message, fmt::format("binding parameter {} ({})", n, to_string(kind)), st.sql);
}

int Session::on_progress(void* self) noexcept {
    auto* s = static_cast<Session*>(self);
    if (s->deadline_ == Clock::time_point::max()) [[likely]]
        return 0;
    const auto now = Clock::now();
    if (now < s->deadline_) return 0;
    if (now >= s->timeout_deadline_)
        s->timed_out_ = true;
    else
        s->budget_hit_ = true;
    return 1;  // makes the running statement fail with SQLITE_INTERRUPT
}

int Session::refuse_busy(void* self, int) noexcept {
    static_cast<Session*>(self)->busy_refused_ = true;
    return 0;  // SQLITE_BUSY now: the statement is re-run on a worker, where waiting is allowed
}

void Session::reread_busy_timeout() noexcept {
    if (!db_) return;
    std::int64_t ms = -1;
    auto read = [](void* out, int n, char** values, char**) -> int {
        if (n > 0 && values[0]) *static_cast<std::int64_t*>(out) = std::atoll(values[0]);
        return 0;
    };
    if (sqlite3_exec(db_.get(), "PRAGMA busy_timeout", read, &ms, nullptr) == SQLITE_OK && ms >= 0)
        busy_timeout_ = std::chrono::milliseconds(ms);
}

// The deadline only holds while a statement runs: SQLite may call the progress handler from
// sqlite3_prepare too, which must not trip over the deadline of an earlier statement.
struct Session::Armed {
    Session& s;
    Armed(Session& session, Clock::time_point deadline) : s(session) {
        s.timed_out_ = false;
        s.timeout_deadline_ = deadline;
        s.deadline_ = std::min(deadline, s.budget_end_);
    }
    ~Armed() {
        s.timeout_deadline_ = Clock::time_point::max();
        s.deadline_ = s.budget_end_;
    }
};

Session::Inline::Inline(Session& s, std::chrono::microseconds budget) noexcept : s_(s) {
    s_.inline_ = true;
    s_.budget_hit_ = false;
    s_.busy_refused_ = false;
    s_.inline_start_ = Clock::now();
    s_.budget_end_ = s_.inline_start_ + budget;
    s_.deadline_ = std::min(s_.timeout_deadline_, s_.budget_end_);
    if (s_.db_) sqlite3_busy_handler(s_.db_.get(), &Session::refuse_busy, &s_);
}

Session::Inline::~Inline() {
    const auto held = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - s_.inline_start_).count();
    if (static_cast<std::uint64_t>(held) > s_.offload_stats_.longest_inline_us)
        s_.offload_stats_.longest_inline_us = static_cast<std::uint64_t>(held);
    s_.inline_ = false;
    s_.budget_end_ = Clock::time_point::max();
    s_.deadline_ = s_.timeout_deadline_;
    if (s_.db_)
        sqlite3_busy_timeout(s_.db_.get(), static_cast<int>(std::min<std::int64_t>(s_.busy_timeout_.count(), INT_MAX)));
}

// step() and step_inline() share this: one sqlite3_step, under the statement timeout when one is
// set (the time it took is added to the statement's, which the deadline of its next step counts).
WEFT_HOT inline int Session::timed_step(Statement& st) {
    ensure_open();
    if (timeout_.count() > 0) {
        auto start = Clock::now();
        Armed armed(*this, start + timeout_ - st.spent);
        const int rc = sqlite3_step(st.handle.get());
        st.spent += Clock::now() - start;
        return rc;
    }
    timed_out_ = false;
    return sqlite3_step(st.handle.get());
}

void Session::step_failed(Statement& st, int rc) {
    std::string message = sqlite3_errmsg(db_.get());
    release(st);
    fail(rc, std::move(message), "executing", st.sql);
}

Session::Step Session::step_inline(Statement& st) {
    const int rc = timed_step(st);
    if (rc == SQLITE_ROW) [[likely]]
        return Step::row;
    if (rc == SQLITE_DONE) return Step::done;
    const int primary = rc & 0xff;
    const bool out_of_time = primary == SQLITE_INTERRUPT && budget_hit_ && !timed_out_;
    // SQLITE_BUSY here is a lock the refusing busy handler would not wait for (or one SQLite
    // reports without asking it): a worker's run of the same query waits as sync mode would.
    if (out_of_time || primary == SQLITE_BUSY) {
        sqlite3_reset(st.handle.get());  // bindings stay for the re-run
        if (out_of_time) {
            ++offload_stats_.moved_by_budget;
            st.skip_inline = 16;  // the next few runs go straight to a worker
        } else {
            ++offload_stats_.moved_by_lock;
        }
        return Step::moved;
    }
    step_failed(st, rc);
}

WEFT_HOT bool Session::step(Statement& st) {
    const int rc = timed_step(st);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) {
        if (st.sets_busy_timeout) [[unlikely]]
            reread_busy_timeout();
        return false;
    }
    step_failed(st, rc);
}

WEFT_HOT void Session::release(Statement& st) noexcept {
    sqlite3_reset(st.handle.get());
    if (st.holds_bound_data) {
        sqlite3_clear_bindings(st.handle.get());
        st.holds_bound_data = false;
    }
    st.busy = false;
}

void Session::exec(std::string_view script) {
    ensure_open();
    if (script.find('\0') != std::string_view::npos)
        throw ProgrammingError(fmt::format("the SQL script contains a NUL byte: {}", shorten_sql(script)));
    std::string text(script);
    char* err = nullptr;
    int rc;
    if (timeout_.count() > 0) {
        Armed armed(*this, Clock::now() + timeout_);
        rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &err);
    } else {
        timed_out_ = false;
        rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &err);
    }
    if (contains_nocase(script, "busy_timeout")) reread_busy_timeout();
    if (rc == SQLITE_OK) return;
    std::string message = err ? err : sqlite3_errmsg(db_.get());
    sqlite3_free(err);
    fail(rc, std::move(message), "running script", script);
}

WEFT_HOT bool Session::in_transaction() const { return db_ && sqlite3_get_autocommit(db_.get()) == 0; }

std::int64_t Session::last_insert_rowid() const {
    ensure_open();
    return sqlite3_last_insert_rowid(db_.get());
}

std::int64_t Session::changes() const { return sqlite3_changes64(db_.get()); }

std::int64_t Session::total_changes() const { return sqlite3_total_changes64(db_.get()); }

void Session::set_statement_timeout(std::chrono::milliseconds timeout) {
    ensure_open();
    if (timeout.count() < 0) throw InterfaceError("statement timeout must not be negative");
    timeout_ = timeout;
}

void Session::interrupt() noexcept {
    std::lock_guard lock(handle_mu_);
    if (db_) sqlite3_interrupt(db_.get());
}

void Session::abandon() noexcept {
    // No lock: a thread of the parent that held handle_mu_ at the fork does not exist here.
    (void)db_.release();
    closed_ = true;
}

void Session::close() noexcept {
    std::lock_guard lock(handle_mu_);
    if (closed_ && !db_) return;
    cache_.clear();
    db_.reset();  // an open transaction is rolled back by SQLite
    closed_ = true;
}

}  // namespace orm::db::sqlite
