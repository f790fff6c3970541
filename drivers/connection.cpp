// Connection defaults shared by drivers: savepoints through the dialect, the Transaction guard.
#include "drivers/connection.hpp"

#include <fmt/format.h>

#include "drivers/backend.hpp"
#include "drivers/errors.hpp"
#include "drivers/dialect.hpp"
#include "drivers/features.hpp"
#include "drivers/hints.hpp"

namespace orm::db {

WEFT_HOT const Dialect& Connection::dialect() const { return backend().dialect(); }
const Features& Connection::features() const {
    const auto& overridden = config().features;
    return overridden ? *overridden : backend().features();
}

void Connection::savepoint(std::string_view name) { execute_script(dialect().savepoint_sql(name)); }
void Connection::release_savepoint(std::string_view name) { execute_script(dialect().release_savepoint_sql(name)); }
void Connection::rollback_to_savepoint(std::string_view name) {
    execute_script(dialect().rollback_to_savepoint_sql(name));
}

Transaction::~Transaction() {
    if (done_) return;
    try {
        if (!c_.is_broken() && c_.transaction_state() != TransactionState::idle) c_.rollback();
    } catch (...) {
        // A rollback that fails leaves the connection broken; the pool discards it.
    }
}

std::uint64_t Connection::copy_in(const CopyIn& load) {
    throw NotSupportedError(fmt::format("COPY is not supported by the {} backend (Features::supports_copy_in); "
                                        "load rows into {} with INSERT instead",
                                        dialect().name(), load.table));
}

bool Connection::query_first(std::string_view sql, std::span<const Value> params, RowCallback on_row, void* context) {
    Result r = execute(sql, params);
    if (!r.next()) return false;
    on_row(context, r.row());
    return true;
}

}  // namespace orm::db
