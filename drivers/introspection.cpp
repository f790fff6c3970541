// Introspection defaults built on the per-backend queries.
#include "drivers/introspection.hpp"

#include <algorithm>

namespace orm::db {

bool Introspection::table_exists(Connection& conn, std::string_view table) const {
    auto names = table_names(conn);
    return std::find(names.begin(), names.end(), table) != names.end();
}

}  // namespace orm::db
