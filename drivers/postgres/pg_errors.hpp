// Turning a failed PGresult into an orm error. Shared by the sync and async paths: both end
// with a finished result and ask describe_failure() / throw_failure() what it means.
#pragma once

#include <string>
#include <string_view>

#include "drivers/postgres/pg_libpq.hpp"

namespace orm::db::postgres {

struct PgFailure {
    std::string sqlstate;   // from PG_DIAG_SQLSTATE; empty for client-side libpq errors
    std::string message;    // primary message, DETAIL, HINT and the (shortened) SQL
};

// `connection_error` (PQerrorMessage) is used when the result carries no message of its own.
PgFailure describe_failure(const PgHandle::Result& r, std::string_view connection_error, std::string_view sql);

// Throws the error family for `f`: orm::ConnectionError when the connection is lost (SQLSTATE
// 08006 when the server gave none), else the SQLSTATE map (orm::throw_database_error).
[[noreturn]] void throw_failure(const PgFailure& f, bool connection_lost);

// SQL shortened for messages.
std::string shorten_sql(std::string_view sql);

}  // namespace orm::db::postgres
