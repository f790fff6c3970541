// The one map from SQLSTATE to error family. Drivers translate their native codes to SQLSTATEs
// and call throw_database_error(); nothing else decides which exception type a failure gets.
#include "drivers/errors.hpp"

namespace orm {

namespace {

enum class Family {
    data, operational, connection, timeout, read_only, integrity, unique, foreign_key, not_null, check,
    internal, programming, not_supported, database,
};

Family family_of(std::string_view s) noexcept {
    if (s.size() != 5) return Family::database;
    // Specific codes first.
    if (s == "23505") return Family::unique;
    if (s == "23503") return Family::foreign_key;
    if (s == "23502") return Family::not_null;
    if (s == "23514") return Family::check;
    if (s == "57014") return Family::timeout;      // query_canceled (statement timeout / cancel)
    if (s == "55P03") return Family::timeout;      // lock_not_available (NOWAIT, lock_timeout, busy)
    if (s == "57P01" || s == "57P02" || s == "57P03") return Family::connection;  // admin/crash shutdown
    if (s == "25P02") return Family::internal;     // in_failed_sql_transaction
    if (s == "25006") return Family::read_only;    // read_only_sql_transaction (hot standby, READ ONLY)
    if (s == "40001" || s == "40P01") return Family::operational;  // serialization failure, deadlock
    if (s == "0A000") return Family::not_supported;
    if (s == "08P01") return Family::programming;  // protocol violation: a malformed request of ours
    std::string_view cls = s.substr(0, 2);
    if (cls == "08") return Family::connection;
    if (cls == "22") return Family::data;
    if (cls == "23") return Family::integrity;
    if (cls == "42" || cls == "26" || cls == "34" || cls == "3F" || cls == "2B" || cls == "07")
        return Family::programming;
    if (cls == "53" || cls == "54" || cls == "55" || cls == "57" || cls == "58" || cls == "40" || cls == "25" ||
        cls == "HV")
        return Family::operational;
    if (cls == "XX" || cls == "P0" || cls == "39" || cls == "38" || cls == "F0") return Family::internal;
    if (cls == "0A") return Family::not_supported;
    return Family::database;
}

}  // namespace

std::string_view error_family(std::string_view sqlstate) noexcept {
    switch (family_of(sqlstate)) {
        case Family::data: return "DataError";
        case Family::operational: return "OperationalError";
        case Family::connection: return "ConnectionError";
        case Family::timeout: return "TimeoutError";
        case Family::read_only: return "ReadOnlyError";
        case Family::integrity: return "IntegrityError";
        case Family::unique: return "UniqueViolation";
        case Family::foreign_key: return "ForeignKeyViolation";
        case Family::not_null: return "NotNullViolation";
        case Family::check: return "CheckViolation";
        case Family::internal: return "InternalError";
        case Family::programming: return "ProgrammingError";
        case Family::not_supported: return "NotSupportedError";
        case Family::database: return "DatabaseError";
    }
    return "DatabaseError";
}

void throw_database_error(std::string_view sqlstate, const std::string& message) {
    std::string st(sqlstate);
    switch (family_of(sqlstate)) {
        case Family::data: throw DataError(message, st);
        case Family::operational: throw OperationalError(message, st);
        case Family::connection: throw ConnectionError(message, st);
        case Family::timeout: throw TimeoutError(message, st);
        case Family::read_only: throw ReadOnlyError(message, st);
        case Family::integrity: throw IntegrityError(message, st);
        case Family::unique: throw UniqueViolation(message, st);
        case Family::foreign_key: throw ForeignKeyViolation(message, st);
        case Family::not_null: throw NotNullViolation(message, st);
        case Family::check: throw CheckViolation(message, st);
        case Family::internal: throw InternalError(message, st);
        case Family::programming: throw ProgrammingError(message, st);
        case Family::not_supported: throw NotSupportedError(message, st);
        case Family::database: throw DatabaseError(message, st);
    }
    throw DatabaseError(message, st);
}

}  // namespace orm
