// RAII owners for the sqlite3 C handles used by the SQLite driver (internal header).
#pragma once

#include <memory>

#include <sqlite3.h>

namespace orm::db::sqlite {

struct DbCloser {
    // close_v2 turns the connection into a zombie until every statement is finalized, so a
    // cursor that outlives its connection cannot make sqlite3_close fail with SQLITE_BUSY.
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
struct ValueFree {
    void operator()(sqlite3_value* v) const noexcept { sqlite3_value_free(v); }
};

using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;
// A protected copy of a column value (sqlite3_value_dup), for rows buffered off the statement.
using ValuePtr = std::unique_ptr<sqlite3_value, ValueFree>;

}  // namespace orm::db::sqlite
