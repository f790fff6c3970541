// SqliteCursor: typed, strict reads of SQLite column values (see sqlite_cursor.hpp).
//
// Values are read through sqlite3_value_* on sqlite3_column_value() (live rows) or on
// sqlite3_value_dup() copies (buffered rows), so both modes share one set of getters. The SQLite
// docs reserve the value_* functions for "protected" values; the distinction is only the
// connection mutex, which connections opened with SQLITE_OPEN_NOMUTEX do not have, and it is
// exactly what sqlite3_column_*() do internally.
#include "drivers/sqlite/sqlite_cursor.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "drivers/bridge/mode.hpp"
#include "drivers/bridge/offload.hpp"
#include "drivers/errors.hpp"
#include "drivers/hints.hpp"
#include "drivers/plain_store.hpp"
#include "drivers/sqlite/sqlite_errors.hpp"

namespace orm::db::sqlite {

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

std::string_view storage_name(int type) noexcept {
    switch (type) {
    case SQLITE_INTEGER: return "an integer";
    case SQLITE_FLOAT: return "a real number";
    case SQLITE_TEXT: return "text";
    case SQLITE_BLOB: return "a blob";
    default: return "NULL";
    }
}

std::string_view value_text(sqlite3_value* v) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
    int n = sqlite3_value_bytes(v);  // after value_text: the length of the UTF-8 form
    return p ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view();
}

template <class T>
bool parse_number(std::string_view s, T& out) {
    if (s.empty()) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

// Freed cursors kept per thread for reuse (see SqliteCursor::operator new). A cursor may be freed
// on another thread than the one that made it (async mode builds it on a worker); the lists
// only bound how much each thread keeps. Under AddressSanitizer the heap is used directly, so
// use-after-free of a cursor is still caught.
#if defined(__SANITIZE_ADDRESS__)
#define WEFT_RECYCLE_CURSORS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_RECYCLE_CURSORS 0
#endif
#endif
#ifndef WEFT_RECYCLE_CURSORS
#define WEFT_RECYCLE_CURSORS 1
#endif

#if WEFT_RECYCLE_CURSORS
struct SpareCursors {
    static constexpr std::size_t capacity = 8;
    void* blocks[capacity];
    std::size_t count = 0;
    ~SpareCursors() {
        while (count > 0) ::operator delete(blocks[--count]);
    }
};
thread_local SpareCursors spare_cursors;
#endif

}  // namespace

void* SqliteCursor::operator new(std::size_t size) {
#if WEFT_RECYCLE_CURSORS
    if (size == sizeof(SqliteCursor)) {
        SpareCursors& s = spare_cursors;
        if (s.count > 0) return s.blocks[--s.count];
    }
#endif
    return ::operator new(size);
}

void SqliteCursor::operator delete(void* p, std::size_t size) noexcept {
#if WEFT_RECYCLE_CURSORS
    if (size == sizeof(SqliteCursor)) {
        SpareCursors& s = spare_cursors;
        if (s.count < SpareCursors::capacity) {
            s.blocks[s.count++] = p;
            return;
        }
    }
#endif
    ::operator delete(p);
}

DeclaredKind declared_kind(const char* decl) noexcept {
    if (!decl) return DeclaredKind::other;
    std::string_view d(decl);
    if (iequals(d, "boolean") || iequals(d, "bool")) return DeclaredKind::boolean;
    if (iequals(d, "date")) return DeclaredKind::date;
    if (iequals(d, "datetime") || (d.size() >= 9 && iequals(d.substr(0, 9), "timestamp")))
        return DeclaredKind::timestamp;
    return DeclaredKind::other;
}

void describe_columns(const Statement& st, BufferedRows& rows) {
    sqlite3_stmt* s = st.handle.get();
    const int n = sqlite3_column_count(s);
    rows.names.reserve(static_cast<std::size_t>(n));
    rows.kinds.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        const char* name = sqlite3_column_name(s, i);
        rows.names.emplace_back(name ? name : "");
        rows.kinds.push_back(declared_kind(sqlite3_column_decltype(s, i)));
    }
}

namespace {

void copy_row(const Statement& st, BufferedRows& rows) {
    sqlite3_stmt* s = st.handle.get();
    const int n = static_cast<int>(rows.names.size());
    for (int i = 0; i < n; ++i) {
        ValuePtr copy(sqlite3_value_dup(sqlite3_column_value(s, i)));
        if (!copy) throw_error(SQLITE_NOMEM, "out of memory copying a row", "buffering rows", st.sql);
        rows.cells.push_back(std::move(copy));
    }
}

}  // namespace

