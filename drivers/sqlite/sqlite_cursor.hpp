// SqliteCursor: rows of one SQLite statement, read in one of three ways:
//  - live off the statement (sync mode, queries: nothing is copied);
//  - from a buffer holding the whole result (statements that write and return rows: they run to
//    their end at once);
//  - streamed in batches of up to batch_rows copied rows (queries in async mode): the statement
//    stays open between batches, and each later batch is one worker job (or, once the process
//    is back in sync mode, steps on the calling thread), so memory stays bounded by a batch and
//    the first rows arrive before the query has run to its end.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "drivers/result.hpp"
#include "drivers/sqlite/sqlite_handles.hpp"
#include "drivers/sqlite/sqlite_session.hpp"

namespace orm::db::sqlite {

// What a column's declared type says its text or integers mean (for Cursor::get_value).
enum class DeclaredKind : std::uint8_t { other, boolean, timestamp, date };
DeclaredKind declared_kind(const char* decltype_text) noexcept;

struct BufferedRows {
    std::vector<std::string> names;
    std::vector<DeclaredKind> kinds;
    std::vector<ValuePtr> cells;  // row-major, names.size() per row
};

// Copies the column names of `st`, then (when `have_row`) the current row and every row after it,
// stepping to the end. The statement is left done but not reset.
BufferedRows drain(Session& session, Statement& st, bool have_row);

// Rows per batch of a streamed result.
constexpr std::size_t batch_rows = 1024;

// Copies the column names and declared kinds of `st` into `rows`.
void describe_columns(const Statement& st, BufferedRows& rows);
// Steps `st` and appends its rows to rows.cells, at most `limit` of them: `done` when the
// statement ran to its end, `more` when `limit` rows were copied and more may follow (the next
// call steps first), `moved` when `on_loop` (steps by step_inline, inside a Session::Inline
// scope) and the statement had to leave the loop thread (it was reset; nothing it produced
// reached anyone). The rows of the current call are appended after those already held.
enum class Fill : std::uint8_t { done, more, moved };
Fill fill(Session& session, Statement& st, BufferedRows& rows, std::size_t limit, bool on_loop);

class SqliteCursor final : public Cursor {
public:
    // Live: the statement was stepped once by execute(); `have_row` says that step gave a row.
    // The cursor releases (resets) the statement when it is done or destroyed.
    SqliteCursor(Ref<Session> session, Ref<Statement> st, bool have_row);
    // Buffered: the statement is already finished and released.
    SqliteCursor(BufferedRows rows, std::int64_t rows_affected);
    // Streamed: `first` holds the first batch; `st` (not released) gives the rest, batch by batch.
    SqliteCursor(Ref<Session> session, Ref<Statement> st, BufferedRows first);
    ~SqliteCursor() override;

    bool next() override;
    std::size_t column_count() const override { return columns_; }
    std::string_view column_name(std::size_t i) const override;
    bool is_null(std::size_t i) const override;
    bool get_bool(std::size_t i) const override;
    std::int64_t get_int64(std::size_t i) const override;
    double get_double(std::size_t i) const override;
    std::string_view get_text(std::size_t i) const override;
    Bytes get_bytes(std::size_t i) const override;
    Timestamp get_timestamp(std::size_t i) const override;
    Date get_date(std::size_t i) const override;
    Value get_value(std::size_t i) const override;
    bool read_bool(std::size_t i, bool& out) const override;
    bool read_int64(std::size_t i, std::int64_t& out) const override;
    bool read_double(std::size_t i, double& out) const override;
    bool read_text(std::size_t i, std::string_view& out) const override;
    std::uint64_t read_plain(std::size_t first, std::span<const PlainSlot> slots, void* object) const override;
    std::int64_t rows_affected() const override { return rows_affected_; }

    // Cursors are created and destroyed once per statement executed: recycle their storage
    // through a small per-thread free list instead of the general-purpose heap.
    static void* operator new(std::size_t size);
    static void operator delete(void* p, std::size_t size) noexcept;

private:
    // The current row's value in column i (checks the index and that there is a current row).
    sqlite3_value* cell(std::size_t i) const;
    [[noreturn]] void bad_cell(std::size_t i) const;
    DeclaredKind kind(std::size_t i) const;
    std::string describe(std::size_t i) const;
    [[noreturn]] void type_error(std::size_t i, sqlite3_value* v, std::string_view wanted) const;
    void release() noexcept;
    // A streamed cursor's next batch into rows_ (in the mode read now); false when there is none.
    bool next_batch();

    // Live mode
    Ref<Session> session_;
    Ref<Statement> st_;
    bool pending_ = false;   // execute() already stepped onto the first row
    bool released_ = true;
    // The current row's values, fetched on first use: a getter is usually preceded by is_null()
    // on the same column, and sqlite3_column_value costs an API round (mutex hooks, bounds and
    // malloc-failure checks) per call. Columns past the array are fetched on every call.
    static constexpr std::size_t cached_columns = 16;
    mutable sqlite3_value* row_values_[cached_columns];
    mutable std::uint32_t fetched_ = 0;  // bit i: row_values_[i] holds the current row's value
    // Buffered and streamed modes (null for a live cursor, which then has nothing of it to build
    // or destroy). A streamed cursor also holds session_ and st_, until its last batch.
    std::unique_ptr<BufferedRows> rows_;
    std::size_t rows_read_ = 0;
    bool more_ = false;  // streamed: st_ may give more rows

    std::size_t columns_ = 0;
    bool on_row_ = false;
    bool done_ = false;
    std::int64_t rows_affected_ = 0;
};

}  // namespace orm::db::sqlite
