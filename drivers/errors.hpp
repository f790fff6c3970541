// The error hierarchy: one root carrying the SQLSTATE, the DB-API families beneath it, and the
// single place (make_database_error) that maps an SQLSTATE to a family. SQLite result codes are
// first translated to SQLSTATEs (drivers/sqlite) and then go through the same map.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace orm {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, std::string sqlstate = {})
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
    // Five-character SQLSTATE, or empty when the error did not come from a database statement.
    const std::string& sqlstate() const noexcept { return sqlstate_; }

private:
    std::string sqlstate_;
};

// Misuse of the library's own interface (bad URL, unknown option, unknown backend, closed connection).
class InterfaceError : public Error { using Error::Error; };
// Everything the database reports.
class DatabaseError : public Error { using Error::Error; };
class DataError : public DatabaseError { using DatabaseError::DatabaseError; };
class OperationalError : public DatabaseError { using DatabaseError::DatabaseError; };
// Could not connect, or the connection was lost; the connection is never reused afterwards.
class ConnectionError : public OperationalError { using OperationalError::OperationalError; };
// A statement, lock or pool wait exceeded its deadline.
class TimeoutError : public OperationalError { using OperationalError::OperationalError; };
// A write reached a database that only reads (SQLSTATE 25006): a PostgreSQL hot standby, a
// READ ONLY transaction, a read-only SQLite file. Retrying the same statement there cannot succeed.
class ReadOnlyError : public OperationalError { using OperationalError::OperationalError; };
class IntegrityError : public DatabaseError { using DatabaseError::DatabaseError; };
class UniqueViolation : public IntegrityError { using IntegrityError::IntegrityError; };
class ForeignKeyViolation : public IntegrityError { using IntegrityError::IntegrityError; };
class NotNullViolation : public IntegrityError { using IntegrityError::IntegrityError; };
class CheckViolation : public IntegrityError { using IntegrityError::IntegrityError; };
class InternalError : public DatabaseError { using DatabaseError::DatabaseError; };
// SQL syntax errors, missing tables/columns, wrong parameter counts.
class ProgrammingError : public DatabaseError { using DatabaseError::DatabaseError; };
class NotSupportedError : public DatabaseError { using DatabaseError::DatabaseError; };

// Throws the family that matches `sqlstate` (the one SQLSTATE -> type map).
[[noreturn]] void throw_database_error(std::string_view sqlstate, const std::string& message);

// Which family name an SQLSTATE maps to ("UniqueViolation", "ProgrammingError", ...); for tests and logs.
std::string_view error_family(std::string_view sqlstate) noexcept;

}  // namespace orm
