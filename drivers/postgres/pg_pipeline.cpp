// PgConnection shared by the fibers of one thread: libpq pipeline mode.
//
// While shared (from the first execute_shared() until end_sharing()), the connection stays in
// pipeline mode and nonblocking. Every statement is queued as a segment of its own:
//     [Parse + Describe, the first time this connection sees the SQL]  Bind/Execute  [Sync]
// The server answers segments in the order they were queued.
//
// Syncs. Everything up to a Sync is one implicit transaction on the server, and an error there
// skips the rest of it (PGRES_PIPELINE_ABORTED up to the Sync) and rolls it back. So:
//  - a statement that may change anything (a write, a read calling a function not known to be a
//    built-in) ends with a Sync, which closes the group of reads queued before it;
//  - pure reads (shareable() verdict 2) queued in the same loop round share one Sync: the Sync
//    of the statement that comes last before the thread's loop polls (the one queued when no
//    other fiber is ready to run), or, when that is a read waiting for company, one sent just
//    before the poll (SyncLater, an orm::BeforePoll); either way in one write with them. The
//    server then commits once and answers the group in one write, instead of once per statement.
//    A read skipped because an earlier statement of its group failed never ran: its fiber sends
//    it again with a Sync of its own, so an error still ends only the statement that made it.
//    Reads only, because the rollback would undo what an earlier write of the group did after
//    its fiber was told it succeeded. A read finishes at the end of its own results; a segment
//    that ends with a Sync finishes at that Sync (a deferred constraint fails only there).
// One fiber at a time reads the socket (the one whose statement was queued earliest among those
// waiting, or whoever waits when nobody reads): it hands every result to its segment, wakes that
// segment's fiber, and stops once its own statement is answered, handing the reading to the
// oldest fiber still waiting. A fiber that gives up (FiberCancelled) leaves its segment to be read
// and dropped by the next reader.
//
// Prepared statements: the cache is the exclusive path's. A statement seen for the first time is
// entered in the cache as soon as its Parse is queued, so a second fiber running the same SQL
// meanwhile queues only Bind/Execute of that name, ordered after the Parse. The Describe answer
// fills in the parameter types when it arrives. If the Parse fails, the entry is dropped and the
// fibers whose Execute named it (26000) retry once with a Parse of their own, which gives them
// the same error. An evicted statement's DEALLOCATE is queued as a segment nobody waits for,
// behind every statement already queued that may still use it.
//
// Deadlines: the server's statement_timeout ends a slow statement alone (57014, a TimeoutError
// for its fiber; the others go on). The reader waits on the socket for statement_timeout plus
// cancel_grace of silence at most; after that the connection is given up and every statement in
// flight fails with orm::TimeoutError. A lost connection (the server ended the session) fails
// every statement in flight with orm::ConnectionError.
#include "drivers/postgres/pg_connection.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <exception>
#include <initializer_list>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "drivers/bridge/local_signal.hpp"
#include "drivers/bridge/wait.hpp"
#include "drivers/errors.hpp"
#include "drivers/features.hpp"
#include "drivers/postgres/pg_cursor.hpp"
#include "drivers/postgres/pg_errors.hpp"
#include "drivers/postgres/pg_params.hpp"

namespace orm::db::postgres {

namespace {

using Status = PgHandle::Result::Status;
using Field = PgHandle::Result::Field;

enum class Step : unsigned char { prepare, describe, exec, other };

bool ok_status(Status s) { return s == Status::command_ok || s == Status::tuples_ok || s == Status::empty_query; }

// The same set the exclusive path re-prepares for (see execute_cached in pg_connection.cpp).
bool may_be_stale_types(std::string_view sqlstate) {
    return sqlstate.starts_with("22") || sqlstate == "42804" || sqlstate == "42883" || sqlstate == "08P01";
}

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }

}  // namespace

