// The query tree: a dialect-free description of one SELECT / UPDATE / DELETE on a model, with
// every name already resolved against the model's metadata (so errors surface where the
// queryset is built, not when it runs). QuerySets share immutable Query objects and copy them
// to chain. sql/compiler.cpp renders a Query per dialect.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/dialect.hpp"
#include "drivers/schema.hpp"
#include "orm/expressions.hpp"
#include "orm/q.hpp"
#include "orm/query_decl.hpp"

namespace orm {

class ModelInfo;
struct Relation;

namespace detail {

enum class Lookup : std::uint8_t {
    exact, iexact, contains, icontains, startswith, istartswith, endswith, iendswith,
    in, gt, gte, lt, lte, range, isnull, regex, iregex,
};
std::string_view to_string(Lookup l) noexcept;
// The lookup named `name`, if any.
std::optional<Lookup> parse_lookup(std::string_view name) noexcept;

struct Query;

struct WhereNode {
    // in_query: lhs IN (sub), sub being a values query of one column (exclude across a
    // multi-valued relation, and related sets).
    // expr: lhs is a boolean expression (Exists(...), a boolean field or transform).
    enum class Kind : std::uint8_t { leaf, and_, or_, not_, nothing, in_query, expr };
    Kind kind = Kind::leaf;
    std::vector<std::shared_ptr<const WhereNode>> children;
    // leaf: lhs <lookup> rhs
    ExprPtr lhs;
    Lookup lookup = Lookup::exact;
    std::vector<ExprPtr> rhs;  // one operand; `in`: the list; `range`: two; `isnull`: a bool value
    bool lhs_nullable = false;  // a NULL lhs must not satisfy the negation (Django's exclude)
    bool aggregate = false;     // refers to an aggregate: belongs in HAVING
    std::shared_ptr<const Query> sub;  // in_query
};
using WherePtr = std::shared_ptr<const WhereNode>;

struct OrderTerm {
    ExprPtr expr;
    bool descending = false;
    Nulls nulls = Nulls::database;
};

// A selected expression with a name (values() items, annotations, aggregate results).
struct SelectItem {
    std::string name;
    ExprPtr expr;
    bool aggregate = false;
};

// A joined table: index n in Query::joins is table n + 1 (table 0 is the model's own).
struct Join {
    std::uint16_t parent = 0;           // the table it joins to
    const Relation* relation = nullptr; // the relation crossed (a many-to-many crosses two joins)
    const ModelInfo* model = nullptr;   // the joined table's model
    const FieldInfo* left = nullptr;    // the column on the parent's side
    const FieldInfo* right = nullptr;   // the column on the joined side
    bool outer = false;                 // LEFT OUTER JOIN (nullable or multi-valued); else INNER
    std::uint32_t group = 0;            // multi-valued: the filter() call that made it (0: shared)
    bool m2m_first = false;             // the join-table half of a many-to-many
};

class FieldAccess;

// A select_related() object: the table it comes from and where it goes.
struct RelatedSelect {
    std::uint16_t table = 0;      // the joined table whose columns are selected
    int parent = -1;              // index in Query::select_related of the object holding it (-1: the row's own object)
    // The key column crossed: a foreign key on the parent's model, or (reverse) the one-to-one
    // on the selected model that points at the parent.
    const FieldInfo* fk = nullptr;
    const FieldAccess* holder = nullptr;  // the parent's member that caches it (ForeignKey or RelatedOne)
    bool reverse = false;                 // a reverse one-to-one: no row caches "none" in the holder
};

struct Query;
struct Combined;

// A per-query cache slot for compiled SQL (set once, read lock-free); copies of a query start
// empty, since a copy is about to become another query.
struct SqlMemo {
    SqlMemo() = default;
    SqlMemo(const SqlMemo&) noexcept {}
    SqlMemo& operator=(const SqlMemo&) noexcept {
        entry.store(nullptr, std::memory_order_relaxed);
        return *this;
    }
    mutable std::atomic<const void*> entry{nullptr};
};

struct Query {
    const ModelInfo* model = nullptr;
    std::string alias = "default";  // the database (orm::connect alias)
    WherePtr where;                  // conditions on rows (AND of the filters)
    WherePtr having;                 // conditions on aggregate annotations
    std::vector<OrderTerm> order_by; // starts as the model's default ordering
    bool ordered_explicitly = false;
    std::optional<std::int64_t> limit;
    std::int64_t offset = 0;
    bool distinct = false;
    std::vector<ExprPtr> distinct_on;    // distinct("a", "b"): SELECT DISTINCT ON (a, b)
    bool none = false;                   // none(): no rows and no SQL
    std::vector<SelectItem> annotations; // annotate(): computed per row (or per group)
    bool values_mode = false;            // values()/values_list(): rows of Values
    std::vector<SelectItem> values;      // the selected fields/annotations in values mode
    std::vector<Join> joins;             // tables joined for lookups across relations
    std::vector<RelatedSelect> select_related;
    std::vector<PrefetchSpec> prefetch;  // prefetch_related() paths / Prefetch objects, run after the rows are read
    // only() / defer(): the model's fields (bit FieldInfo::index) left out of the SELECT; the
    // objects record them and load them on request (Model::loaded / load_deferred).
    std::uint64_t deferred = 0;
    // union() / intersection() / difference(): the query is the compound of these parts; its
    // own order_by / limit / offset apply to the combined rows, its shape (model, deferred,
    // annotations, values) is the first part's.
    std::shared_ptr<const Combined> combined;
    std::uint32_t filter_calls = 0;      // numbers the filter() calls (multi-valued join groups)
    // values() after an aggregate annotate(): the groups stay one per model row (Django), not
    // one per distinct combination of the selected values.
    bool group_by_model = false;
    SqlMemo by_pk_sql;                   // get(pk) on a select_related queryset (queryset_base.cpp)

    bool sliced() const noexcept { return limit.has_value() || offset > 0; }
    bool has_aggregate_select() const noexcept;
};

struct Combined {
    db::Dialect::Compound op = db::Dialect::Compound::union_;
    bool all = false;
    std::vector<QueryPtr> parts;
};

// `lhs IN (sub)` as a condition (sub: a values query with one column).
QueryPtr with_in_query(const Query& q, ExprPtr lhs, QueryPtr sub, bool negate);
// The expression of a field of the query's model (table 0).
ExprPtr field_ref(const FieldInfo& f, std::uint16_t table = 0);
// The model a table of the query holds.
const ModelInfo& table_model(const Query& q, std::uint16_t table);

// Resolves names in an expression against the query's model and annotations.
// (Adds the joins a path across relations needs to q.)
ExprPtr resolve_expr(Query& q, const ExprPtr& e, bool allow_aggregate);
bool contains_aggregate(const ExprNode& e) noexcept;
// The column type an expression yields, when known (for reading results back consistently).
std::optional<db::ColumnType> output_type(const ExprNode& e) noexcept;
// "price" -> the field's column expression; "-price" -> descending (validates names).
OrderTerm resolve_order_term(Query& q, std::string_view name);

}  // namespace detail
}  // namespace orm
