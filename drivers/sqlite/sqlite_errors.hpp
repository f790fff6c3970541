// SQLite result codes -> SQLSTATEs. This file only translates; the SQLSTATE -> exception family
// map is the one in drivers/errors.cpp (orm::throw_database_error).
#pragma once

#include <string>
#include <string_view>

namespace orm::db::sqlite {

// "SQLITE_CONSTRAINT_UNIQUE" for an extended code (falls back to the primary code's name).
std::string_view result_code_name(int code) noexcept;

// The SQLSTATE for an extended result code. Plain SQLITE_ERROR covers many unrelated failures,
// so its message ("no such table: x", "near \"FROM\": syntax error") picks the SQLSTATE.
std::string_view sqlstate_for(int code, std::string_view message) noexcept;

// True for codes after which the connection should not be trusted again (corrupt file, I/O).
bool is_fatal(int code) noexcept;

// SQL text for messages: whitespace runs collapsed, cut (on a UTF-8 boundary) past `max` bytes.
std::string shorten_sql(std::string_view sql, std::size_t max = 300);

// Throws the mapped orm::DatabaseError family with a message naming the SQLite message, the
// code name, what was being done and the SQL:
//   UNIQUE constraint failed: users.email [SQLITE_CONSTRAINT_UNIQUE] while executing: INSERT ...
[[noreturn]] void throw_error(int code, std::string_view sqlite_message, std::string_view doing,
                              std::string_view sql);

}  // namespace orm::db::sqlite