// Segments are reused: a connection keeps the ones it freed (at most a pipeline's depth of them
// in practice) and hands them to the next statements, so a statement allocates nothing of its own
// here. A segment is freed once its fiber is done with it (`held`) and the reader took it off the
// queue (`queued`), in either order.
struct PgConnection::Segment {
    std::array<Step, 3> steps{};  // queued before its Sync
    std::uint8_t n_steps = 0;
    std::uint8_t step = 0;        // the step whose results come next
    bool done = false;
    bool abandoned = false;       // nobody waits for it (its fiber gave up, or a DEALLOCATE)
    bool reading = false;         // its own fiber reads the socket (needs no wake-up)
    bool held = false;            // its fiber still looks at it
    bool queued = false;          // in segments_.queued
    bool synced = false;          // a Sync follows it: it finishes there (else after its last step)
    int failed_step = -1;
    int aborted_step = -1;        // the first step the server skipped (an earlier error in its group)
    std::string sql;              // owned (when it prepares, or is unnamed): its fiber may be gone by the answer
    std::string name;             // the prepared statement it prepares or runs ("" unnamed)
    PgHandle::Result result;      // the Execute's result, or the first error
    PgHandle::Result describe;    // Describe's answer (when it prepares)
    std::exception_ptr error;     // the connection failed before the answer came
    orm::LocalSignal wake;        // done, or: your turn to read (same thread: fibers sharing a connection do)

    void set_steps(std::initializer_list<Step> list) {
        n_steps = 0;
        for (Step x : list) steps[n_steps++] = x;
    }
    // Back to a fresh segment's state, keeping the strings' buffers.
    void reset() noexcept {
        n_steps = 0;
        step = 0;
        done = abandoned = reading = held = queued = synced = false;
        failed_step = aborted_step = -1;
        sql.clear();
        name.clear();
        result = PgHandle::Result();
        describe = PgHandle::Result();
        error = nullptr;
        wake.clear();
    }
};

PgConnection::SegmentQueue::~SegmentQueue() {
    for (Segment* s : queued)
        if (!s->held) delete s;  // a held one belongs to a fiber (none outlives its connection)
    for (Segment* s : spare) delete s;
}

PgConnection::Segment* PgConnection::new_segment(bool held) {
    Segment* s;
    if (!segments_.spare.empty()) {
        s = segments_.spare.back();
        segments_.spare.pop_back();
    } else {
        s = new Segment();
    }
    s->held = held;
    s->queued = true;
    segments_.queued.push_back(s);
    return s;
}

void PgConnection::release_segment(Segment* s) noexcept {
    s->held = false;
    if (s->queued) return;  // the reader frees it when it takes it off the queue
    s->reset();
    try {
        segments_.spare.push_back(s);
    } catch (...) {
        delete s;
    }
}

void PgConnection::unqueue_segment(Segment* s) noexcept {
    s->queued = false;
    if (s->held) return;  // its fiber frees it
    s->reset();
    try {
        segments_.spare.push_back(s);
    } catch (...) {
        delete s;
    }
}

