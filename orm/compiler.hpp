// The SQL compiler: renders a Query (dialect-free) to (sql, params) for one dialect. Every value
// is a bound parameter and every identifier is quoted by the dialect; queries of the same shape
// give the same text, so the drivers' prepared-statement caches hit.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "drivers/dialect.hpp"
#include "orm/for_update.hpp"
#include "orm/query.hpp"

namespace orm {

struct FieldInfo;
namespace db {
struct Features;
}

namespace detail {

// A combined query (union ...) on a backend without Features::supports_slicing_ordering_in_compound
// whose parts are ordered or sliced: orm::DatabaseError, as Django's. Called before it runs.
void check_compound_features(const Query& q, const db::Features& f);

using SetClause = std::vector<std::pair<const FieldInfo*, ExprPtr>>;

class SqlCompiler {
public:
    explicit SqlCompiler(const db::Dialect& d) : d_(d) {}

    // The rows: model mode selects every field (in declaration order) and then the annotations;
    // values mode selects Query::values in order.
    Sql select(const Query& q) const;
    // select() with the row-locking clause at the end: FOR UPDATE [NOWAIT | SKIP LOCKED]. The
    // caller has checked the backend's features (detail::lock_clause_needed).
    Sql select_for_update(const Query& q, const ForUpdate& lock) const;
    Sql count(const Query& q) const;
    Sql exists(const Query& q) const;
    // One row with one column per item (each an aggregate expression).
    Sql aggregate(const Query& q, std::span<const SelectItem> items) const;
    Sql update(const Query& q, const SetClause& set) const;
    Sql delete_rows(const Query& q) const;
    // INSERT INTO t (cols) VALUES (...) x rows [RETURNING pk]; the caller binds rows * cols
    // parameters, row by row.
    std::string insert(const ModelInfo& m, std::span<const FieldInfo* const> cols, std::size_t rows,
                       bool returning_pk) const;

private:
    const db::Dialect& d_;
};

}  // namespace detail
}  // namespace orm