BufferedRows drain(Session& session, Statement& st, bool have_row) {
    BufferedRows rows;
    describe_columns(st, rows);
    for (bool row = have_row; row; row = session.step(st)) copy_row(st, rows);
    return rows;
}

WEFT_HOT Fill fill(Session& session, Statement& st, BufferedRows& rows, std::size_t limit, bool on_loop) {
    for (std::size_t got = 0; got < limit; ++got) {
        if (on_loop) {
            switch (session.step_inline(st)) {
                case Session::Step::row: break;
                case Session::Step::done: return Fill::done;
                case Session::Step::moved: return Fill::moved;
            }
        } else if (!session.step(st)) {
            return Fill::done;
        }
        copy_row(st, rows);
    }
    return Fill::more;
}

WEFT_HOT SqliteCursor::SqliteCursor(Ref<Session> session, Ref<Statement> st, bool have_row)
    : session_(std::move(session)), st_(std::move(st)), pending_(have_row), released_(false) {
    columns_ = static_cast<std::size_t>(sqlite3_column_count(st_->handle.get()));
    if (!have_row) {
        done_ = true;
        release();
    }
}

SqliteCursor::SqliteCursor(BufferedRows rows, std::int64_t rows_affected)
    : rows_(std::make_unique<BufferedRows>(std::move(rows))), columns_(rows_->names.size()),
      rows_affected_(rows_affected) {}

SqliteCursor::SqliteCursor(Ref<Session> session, Ref<Statement> st, BufferedRows first)
    : session_(std::move(session)), st_(std::move(st)), released_(false),
      rows_(std::make_unique<BufferedRows>(std::move(first))), more_(true) {
    columns_ = rows_->names.size();
}

bool SqliteCursor::next_batch() {
    rows_->cells.clear();
    rows_read_ = 0;
    Fill f;
    try {
        if (orm::is_async()) {
            ++session_->offload_stats().worker_runs;
            f = orm::run_in_thread([&] {
                orm::CpuSlot slot;  // as every statement on a worker (see sqlite_connection.cpp)
                return fill(*session_, *st_, *rows_, batch_rows, false);
            });
        } else {
            f = fill(*session_, *st_, *rows_, batch_rows, false);
        }
    } catch (...) {
        more_ = false;
        release();  // a failed step already reset it; resetting again is harmless
        throw;
    }
    more_ = f == Fill::more;
    if (!more_) release();  // let go of the read transaction now, not when the Result goes
    return !rows_->cells.empty();
}

WEFT_HOT SqliteCursor::~SqliteCursor() { release(); }

WEFT_HOT void SqliteCursor::release() noexcept {
    if (released_) return;
    released_ = true;
    session_->release(*st_);
}

WEFT_HOT bool SqliteCursor::next() {
    if (done_) {
        on_row_ = false;
        return false;
    }
    if (rows_) {  // buffered or streamed
        if (columns_ != 0 && (rows_read_ + 1) * columns_ <= rows_->cells.size()) {
            ++rows_read_;
            on_row_ = true;
            return true;
        }
        on_row_ = false;
        if (more_ && columns_ != 0) {
            if (next_batch()) {
                rows_read_ = 1;
                on_row_ = true;
                return true;
            }
        }
        done_ = true;
        release();
        return false;
    }
    if (pending_) {
        pending_ = false;
        on_row_ = true;
        return true;
    }
    on_row_ = false;
    bool row;
    try {
        row = session_->step(*st_);
    } catch (...) {
        done_ = true;
        released_ = true;  // step() reset the statement before throwing
        throw;
    }
    if (row) {
        fetched_ = 0;
        on_row_ = true;
        return true;
    }
    done_ = true;
    release();  // done: let go of the read transaction now, not when the Result is destroyed
    return false;
}

std::string_view SqliteCursor::column_name(std::size_t i) const {
    if (i >= columns_)
        throw InterfaceError(fmt::format("column index {} out of range: the result has {} columns", i, columns_));
    if (rows_) return rows_->names[i];
    const char* name = sqlite3_column_name(st_->handle.get(), static_cast<int>(i));
    return name ? std::string_view(name) : std::string_view();
}

void SqliteCursor::bad_cell(std::size_t i) const {
    if (i >= columns_)
        throw InterfaceError(fmt::format("column index {} out of range: the result has {} columns", i, columns_));
    throw InterfaceError("no current row: call next() and check that it returned true");
}