namespace {

// Words that may come right before a '(' in a read that shares its Sync with others: keywords,
// type names with a modifier, and PostgreSQL built-in functions that change nothing (what the ORM
// compiles lookups, aggregates and functions to). Anything else before a '(' may be a function
// of the user's that writes, so the read gets a Sync of its own.
bool pure_before_paren(std::string_view w) {
    static constexpr std::string_view words[] = {
        // keywords
        "all", "and", "any", "array", "as", "between", "by", "case", "cast", "distinct", "else", "exists", "filter",
        "from", "in", "is", "join", "lateral", "like", "ilike", "not", "on", "or", "over", "partition", "row",
        "select", "some", "then", "using", "values", "when", "where", "within", "group", "limit", "offset",
        // types with a modifier
        "numeric", "decimal", "varchar", "char", "character", "varying", "timestamp", "time", "interval", "bit",
        // built-in functions
        "abs", "array_agg", "array_length", "array_position", "avg", "bit_length", "bool_and", "bool_or", "btrim",
        "cardinality", "ceil", "ceiling", "char_length", "chr", "coalesce", "concat", "concat_ws", "count",
        "date_part", "date_trunc", "degrees", "div", "every", "exp", "extract", "floor", "greatest", "initcap",
        "json_build_object", "jsonb_build_object", "jsonb_extract_path", "jsonb_extract_path_text",
        "jsonb_array_length", "jsonb_typeof", "json_extract_path", "json_extract_path_text", "least", "left",
        "length", "ln", "log", "lower", "lpad", "ltrim", "max", "md5", "min", "mod", "now", "nullif",
        "octet_length", "overlay", "pi", "position", "power", "radians", "regexp_replace", "repeat", "replace",
        "reverse", "right", "round", "rpad", "rtrim", "sha224", "sha256", "sha384", "sha512", "sign", "sqrt",
        "stddev", "stddev_pop", "stddev_samp", "strpos", "string_agg", "substr", "substring", "sum", "timezone",
        "to_char", "to_date", "to_number", "to_timestamp", "trim", "trunc", "upper", "var_pop", "var_samp",
        "variance", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "cot", "random", "statement_timestamp",
        "clock_timestamp", "transaction_timestamp", "unnest", "generate_series", "jsonb_each", "jsonb_array_elements",
    };
    for (std::string_view x : words)
        if (x == w) return true;
    return false;
}

// Whether every '(' of the statement follows an operator, another '(' or a word of the list above.
// String literals are skipped; a quoted identifier before a '(' is a function of the user's.
bool calls_only_builtins(std::string_view sql) {
    bool after_word = false;      // the last token was an identifier (or keyword)
    bool after_quoted = false;    // ... a quoted one
    std::string_view word;
    std::string lower;
    std::size_t k = 0;
    while (k < sql.size()) {
        const char c = sql[k];
        if (c == '\'' || c == '"') {
            const std::size_t end = sql.find(c, k + 1);
            if (end == std::string_view::npos) return false;
            after_word = after_quoted = c == '"';
            k = end + 1;
            continue;
        }
        if (ident_char(c)) {
            const std::size_t start = k;
            while (k < sql.size() && ident_char(sql[k])) ++k;
            word = sql.substr(start, k - start);
            after_word = true;
            after_quoted = false;
            continue;
        }
        if (c == '(' && after_word) {
            if (after_quoted) return false;
            lower.assign(word);
            for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            if (!pure_before_paren(lower)) return false;
        }
        if (!std::isspace(static_cast<unsigned char>(c))) after_word = after_quoted = false;
        ++k;
    }
    return true;
}

// The words of the statement, lower-cased (identifiers, keywords, and what quotes hold too: a
// quoted "temp" column only costs an exclusive connection). One statement only. 0: not to be
// shared; 1: shared with a Sync of its own; 2: a pure read, which may share a Sync.
int classify(std::string_view sql) {
    std::string lower(sql.size(), ' ');
    bool seen_semicolon = false;
    for (std::size_t k = 0; k < sql.size(); ++k) {
        const char c = sql[k];
        if (seen_semicolon && !std::isspace(static_cast<unsigned char>(c))) return false;  // a second statement
        if (c == ';') seen_semicolon = true;
        lower[k] = ident_char(c) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : ' ';
    }
    std::string_view text(lower);
    std::size_t pos = 0;
    auto next_word = [&]() -> std::string_view {
        while (pos < text.size() && text[pos] == ' ') ++pos;
        const std::size_t start = pos;
        while (pos < text.size() && text[pos] != ' ') ++pos;
        return text.substr(start, pos - start);
    };
    std::string_view first = next_word();
    const bool reads = first == "select" || first == "with" || first == "values" || first == "table";
    if (!reads && first != "insert" && first != "update" && first != "delete") return 0;
    bool after_for = false;
    bool writes = !reads;
    for (std::string_view x = next_word(); !x.empty(); x = next_word()) {
        if (after_for && (x == "update" || x == "share" || x == "no" || x == "key")) return 0;  // row locks
        after_for = x == "for";
        if (x == "temp" || x == "temporary" || x.starts_with("pg_temp") || x == "set_config" || x == "currval" ||
            x == "lastval" || x == "setval" || x.find("advisory") != std::string_view::npos ||
            x == "dblink_connect" || x == "dblink_connect_u")
            return 0;
        if (reads && x == "into") return 0;  // SELECT ... INTO creates a table
        if (x == "insert" || x == "update" || x == "delete" || x == "merge") writes = true;  // WITH ... DELETE
    }
    return !writes && calls_only_builtins(sql) ? 2 : 1;
}

}  // namespace

