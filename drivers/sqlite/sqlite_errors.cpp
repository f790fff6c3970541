// SQLite result codes -> SQLSTATEs (see sqlite_errors.hpp).
#include "drivers/sqlite/sqlite_errors.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <fmt/format.h>
#include <sqlite3.h>

#include "drivers/errors.hpp"

namespace orm::db::sqlite {

namespace {

#define WEFT_CODE(c) std::pair<int, std::string_view>{c, #c}
constexpr std::array code_names{
    WEFT_CODE(SQLITE_OK), WEFT_CODE(SQLITE_ERROR), WEFT_CODE(SQLITE_INTERNAL), WEFT_CODE(SQLITE_PERM),
    WEFT_CODE(SQLITE_ABORT), WEFT_CODE(SQLITE_BUSY), WEFT_CODE(SQLITE_LOCKED), WEFT_CODE(SQLITE_NOMEM),
    WEFT_CODE(SQLITE_READONLY), WEFT_CODE(SQLITE_INTERRUPT), WEFT_CODE(SQLITE_IOERR),
    WEFT_CODE(SQLITE_CORRUPT), WEFT_CODE(SQLITE_NOTFOUND), WEFT_CODE(SQLITE_FULL),
    WEFT_CODE(SQLITE_CANTOPEN), WEFT_CODE(SQLITE_PROTOCOL), WEFT_CODE(SQLITE_EMPTY),
    WEFT_CODE(SQLITE_SCHEMA), WEFT_CODE(SQLITE_TOOBIG), WEFT_CODE(SQLITE_CONSTRAINT),
    WEFT_CODE(SQLITE_MISMATCH), WEFT_CODE(SQLITE_MISUSE), WEFT_CODE(SQLITE_NOLFS), WEFT_CODE(SQLITE_AUTH),
    WEFT_CODE(SQLITE_FORMAT), WEFT_CODE(SQLITE_RANGE), WEFT_CODE(SQLITE_NOTADB), WEFT_CODE(SQLITE_NOTICE),
    WEFT_CODE(SQLITE_WARNING), WEFT_CODE(SQLITE_ROW), WEFT_CODE(SQLITE_DONE),
    WEFT_CODE(SQLITE_ERROR_MISSING_COLLSEQ), WEFT_CODE(SQLITE_ERROR_RETRY), WEFT_CODE(SQLITE_ERROR_SNAPSHOT),
    WEFT_CODE(SQLITE_IOERR_READ), WEFT_CODE(SQLITE_IOERR_SHORT_READ), WEFT_CODE(SQLITE_IOERR_WRITE),
    WEFT_CODE(SQLITE_IOERR_FSYNC), WEFT_CODE(SQLITE_IOERR_DIR_FSYNC), WEFT_CODE(SQLITE_IOERR_TRUNCATE),
    WEFT_CODE(SQLITE_IOERR_FSTAT), WEFT_CODE(SQLITE_IOERR_UNLOCK), WEFT_CODE(SQLITE_IOERR_RDLOCK),
    WEFT_CODE(SQLITE_IOERR_DELETE), WEFT_CODE(SQLITE_IOERR_BLOCKED), WEFT_CODE(SQLITE_IOERR_NOMEM),
    WEFT_CODE(SQLITE_IOERR_ACCESS), WEFT_CODE(SQLITE_IOERR_CHECKRESERVEDLOCK), WEFT_CODE(SQLITE_IOERR_LOCK),
    WEFT_CODE(SQLITE_IOERR_CLOSE), WEFT_CODE(SQLITE_IOERR_DIR_CLOSE), WEFT_CODE(SQLITE_IOERR_SHMOPEN),
    WEFT_CODE(SQLITE_IOERR_SHMSIZE), WEFT_CODE(SQLITE_IOERR_SHMLOCK), WEFT_CODE(SQLITE_IOERR_SHMMAP),
    WEFT_CODE(SQLITE_IOERR_SEEK), WEFT_CODE(SQLITE_IOERR_DELETE_NOENT), WEFT_CODE(SQLITE_IOERR_MMAP),
    WEFT_CODE(SQLITE_IOERR_GETTEMPPATH), WEFT_CODE(SQLITE_IOERR_CONVPATH), WEFT_CODE(SQLITE_IOERR_VNODE),
    WEFT_CODE(SQLITE_IOERR_AUTH), WEFT_CODE(SQLITE_IOERR_BEGIN_ATOMIC), WEFT_CODE(SQLITE_IOERR_COMMIT_ATOMIC),
    WEFT_CODE(SQLITE_IOERR_ROLLBACK_ATOMIC), WEFT_CODE(SQLITE_IOERR_DATA), WEFT_CODE(SQLITE_IOERR_CORRUPTFS),
    WEFT_CODE(SQLITE_LOCKED_SHAREDCACHE), WEFT_CODE(SQLITE_LOCKED_VTAB), WEFT_CODE(SQLITE_BUSY_RECOVERY),
    WEFT_CODE(SQLITE_BUSY_SNAPSHOT), WEFT_CODE(SQLITE_BUSY_TIMEOUT), WEFT_CODE(SQLITE_CANTOPEN_NOTEMPDIR),
    WEFT_CODE(SQLITE_CANTOPEN_ISDIR), WEFT_CODE(SQLITE_CANTOPEN_FULLPATH), WEFT_CODE(SQLITE_CANTOPEN_CONVPATH),
    WEFT_CODE(SQLITE_CANTOPEN_DIRTYWAL), WEFT_CODE(SQLITE_CANTOPEN_SYMLINK), WEFT_CODE(SQLITE_CORRUPT_VTAB),
    WEFT_CODE(SQLITE_CORRUPT_SEQUENCE), WEFT_CODE(SQLITE_CORRUPT_INDEX), WEFT_CODE(SQLITE_READONLY_RECOVERY),
    WEFT_CODE(SQLITE_READONLY_CANTLOCK), WEFT_CODE(SQLITE_READONLY_ROLLBACK), WEFT_CODE(SQLITE_READONLY_DBMOVED),
    WEFT_CODE(SQLITE_READONLY_CANTINIT), WEFT_CODE(SQLITE_READONLY_DIRECTORY), WEFT_CODE(SQLITE_ABORT_ROLLBACK),
    WEFT_CODE(SQLITE_CONSTRAINT_CHECK), WEFT_CODE(SQLITE_CONSTRAINT_COMMITHOOK),
    WEFT_CODE(SQLITE_CONSTRAINT_FOREIGNKEY), WEFT_CODE(SQLITE_CONSTRAINT_FUNCTION),
    WEFT_CODE(SQLITE_CONSTRAINT_NOTNULL), WEFT_CODE(SQLITE_CONSTRAINT_PRIMARYKEY),
    WEFT_CODE(SQLITE_CONSTRAINT_TRIGGER), WEFT_CODE(SQLITE_CONSTRAINT_UNIQUE), WEFT_CODE(SQLITE_CONSTRAINT_VTAB),
    WEFT_CODE(SQLITE_CONSTRAINT_ROWID), WEFT_CODE(SQLITE_CONSTRAINT_PINNED),
    WEFT_CODE(SQLITE_CONSTRAINT_DATATYPE), WEFT_CODE(SQLITE_NOTICE_RECOVER_WAL),
    WEFT_CODE(SQLITE_NOTICE_RECOVER_ROLLBACK), WEFT_CODE(SQLITE_WARNING_AUTOINDEX), WEFT_CODE(SQLITE_AUTH_USER),
};
#undef WEFT_CODE

bool contains(std::string_view haystack, std::string_view needle) noexcept {
    return haystack.find(needle) != std::string_view::npos;
}

// Plain SQLITE_ERROR: the message is the only thing that tells the failures apart.
std::string_view sqlstate_for_generic_error(std::string_view m) noexcept {
    if (contains(m, "no such table")) return "42P01";             // undefined_table
    if (contains(m, "no such column")) return "42703";            // undefined_column
    if (contains(m, "syntax error") || contains(m, "incomplete input") || contains(m, "unrecognized token"))
        return "42601";                                           // syntax_error
    if (contains(m, "no such function")) return "42883";          // undefined_function
    if (contains(m, "wrong number of arguments to function")) return "42883";
    if (contains(m, "ambiguous column name")) return "42702";     // ambiguous_column
    if (contains(m, "already exists")) return "42P07";            // duplicate_table (tables, indexes)
    if (contains(m, "duplicate column name")) return "42701";     // duplicate_column
    if (contains(m, "no such index")) return "42704";             // undefined_object
    if (contains(m, "no such savepoint")) return "3B001";         // invalid_savepoint_specification
    if (contains(m, "no transaction is active")) return "25P01";  // no_active_sql_transaction
    if (contains(m, "within a transaction")) return "25001";      // active_sql_transaction
    if (contains(m, "too many SQL variables")) return "54023";    // too_many_arguments
    if (contains(m, "integer overflow")) return "22003";          // numeric_value_out_of_range
    if (contains(m, "misuse of aggregate") || contains(m, "misuse of window function")) return "42803";
    return "42000";  // syntax_error_or_access_rule_violation
}

// Constraint failures without a specific extended code. ON DELETE RESTRICT, for one, fails with
// SQLITE_CONSTRAINT_TRIGGER and the message "FOREIGN KEY constraint failed".
std::string_view sqlstate_for_other_constraint(std::string_view m) noexcept {
    if (contains(m, "FOREIGN KEY constraint failed")) return "23503";
    if (contains(m, "UNIQUE constraint failed")) return "23505";
    if (contains(m, "NOT NULL constraint failed")) return "23502";
    if (contains(m, "CHECK constraint failed")) return "23514";
    return "23000";  // integrity_constraint_violation (e.g. RAISE(ABORT, ...) in a trigger)
}

}  // namespace

std::string_view result_code_name(int code) noexcept {
    for (const auto& [c, name] : code_names)
        if (c == code) return name;
    for (const auto& [c, name] : code_names)
        if (c == (code & 0xff)) return name;
    return "SQLITE_UNKNOWN";
}

std::string_view sqlstate_for(int code, std::string_view message) noexcept {
    switch (code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID: return "23505";       // unique_violation
    case SQLITE_CONSTRAINT_FOREIGNKEY: return "23503";  // foreign_key_violation
    case SQLITE_CONSTRAINT_NOTNULL: return "23502";     // not_null_violation
    case SQLITE_CONSTRAINT_CHECK: return "23514";       // check_violation
    // A STRICT table refused a value of the wrong type ("cannot store TEXT value in INTEGER column").
    case SQLITE_CONSTRAINT_DATATYPE: return "22P02";    // invalid_text_representation
    case SQLITE_ERROR_MISSING_COLLSEQ: return "42704";  // undefined_object
    default: break;
    }
    switch (code & 0xff) {
    case SQLITE_ERROR: return sqlstate_for_generic_error(message);
    case SQLITE_CONSTRAINT: return sqlstate_for_other_constraint(message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return "55P03";                 // lock_not_available
    case SQLITE_INTERRUPT: return "57014";              // query_canceled
    case SQLITE_TOOBIG: return "54000";                 // program_limit_exceeded
    case SQLITE_NOMEM: return "53200";                  // out_of_memory
    case SQLITE_FULL: return "53100";                   // disk_full
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_NOLFS:
    case SQLITE_PROTOCOL: return "58030";               // io_error
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT: return "XX001";                 // data_corrupted
    case SQLITE_READONLY: return "25006";               // read_only_sql_transaction
    case SQLITE_AUTH: return "42501";                   // insufficient_privilege
    case SQLITE_MISMATCH: return "42804";               // datatype_mismatch
    case SQLITE_RANGE: return "42P02";                  // undefined_parameter (counts are checked first)
    case SQLITE_ABORT: return "40000";                  // transaction_rollback
    default: return "XX000";                            // internal_error (MISUSE, INTERNAL, SCHEMA, ...)
    }
}

bool is_fatal(int code) noexcept {
    switch (code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_IOERR:
    case SQLITE_MISUSE: return true;
    default: return false;
    }
}

std::string shorten_sql(std::string_view sql, std::size_t max) {
    std::string out;
    out.reserve(std::min(sql.size(), max + 16));
    bool space = false;
    std::size_t i = 0;
    for (; i < sql.size() && out.size() < max; ++i) {
        char c = sql[i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    if (i < sql.size()) {
        // Do not leave half a UTF-8 sequence behind.
        std::size_t start = out.size();
        while (start > 0 && (static_cast<unsigned char>(out[start - 1]) & 0xC0) == 0x80) --start;
        if (start > 0) {
            auto lead = static_cast<unsigned char>(out[start - 1]);
            std::size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (out.size() - (start - 1) < need) out.resize(start - 1);
        }
        out += fmt::format("... ({} bytes in all)", sql.size());
    }
    return out;
}

void throw_error(int code, std::string_view sqlite_message, std::string_view doing, std::string_view sql) {
    std::string message = fmt::format("{} [{}]", sqlite_message, result_code_name(code));
    if (!doing.empty()) {
        message += fmt::format(" while {}", doing);
        if (!sql.empty()) message += fmt::format(": {}", shorten_sql(sql));
    }
    orm::throw_database_error(sqlstate_for(code, sqlite_message), message);
}

}  // namespace orm::db::sqlite
