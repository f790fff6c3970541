// Error messages and families for PostgreSQL failures (the family map itself is drivers/errors.cpp).
#include "drivers/postgres/pg_errors.hpp"

#include <fmt/format.h>

#include "drivers/errors.hpp"

namespace orm::db::postgres {

namespace {
std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
    return s;
}
}  // namespace

std::string shorten_sql(std::string_view sql) {
    constexpr std::size_t max = 300;
    if (sql.size() <= max) return std::string(sql);
    return fmt::format("{}... ({} bytes)", sql.substr(0, max), sql.size());
}

PgFailure describe_failure(const PgHandle::Result& r, std::string_view connection_error, std::string_view sql) {
    using F = PgHandle::Result::Field;
    PgFailure f;
    f.sqlstate = std::string(r.error_field(F::sqlstate));
    std::string_view primary = r.error_field(F::primary);
    if (primary.empty()) primary = trim(r.error_message());
    if (primary.empty()) primary = trim(connection_error);
    if (primary.empty()) primary = "unknown error (libpq returned no result)";
    f.message = std::string(primary);
    if (!f.sqlstate.empty()) f.message += fmt::format(" [SQLSTATE {}]", f.sqlstate);
    if (auto d = r.error_field(F::detail); !d.empty()) f.message += fmt::format("\nDETAIL: {}", d);
    if (auto h = r.error_field(F::hint); !h.empty()) f.message += fmt::format("\nHINT: {}", h);
    // A write on a hot standby: the server only says "read-only transaction".
    if (f.sqlstate == "25006")
        f.message += "\nweft: this server or transaction only reads (a hot standby, or a READ ONLY transaction); send "
                     "writes to the primary (orm::PrimaryReplicaRouter routes them there)";
    if (!sql.empty()) {
        auto pos = r.error_field(F::position);
        f.message += pos.empty() ? fmt::format("\nSQL: {}", shorten_sql(sql))
                                 : fmt::format("\nSQL (at character {}): {}", pos, shorten_sql(sql));
    }
    return f;
}

void throw_failure(const PgFailure& f, bool connection_lost) {
    if (connection_lost)
        throw ConnectionError("connection to PostgreSQL lost: " + f.message, f.sqlstate.empty() ? "08006" : f.sqlstate);
    if (f.sqlstate.empty()) throw OperationalError(f.message);  // libpq itself failed, connection still up
    throw_database_error(f.sqlstate, f.message);
}

}  // namespace orm::db::postgres