bool PgConnection::shareable(std::string_view sql) const {
    if (transaction_pooling_ || broken_ || closed_) return false;
    // The verdict is kept with the prepared statement, so a statement run again costs a cache
    // lookup (not counted in the cache's statistics: queue_statement() counts its own). The
    // cache is the connection's own bookkeeping, hence the const_cast.
    auto& cache = const_cast<StatementCache<Prepared>&>(cache_);
    Prepared* p = cfg_.statement_cache_size > 0 ? cache.peek(sql) : nullptr;
    if (p && p->shareable >= 0) return p->shareable > 0;
    const int verdict = classify(sql);
    if (p) p->shareable = static_cast<signed char>(verdict);
    return verdict > 0;
}

void PgConnection::send_or_fail(const PgRequest& req, std::string_view sql) {
    if (!handle_.send(req)) pipeline_failed(sql);
}

void PgConnection::pipeline_failed(std::string_view sql) {
    // Something of this statement may already be queued: the pipeline cannot be trusted.
    std::string why = handle_.error_message();
    mark_broken();
    throw ConnectionError(fmt::format("could not send a statement to PostgreSQL ({}): {}\nSQL: {}", cfg_.url, why,
                                      shorten_sql(sql)),
                          "08006");
}

void PgConnection::queue_deallocations() {
    if (pending_deallocate_.empty()) return;
    // A DEALLOCATE in a group whose read fails would be skipped: it goes in a group of its own.
    if (sync_owed_ && !send_owed_sync()) pipeline_failed("DEALLOCATE");
    std::vector<std::string> names;
    names.swap(pending_deallocate_);
    for (const auto& n : names) {
        const std::string sql = fmt::format("DEALLOCATE {}", n);
        PgRequest req;
        req.kind = PgRequest::Kind::exec_params;
        req.sql = sql.c_str();
        send_or_fail(req, sql);
        if (!handle_.pipeline_sync()) pipeline_failed(sql);
        Segment* seg = new_segment(false);
        seg->sql = sql;
        seg->set_steps({Step::other});
        seg->abandoned = true;
        seg->synced = true;
    }
}

bool PgConnection::send_owed_sync() noexcept {
    sync_owed_ = false;
    group_bytes_ = 0;
    sync_later_.cancel();
    try {
        Segment* sync = new_segment(false);  // no steps: its answer is the Sync's
        sync->abandoned = true;
        sync->synced = true;
    } catch (...) {
        return false;
    }
    return handle_.pipeline_sync();  // libpq 15 writes what it can at once
}

void PgConnection::SyncLater::run() noexcept {
    PgConnection& c = conn;
    if (!c.sync_owed_ || c.broken_ || c.closed_) return;
    const int fd = c.handle_.socket();
    const bool sent = c.send_owed_sync();
    if (sent && c.handle_.flush() == 0) return;
    if (!sent) {
        try {
            c.mark_broken();  // fails every statement in flight with a ConnectionError
        } catch (...) {
        }
    }
    // The reader waits for the socket to be readable: wake it, so that it sends the rest (it
    // waits to write then) or finds its statement failed.
    orm::io_rouse(fd);
}

PgConnection::Segment* PgConnection::queue_statement(std::string_view sql, const PgParams& params, bool alone) {
    if (!handle_.in_pipeline()) {
        if (!handle_.set_nonblocking(true) || !handle_.enter_pipeline()) {
            std::string why = handle_.error_message();
            mark_broken();
            throw ConnectionError(fmt::format("could not put the PostgreSQL connection ({}) in pipeline mode: {}",
                                              cfg_.url, why),
                                  "08006");
        }
    }
    queue_deallocations();
    // Checked before anything of this statement is sent or queued.
    Prepared* p = cfg_.statement_cache_size == 0 ? nullptr : cache_.find(sql);
    if (p && p->described && p->param_types.size() != static_cast<std::size_t>(params.size()))
        throw ProgrammingError(fmt::format("statement expects {} parameter{}, got {}: {}", p->param_types.size(),
                                           p->param_types.size() == 1 ? "" : "s", params.size(), shorten_sql(sql)));
    // A read already prepared here may wait for the Sync that the loop sends before it polls,
    // when other fibers will run before then (else it would be alone in its group: it is sent at
    // once), while its group stays well under libpq's 64 KB output threshold (so that the group
    // reaches the server in one piece, after every statement in it was queued).
    constexpr std::size_t group_limit = 32 * 1024;
    bool defer = false;
    if (!alone && p && p->shareable == 2 && orm::other_fibers_ready()) {
        const std::size_t cost = 64 + p->name.size() + params.wire_bytes();
        if (group_bytes_ + cost <= group_limit && sync_later_.schedule()) {
            defer = true;
            group_bytes_ += cost;
        }
    }
    if (alone && sync_owed_ && !send_owed_sync()) pipeline_failed(sql);
    // Queued first (held by this fiber): a send that fails marks the connection broken, which
    // fails and frees what is queued.
    Segment* seg = new_segment(true);
    try {
        queue_steps(*seg, p, sql, params, defer);
    } catch (...) {
        seg->abandoned = true;
        release_segment(seg);
        throw;
    }
    if (!defer) (void)handle_.flush();  // what does not fit now goes out with the reader's next flush
    return seg;
}