// Every getter goes through here: keep the checks in line and the messages out of line.
inline sqlite3_value* SqliteCursor::cell(std::size_t i) const {
    if (i >= columns_ || !on_row_) [[unlikely]]
        bad_cell(i);
    if (rows_) return rows_->cells[(rows_read_ - 1) * columns_ + i].get();
    if (i < cached_columns) [[likely]] {
        const std::uint32_t bit = std::uint32_t{1} << i;
        if (!(fetched_ & bit)) {
            row_values_[i] = sqlite3_column_value(st_->handle.get(), static_cast<int>(i));
            fetched_ |= bit;
        }
        return row_values_[i];
    }
    return sqlite3_column_value(st_->handle.get(), static_cast<int>(i));
}

DeclaredKind SqliteCursor::kind(std::size_t i) const {
    if (rows_) return rows_->kinds[i];
    return declared_kind(sqlite3_column_decltype(st_->handle.get(), static_cast<int>(i)));
}

std::string SqliteCursor::describe(std::size_t i) const {
    return fmt::format("column {} ('{}')", i, column_name(i));
}

void SqliteCursor::type_error(std::size_t i, sqlite3_value* v, std::string_view wanted) const {
    int type = sqlite3_value_type(v);
    std::string held;
    if (type == SQLITE_TEXT || type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
        std::string_view t = value_text(v);
        held = fmt::format("{} '{}'", storage_name(type), t.size() > 60 ? std::string(t.substr(0, 57)) + "..." : t);
    } else if (type == SQLITE_BLOB) {
        held = fmt::format("a blob of {} bytes", sqlite3_value_bytes(v));
    } else {
        held = "NULL";
    }
    std::string hint = type == SQLITE_NULL ? " (read it as std::optional)" : "";
    throw DataError(fmt::format("{} holds {}, which cannot be read as {}{}", describe(i), held, wanted, hint));
}

// One sqlite3_value per column and a switch on its storage class: what a hand-written loop of
// sqlite3_column_* calls does. Anything but a value of the member's own kind is left to the
// strict getters (which convert or raise the precise error).
WEFT_HOT std::uint64_t SqliteCursor::read_plain(std::size_t first, std::span<const PlainSlot> slots,
                                               void* object) const {
    const std::size_t n = std::min<std::size_t>(slots.size(), 64);
    if (!on_row_ || first + n > columns_) [[unlikely]]
        return n == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;  // the getters report it
    sqlite3_stmt* stmt = rows_ ? nullptr : st_->handle.get();
    std::uint64_t missed = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const PlainSlot& s = slots[k];
        if (s.kind == PlainKind::none) {
            missed |= std::uint64_t{1} << k;
            continue;
        }
        const std::size_t i = first + k;
        sqlite3_value* v = stmt ? sqlite3_column_value(stmt, static_cast<int>(i))
                                : rows_->cells[(rows_read_ - 1) * columns_ + i].get();
        bool done;
        switch (sqlite3_value_type(v)) {
            case SQLITE_INTEGER: done = plain::store_int(object, s, sqlite3_value_int64(v)); break;
            case SQLITE_FLOAT: done = plain::store_double(object, s, sqlite3_value_double(v)); break;
            case SQLITE_TEXT: done = plain::store_text(object, s, value_text(v)); break;
            case SQLITE_NULL: done = plain::store_null(object, s); break;
            default: done = false;
        }
        if (!done) missed |= std::uint64_t{1} << k;
    }
    return missed;
}

bool SqliteCursor::is_null(std::size_t i) const { return sqlite3_value_type(cell(i)) == SQLITE_NULL; }

bool SqliteCursor::get_bool(std::size_t i) const {
    sqlite3_value* v = cell(i);
    if (sqlite3_value_type(v) == SQLITE_INTEGER) {
        auto n = sqlite3_value_int64(v);
        if (n == 0 || n == 1) return n == 1;
    }
    type_error(i, v, "bool (0 or 1)");
}

std::int64_t SqliteCursor::get_int64(std::size_t i) const {
    sqlite3_value* v = cell(i);
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: return sqlite3_value_int64(v);
    case SQLITE_FLOAT: {
        // Exactly integral reals (e.g. from arithmetic on REAL columns) read fine; 1.5 does not.
        double d = sqlite3_value_double(v);
        if (std::isfinite(d) && d == std::trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            return static_cast<std::int64_t>(d);
        break;
    }
    case SQLITE_TEXT: {
        std::int64_t out = 0;
        if (parse_number(value_text(v), out)) return out;
        break;
    }
    default: break;
    }
    type_error(i, v, "a 64-bit integer");
}