void PgConnection::queue_steps(Segment& s, Prepared* p, std::string_view sql, const PgParams& params,
                               bool defer) {
    Segment* seg = &s;
    PgRequest req;
    if (cfg_.statement_cache_size == 0) {
        seg->sql.assign(sql);
        req.kind = PgRequest::Kind::exec_params;
        req.sql = seg->sql.c_str();
        seg->set_steps({Step::exec});
    } else {
        if (!p) {
            seg->sql.assign(sql);
            seg->name = fmt::format("weft_{}", ++next_statement_);
            PgRequest prep;
            prep.kind = PgRequest::Kind::prepare;
            prep.sql = seg->sql.c_str();
            prep.name = seg->name.c_str();
            send_or_fail(prep, sql);
            PgRequest desc;
            desc.kind = PgRequest::Kind::describe_prepared;
            desc.name = seg->name.c_str();
            send_or_fail(desc, sql);
            seg->set_steps({Step::prepare, Step::describe, Step::exec});
            Prepared fresh;
            fresh.name = seg->name;
            fresh.described = false;
            cache_.insert(sql, std::move(fresh));  // an eviction's DEALLOCATE is queued after this statement
        } else {
            seg->name = p->name;
            seg->set_steps({Step::exec});
        }
        req.kind = PgRequest::Kind::exec_prepared;
        req.name = seg->name.c_str();
    }
    params.apply(req);
    send_or_fail(req, sql);
    if (defer) {
        sync_owed_ = true;
        return;
    }
    if (!handle_.pipeline_sync()) pipeline_failed(sql);
    seg->synced = true;  // and the reads queued before it without a Sync share this one
    sync_owed_ = false;
    group_bytes_ = 0;
    sync_later_.cancel();
}

Result PgConnection::execute_shared(std::string_view sql, std::span<const Value> params) {
    ensure_usable();
    if (sql.find('\0') != std::string_view::npos)
        throw ProgrammingError(fmt::format("SQL text contains a NUL byte: {}", shorten_sql(sql.substr(0, sql.find('\0')))));
    if (params.size() > features().max_query_params)
        throw ProgrammingError(fmt::format("a statement with {} bound parameters cannot be sent: PostgreSQL takes at "
                                           "most {} per statement here; bind a long list as one array parameter, or "
                                           "split the statement: {}",
                                           params.size(), features().max_query_params, shorten_sql(sql)),
                               "54000");
    PgParams encoded(params);  // DataError before anything is sent
    struct Held {  // gives the segment back however this attempt ends
        PgConnection& c;
        Segment* s;
        ~Held() { c.release_segment(s); }
    };
    bool alone = false;     // sent again after its group failed before it: with a Sync of its own
    bool reprepared = false;
    for (;;) {
        Held held{*this, queue_statement(sql, encoded, alone)};
        Segment* seg = held.s;
        await_segment(*seg);
        if (seg->error) std::rethrow_exception(seg->error);
        if (seg->result.has_value() && ok_status(seg->result.status()))
            return Result(std::make_unique<PgCursor>(std::move(seg->result)));
        if (seg->failed_step < 0 && seg->aborted_step >= 0) {
            // Another read of its group failed first, so the server skipped this one: it never ran.
            alone = true;
            continue;
        }
        std::string_view state = seg->result.error_field(Field::sqlstate);
        // A statement another fiber's failed Parse named (26000), a cached plan whose result
        // type changed (0A000), parameter types from before the table changed: drop the entry
        // and run it once more with a Parse of its own. The failed statement changed nothing.
        if (!reprepared && !seg->name.empty() && seg->result.has_value() && !lost(seg->result) &&
            (state == "26000" || state == "0A000" || may_be_stale_types(state))) {
            if (Prepared* p = cache_.find(sql); p && p->name == seg->name) {
                if (state == "26000") p->gone = true;
                cache_.erase(sql);
            }
            reprepared = true;
            continue;
        }
        check(std::move(seg->result), sql);  // throws
        throw InternalError("a failed pipelined statement was not reported");
    }
}

void PgConnection::await_segment(Segment& s) {
    try {
        while (!s.done) {
            if (!reading_) {
                reading_ = true;
                s.reading = true;
                try {
                    read_until_done(s);
                } catch (...) {
                    reading_ = false;
                    s.reading = false;
                    throw;
                }
                reading_ = false;
                s.reading = false;
            } else {
                s.wake.wait();
            }
        }
    } catch (...) {
        s.abandoned = true;
        hand_over_reading();
        throw;
    }
    hand_over_reading();
}

void PgConnection::hand_over_reading() {
    if (reading_) return;
    for (Segment* seg : segments_.queued)
        if (!seg->abandoned && !seg->done) {
            seg->wake.set();
            return;
        }
}

void PgConnection::read_until_done(Segment& s) {
    const auto silence = cfg_.statement_timeout.count() > 0 ? cfg_.statement_timeout + cancel_grace
                                                             : std::chrono::milliseconds(0);
    Deadline deadline = silence.count() > 0 ? deadline_after(silence) : no_deadline;
    for (;;) {
        const bool progressed = pump();
        if (s.done) return;
        if (progressed && silence.count() > 0) deadline = deadline_after(silence);
        // Reads waiting for their group's Sync stay in libpq's buffer: SyncLater sends them with
        // it, so that the server starts the group once every statement in it was queued.
        const int f = sync_owed_ ? 0 : handle_.flush();
        const int fd = handle_.socket();
        if (f < 0 || fd < 0) {
            fail_segments(std::make_exception_ptr(ConnectionError(
                fmt::format("connection to PostgreSQL ({}) lost: {}", cfg_.url, handle_.error_message()), "08006")));
            mark_broken();
            return;
        }
        Io got;
        try {
            got = orm::wait_io(fd, f == 1 ? Io::both : Io::readable, deadline, io_owner_);
        } catch (const TimeoutError&) {
            fail_segments(std::make_exception_ptr(TimeoutError(fmt::format(
                "no answer from PostgreSQL ({}) within {} ms ({} plus {} ms of grace) with {} statements in flight "
                "on this shared connection, so they were abandoned and the connection closed{}",
                cfg_.url, silence.count(), "statement_timeout", cancel_grace.count(), segments_.size(),
                segments_.empty() || segments_.queued.front()->sql.empty()
                    ? std::string()
                    : "\nSQL: " + shorten_sql(segments_.queued.front()->sql)))));
            mark_broken();
            return;
        }
        if (any(got & Io::readable) && !handle_.consume_input()) {
            // Lost (EOF, reset): what the server said last (a FATAL error) is read first.
            (void)pump();
            fail_segments(std::make_exception_ptr(ConnectionError(
                fmt::format("connection to PostgreSQL ({}) lost with {} statements in flight: {}", cfg_.url,
                            segments_.size(), handle_.error_message()),
                "08006")));
            mark_broken();
            return;
        }
    }
}