double SqliteCursor::get_double(std::size_t i) const {
    sqlite3_value* v = cell(i);
    switch (sqlite3_value_type(v)) {
    case SQLITE_FLOAT: return sqlite3_value_double(v);
    case SQLITE_INTEGER: return static_cast<double>(sqlite3_value_int64(v));
    case SQLITE_TEXT: {
        double out = 0;
        std::string_view t = value_text(v);
        if (t == "Infinity") return HUGE_VAL;
        if (t == "-Infinity") return -HUGE_VAL;
        if (parse_number(t, out)) return out;
        break;
    }
    default: break;
    }
    type_error(i, v, "double");
}

std::string_view SqliteCursor::get_text(std::size_t i) const {
    sqlite3_value* v = cell(i);
    switch (sqlite3_value_type(v)) {
    case SQLITE_TEXT:
    case SQLITE_INTEGER:
    case SQLITE_FLOAT: return value_text(v);
    default: type_error(i, v, "text");
    }
}

Bytes SqliteCursor::get_bytes(std::size_t i) const {
    sqlite3_value* v = cell(i);
    int type = sqlite3_value_type(v);
    if (type != SQLITE_BLOB && type != SQLITE_TEXT) type_error(i, v, "bytes");
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_value_blob(v));
    auto n = static_cast<std::size_t>(sqlite3_value_bytes(v));
    return p ? Bytes(p, p + n) : Bytes();
}

Timestamp SqliteCursor::get_timestamp(std::size_t i) const {
    sqlite3_value* v = cell(i);
    if (sqlite3_value_type(v) != SQLITE_TEXT) type_error(i, v, "a timestamp");
    try {
        return parse_timestamp(value_text(v));
    } catch (const DataError& e) {
        throw DataError(fmt::format("{}: {}", describe(i), e.what()));
    }
}

Date SqliteCursor::get_date(std::size_t i) const {
    sqlite3_value* v = cell(i);
    if (sqlite3_value_type(v) != SQLITE_TEXT) type_error(i, v, "a date");
    try {
        return parse_date(value_text(v));
    } catch (const DataError& e) {
        throw DataError(fmt::format("{}: {}", describe(i), e.what()));
    }
}

// The read_* pairs: the storage class the column usually has is read here; NULL says so; other
// classes take the getter's conversion (and its error) path.
bool SqliteCursor::read_bool(std::size_t i, bool& out) const {
    sqlite3_value* v = cell(i);
    if (sqlite3_value_type(v) == SQLITE_NULL) return false;
    out = get_bool(i);
    return true;
}

bool SqliteCursor::read_int64(std::size_t i, std::int64_t& out) const {
    sqlite3_value* v = cell(i);
    switch (sqlite3_value_type(v)) {
        case SQLITE_INTEGER: out = sqlite3_value_int64(v); return true;
        case SQLITE_NULL: return false;
        default: out = get_int64(i); return true;
    }
}

bool SqliteCursor::read_double(std::size_t i, double& out) const {
    sqlite3_value* v = cell(i);
    switch (sqlite3_value_type(v)) {
        case SQLITE_FLOAT: out = sqlite3_value_double(v); return true;
        case SQLITE_NULL: return false;
        default: out = get_double(i); return true;
    }
}

bool SqliteCursor::read_text(std::size_t i, std::string_view& out) const {
    sqlite3_value* v = cell(i);
    switch (sqlite3_value_type(v)) {
        case SQLITE_TEXT: out = value_text(v); return true;
        case SQLITE_NULL: return false;
        default: out = get_text(i); return true;
    }
}

Value SqliteCursor::get_value(std::size_t i) const {
    sqlite3_value* v = cell(i);
    switch (sqlite3_value_type(v)) {
    case SQLITE_NULL: return Value();
    case SQLITE_INTEGER: {
        auto n = sqlite3_value_int64(v);
        if (kind(i) == DeclaredKind::boolean && (n == 0 || n == 1)) return Value(n == 1);
        return Value(n);
    }
    case SQLITE_FLOAT: return Value(sqlite3_value_double(v));
    case SQLITE_BLOB: return Value(get_bytes(i));
    default: break;
    }
    std::string_view t = value_text(v);
    // Declared timestamp/date columns come back as such when their text parses; SQLite's
    // flexible typing may have let other text in, which is returned as it is.
    try {
        switch (kind(i)) {
        case DeclaredKind::timestamp: return Value(parse_timestamp(t));
        case DeclaredKind::date: return Value(parse_date(t));
        default: break;
        }
    } catch (const DataError&) {
    }
    return Value(std::string(t));
}

}  // namespace orm::db::sqlite