bool PgConnection::pump() {
    bool progressed = false;
    while (!segments_.empty()) {
        PgHandle::Result r;
        if (!handle_.next_result(r)) break;  // needs input
        progressed = true;
        Segment& f = *segments_.queued.front();
        if (!r.has_value()) {  // the end of one step's results
            if (f.step < f.n_steps) ++f.step;
            if (!handle_.connection_ok()) break;
            if (!f.synced && f.step == f.n_steps) {  // a read whose group's Sync comes later
                Segment* done = segments_.queued.front();
                segments_.queued.pop_front();
                finish_segment(*done);
                unqueue_segment(done);
            }
            continue;
        }
        const Status st = r.status();
        if (st == Status::pipeline_sync) {
            Segment* done = segments_.queued.front();
            segments_.queued.pop_front();
            finish_segment(*done);
            unqueue_segment(done);
            continue;
        }
        if (st == Status::pipeline_aborted) {
            if (f.failed_step < 0 && f.aborted_step < 0) f.aborted_step = static_cast<int>(f.step);
            continue;
        }
        const Step kind = f.step < f.n_steps ? f.steps[f.step] : Step::other;
        if (!ok_status(st)) {
            const std::string_view severity = r.error_field(Field::severity);
            const bool fatal = severity == "FATAL" || severity == "PANIC" || !handle_.connection_ok();
            if (f.failed_step < 0) {
                f.failed_step = static_cast<int>(f.step);
                f.result = std::move(r);
            }
            if (fatal) {
                // The server ends the session: this statement gets the server's words, the
                // others a ConnectionError.
                Segment* front = segments_.queued.front();
                segments_.queued.pop_front();
                finish_segment(*front);
                unqueue_segment(front);
                fail_segments(std::make_exception_ptr(ConnectionError(
                    fmt::format("connection to PostgreSQL ({}) lost: the server ended the session", cfg_.url),
                    "08006")));
                mark_broken();
                return true;
            }
        } else if (kind == Step::describe) {
            f.describe = std::move(r);
        } else if (kind == Step::exec && f.failed_step < 0) {
            f.result = std::move(r);
        }
    }
    return progressed;
}

void PgConnection::finish_segment(Segment& s) {
    if (s.n_steps == 3 && !s.name.empty()) {  // it prepared s.name
        Prepared* p = cache_.find(s.sql);
        const bool ours = p && p->name == s.name;
        if (ours) {
            if (s.failed_step == 0 || (s.failed_step < 0 && s.aborted_step == 0)) {
                p->gone = true;  // the Parse failed or was skipped: the server has nothing to DEALLOCATE
                cache_.erase(s.sql);
            } else if (s.describe.has_value()) {
                p->param_types.clear();
                for (int i = 0; i < s.describe.param_count(); ++i) p->param_types.push_back(s.describe.param_type(i));
                p->described = true;
            } else {
                cache_.erase(s.sql);  // prepared but never described: DEALLOCATEd, prepared again next time
            }
        }
    }
    s.done = true;
    if (!s.abandoned && !s.reading) s.wake.set();
}

void PgConnection::fail_segments(std::exception_ptr error) {
    if (failing_) return;
    failing_ = true;
    std::deque<Segment*> failed;
    failed.swap(segments_.queued);
    for (Segment* seg : failed) {
        if (!seg->done) {
            seg->error = error;
            seg->done = true;
            if (!seg->abandoned) seg->wake.set();
        }
        unqueue_segment(seg);
    }
    failing_ = false;
}

void PgConnection::end_sharing() noexcept {
    if (broken_ || closed_) {
        std::deque<Segment*> gone;
        gone.swap(segments_.queued);
        for (Segment* seg : gone) unqueue_segment(seg);
        return;
    }
    try {
        if (sync_owed_ && !send_owed_sync()) mark_broken();
        // Statements nobody waits for any more (DEALLOCATEs, fibers that gave up).
        while (!broken_ && !segments_.empty()) {
            Segment* last = segments_.queued.back();
            last->held = true;  // looked at below after the reader took it off the queue
            reading_ = true;
            try {
                read_until_done(*last);
            } catch (...) {
                release_segment(last);
                throw;
            }
            reading_ = false;
            release_segment(last);
        }
        if (broken_ || closed_) return;
        if (handle_.in_pipeline() && !handle_.exit_pipeline()) mark_broken();
        idle_mark_ = orm::io_poll_mark();  // for is_usable: the loop has seen this socket up to here
    } catch (...) {
        reading_ = false;
        mark_broken();
    }
}

}  // namespace orm::db::postgres
