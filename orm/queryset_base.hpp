// The compiled half of querysets: what QuerySet<T> (a thin template) and ValuesQuerySet share,
// and the type-erased operations behind models and querysets (fetching rows into objects,
// insert / update / delete of instances, bulk insert, chunked reads). Nothing here is a
// template over the model type.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "drivers/result.hpp"
#include "orm/expressions.hpp"
#include "orm/for_update.hpp"
#include "orm/function_ref.hpp"
#include "orm/q.hpp"
#include "orm/query_decl.hpp"

namespace orm {

class ModelInfo;
using detail::Sql;

namespace detail {

// Database aliases. A Query whose alias is empty has none chosen (no using_db()): it runs on the
// routers' choice (orm/routers.hpp), else "default". Aliases given to the functions below work
// the same way: empty means "ask the routers".
//
// A query over all rows of `m` whose database the routers choose when it runs.
QueryPtr make_routed_query(const ModelInfo& m);
// The query on database `alias` (empty: routed).
QueryPtr with_alias(const Query& q, std::string_view alias);
// The alias the query reads from / writes to.
std::string read_alias(const Query& q);
std::string write_alias(const Query& q);

// Runs the query's SELECT and, per row, loads the model's columns into the object make() returns
// (with its select_related objects, and its relation members bound to the database it ran on).
// With `lock`, a locking read (select_for_update), checked by lock_clause_needed().
void fetch_objects(const Query& q, FunctionRef<void*()> make, const ForUpdate* lock = nullptr);
// Scratch space for load_row(): one slot per select_related object (inline for up to 8).
class RelatedScratch {
public:
    void** get(std::size_t n) { return n <= sizeof inline_ / sizeof inline_[0] ? inline_ : grow(n); }

private:
    void** grow(std::size_t n);  // queryset_base.cpp
    void* inline_[8] = {};
    std::vector<void*> heap_;
};
// One row of q's SELECT into obj: its fields, bindings and select_related objects.
void load_row(const Query& q, const db::Row& row, void* obj, const std::string* alias, RelatedScratch& scratch);
// prefetch_related(): fills the relation caches of the objects q returned (one query per level).
void prefetch_objects(const Query& q, std::span<void* const> objects);
// The same for `count` objects at first, first + stride, ... (QuerySet<T>'s rows).
void prefetch_rows(const Query& q, void* first, std::size_t count, std::size_t stride);
// Reads the model's loaded fields (those not in `deferred`) from consecutive columns starting
// at `first`, and records `deferred` on the object.
void load_selected(const ModelInfo& m, void* obj, const db::Row& row, std::uint64_t deferred, std::size_t first = 0);
// Model::loaded(&T::member) / load_deferred() / get_deferred_fields(): one SELECT of the
// deferred columns by primary key on `alias` (empty: routed); the loaded ones stop being deferred.
void load_deferred_member(const ModelInfo& m, void* obj, const std::type_info& member_type, const void* member,
                          std::string_view alias);
void load_deferred_fields(const ModelInfo& m, void* obj, std::uint64_t mask, std::string_view alias);
std::vector<std::string> deferred_names(const ModelInfo& m, std::uint64_t mask);
// Whether deleting rows of m must consult the deletion collector (rows of other models refer to
// it with an on_delete other than do_nothing).
bool has_dependents(const ModelInfo& m);
// Deletes these rows of m and what on_delete says (cascades, SET NULL), after checking protect
// and restrict, in one transaction. Returns the rows of m deleted.
std::int64_t delete_with_collector(const ModelInfo& m, std::vector<Value> keys, std::string_view alias);
// A forever-living copy of an alias name (relation members keep a pointer to it).
const std::string* alias_ptr(std::string_view alias);
// The hot path of get(pk=...) and refresh_from_db(): one SELECT by primary key whose SQL is
// compiled once per model and dialect, loaded into `obj`. Returns whether a row had that key.
// A primary key matches at most one row, so no second row is looked for.
bool fetch_by_pk(const ModelInfo& m, const Value& pk, std::string_view alias, void* obj);
// Whether `lookup` is "pk", the primary key's name, or either with "__exact".
bool is_pk_lookup(const ModelInfo& m, std::string_view lookup) noexcept;
// A plain queryset (no filter, slice, annotation, values, distinct or none()): get(pk) may take
// the fast path.
bool is_plain(const Query& q) noexcept;
// Plain but for select_related / prefetch_related: get(pk) takes fetch_by_pk_related.
bool is_plain_with_related(const Query& q) noexcept;
// Manager<T>::select_related(names): a fresh queryset's query, memoized per thread.
QueryPtr plain_select_related(const ModelInfo& m, std::span<const std::string_view> names);
// get(pk=...) on such a queryset: one SELECT with the joins, its SQL compiled once per shape.
bool fetch_by_pk_related(const Query& q, const Value& pk, void* obj);
// The query get() runs (at most 21 rows, as Django), and its verdict on the rows it found.
QueryPtr get_query(const Query& q);
void check_get_result(const Query& q, std::size_t rows);
void check_get_result(const ModelInfo& m, std::size_t rows);
// exact-match conditions from {{"field", value}, ...}.
Q lookup_q(const Assignments& lookup);
// Sets a new object's fields: declared defaults first, then the plain names in `lookup`
// (names with "__" are lookups, not fields), then `values`. Throws FieldError / ValidationError.
void assign_fields(const ModelInfo& m, void* obj, const Assignments& lookup, const Assignments& values);
// The primary key is "unset" (auto-increment key still 0): save() inserts.
bool pk_unset(const ModelInfo& m, const void* obj);

void save_object(const ModelInfo& m, void* obj, std::string_view alias);
void insert_object(const ModelInfo& m, void* obj, std::string_view alias);
std::int64_t delete_object(const ModelInfo& m, void* obj, std::string_view alias);
void refresh_object(const ModelInfo& m, void* obj, std::string_view alias);
// update_or_create()'s update of the row it found: values are assigned to obj and saved;
// expressions (F("visits") + 1) are evaluated in the database against the row as it was, as
// Django's single UPDATE does, and obj is then read back so it holds what was stored.
void update_from_defaults(const ModelInfo& m, void* obj, const Assignments& defaults, std::string_view alias);
// update_or_create()'s insert when nothing matched: refuses expressions in defaults (an INSERT
// has no row to evaluate them against), naming them.
void check_insert_defaults(const ModelInfo& m, const Assignments& defaults);
// Inserts objects first, first + stride, ... in multi-row INSERTs (batch_size 0: as many rows
// as the backend's parameter limit allows, up to 1000) inside one transaction; fills auto keys
// where Features::can_return_rows_from_bulk_insert.
void bulk_insert(const ModelInfo& m, void* first, std::size_t count, std::size_t stride, std::string_view alias,
                 std::size_t batch_size);
// Runs hand-written SQL and maps result columns onto fields by column name.
void raw_objects(const ModelInfo& m, std::string_view sql, std::span<const Value> params, std::string_view alias,
                 FunctionRef<void*()> make);
// How many keys one `pk IN (...)` may carry on this database.
std::size_t max_in_list(std::string_view alias);
// A query for `pk IN ids`.
QueryPtr with_pk_in(const Query& q, std::span<const Value> ids);

// Reads a query in chunks: keyset pagination on the primary key when the query is ordered by it
// (or not at all), else LIMIT/OFFSET with the primary key as a tie-breaker.
class ChunkReader {
public:
    ChunkReader(QueryPtr q, std::size_t chunk_size, std::optional<ForUpdate> lock = std::nullopt);
    // Loads the next chunk (make() per row); false when no rows were left.
    bool next(FunctionRef<void*()> make);
    const Query& query() const noexcept { return *q_; }

private:
    QueryPtr q_;
    std::size_t chunk_;
    bool keyset_ = false;
    bool done_ = false;
    std::optional<Value> last_key_;
    std::int64_t position_ = 0;
    std::optional<ForUpdate> lock_;
};

}  // namespace detail

class QuerySetBase;

// A queryset given to union_() / intersection() / difference() (its query, shared; temporaries welcome).
class CombinedPart {
public:
    CombinedPart(const QuerySetBase& qs);  // NOLINT: implicit, for qs.union_({a, b})
    const detail::QueryPtr& query() const noexcept { return q_; }

private:
    detail::QueryPtr q_;
};

class QuerySetBase {
public:
    const detail::Query& query() const noexcept { return *q_; }
    // The query itself, shared: what a queryset used as a value (__in, Exists, Subquery) carries.
    const detail::QueryPtr& query_ptr() const noexcept { return q_; }
    // The database this queryset reads from: its using_db() alias, else the routers'
    // db_for_read, else "default" (Django's QuerySet.db).
    std::string db_alias() const;
    // The select_for_update() options, or null when the queryset does not lock rows.
    const ForUpdate* for_update() const noexcept { return lock_ ? &*lock_ : nullptr; }
    // The statement this queryset's evaluation sends, for its database / for a dialect
    // (the latter needs no database: unit tests and debugging).
    Sql sql() const;
    Sql sql(const db::Dialect& d) const;

    // COUNT(*) in the database.
    std::int64_t count() const;
    bool exists() const;
    // The distinct dates of a date or timestamp field's values truncated to `kind` ("year",
    // "month", "week", "day"), NULLs left out, ascending (or descending), as Django's dates().
    std::vector<Date> dates(std::string_view field, std::string_view kind, bool descending = false) const;
    // The same for a timestamp field with kind "year" ... "second" (UTC), as Django's datetimes().
    std::vector<Timestamp> datetimes(std::string_view field, std::string_view kind, bool descending = false) const;
    // UPDATE ... SET field = value|expression WHERE ...; returns the rows matched.
    std::int64_t update(const Assignments& set) const;
    // DELETE ... WHERE ...; returns the rows deleted.
    std::int64_t remove() const;
    // One aggregate over the rows: aggregate(Avg("price")) -> Value (NULL over no rows; Count 0).
    Value aggregate(const Expr& e) const;
    // Several, keyed by alias ("price__avg").
    std::map<std::string, Value> aggregate(std::initializer_list<Expr> exprs) const;
    std::map<std::string, Value> aggregate(const std::vector<std::pair<std::string, Expr>>& named) const;

    // Other querysets for union_() / intersection() / difference(): qs.union_({qs2, qs3}, true).
    using Others = std::initializer_list<CombinedPart>;

protected:
    // The compound of this queryset's query and the others' (detail::with_combined).
    detail::QueryPtr combine(Others others, db::Dialect::Compound op, bool all) const;

    explicit QuerySetBase(detail::QueryPtr q, std::optional<ForUpdate> lock = std::nullopt)
        : q_(std::move(q)), lock_(lock) {}
    detail::QueryPtr q_;
    // Kept beside the query rather than in it: set by select_for_update(), carried by chaining,
    // used by the statements that read rows (not by count / exists / aggregate).
    std::optional<ForUpdate> lock_;
};

inline CombinedPart::CombinedPart(const QuerySetBase& qs) : q_(qs.query_ptr()) {}

// One row of values() / values_list(): values by position or by name.
class ValuesRow {
public:
    ValuesRow(std::shared_ptr<const std::vector<std::string>> names, std::vector<Value> values)
        : names_(std::move(names)), values_(std::move(values)) {}
    std::size_t size() const noexcept { return values_.size(); }
    const Value& operator[](std::size_t i) const { return values_.at(i); }
    // Throws orm::FieldError listing the names when `name` is not in the row.
    const Value& operator[](std::string_view name) const;
    const std::vector<std::string>& names() const noexcept { return *names_; }
    const std::vector<Value>& values() const noexcept { return values_; }
    auto begin() const noexcept { return values_.begin(); }
    auto end() const noexcept { return values_.end(); }

private:
    std::shared_ptr<const std::vector<std::string>> names_;
    std::vector<Value> values_;
};

struct flat_t {};
inline constexpr flat_t flat{};
// values_list(orm::named, "title", "price"): rows read by name (row["title"]) as well as by position.
struct named_t {};
inline constexpr named_t named{};

// values() / values_list(): a lazy queryset whose rows are ValuesRow. Chains like QuerySet.
class ValuesQuerySet : public QuerySetBase {
public:
    explicit ValuesQuerySet(detail::QueryPtr q, std::optional<ForUpdate> lock = std::nullopt)
        : QuerySetBase(std::move(q), lock) {}

    // The same rows on database `alias` (empty: the routers decide again).
    ValuesQuerySet using_db(std::string_view alias) const;
    // Locks the rows it reads until the transaction ends (see QuerySet::select_for_update).
    ValuesQuerySet select_for_update(ForUpdate options = {}) const;

    ValuesQuerySet filter(const Q& q) const;
    ValuesQuerySet filter(std::string lookup, Operand v) const { return filter(Q(std::move(lookup), std::move(v))); }
    ValuesQuerySet exclude(const Q& q) const;
    ValuesQuerySet exclude(std::string lookup, Operand v) const { return exclude(Q(std::move(lookup), std::move(v))); }
    // Several conditions in one call: filter("a__gt", 1, "b", 2), filter(q1, q2).
    template <class A, class B, class... R>
        requires FilterTerms<A, B, R...>
    ValuesQuerySet filter(const A& a, const B& b, const R&... rest) const {
        return filter(detail::all_terms(a, b, rest...));
    }
    template <class A, class B, class... R>
        requires FilterTerms<A, B, R...>
    ValuesQuerySet exclude(const A& a, const B& b, const R&... rest) const {
        return exclude(detail::all_terms(a, b, rest...));
    }
    template <class... S>
    ValuesQuerySet order_by(const S&... names) const {
        const OrderBy list[] = {OrderBy(names)..., OrderBy("")};
        return chain(detail::with_order_by(*q_, std::span<const OrderBy>(list, sizeof...(S))));
    }
    ValuesQuerySet order_by_list(std::span<const std::string> names) const;
    ValuesQuerySet reverse() const;
    ValuesQuerySet slice(std::int64_t start, std::optional<std::int64_t> stop) const;
    ValuesQuerySet distinct(bool on = true) const;
    // DISTINCT ON these fields (Features::supports_distinct_on_fields; else NotSupportedError when it runs).
    template <class... S>
        requires(sizeof...(S) > 0 && (std::is_convertible_v<const S&, std::string_view> && ...))
    ValuesQuerySet distinct(const S&... names) const {
        const std::string list[] = {std::string(names)...};
        return chain(detail::with_distinct_fields(*q_, list));
    }
    ValuesQuerySet annotate(std::string name, const Expr& e) const;
    ValuesQuerySet annotate(const Expr& e) const { return annotate(std::string(), e); }
    // The rows of this and the other querysets (SQL UNION; all: UNION ALL keeps duplicates),
    // as Django's union() (`union` is a C++ keyword). See QuerySet::union_.
    ValuesQuerySet union_(const QuerySetBase& other, bool all = false) const { return union_({other}, all); }
    ValuesQuerySet union_(Others others, bool all = false) const {
        return chain(combine(others, db::Dialect::Compound::union_, all));
    }
    ValuesQuerySet intersection(const QuerySetBase& other, bool all = false) const { return intersection({other}, all); }
    ValuesQuerySet intersection(Others others, bool all = false) const {
        return chain(combine(others, db::Dialect::Compound::intersection, all));
    }
    ValuesQuerySet difference(const QuerySetBase& other, bool all = false) const { return difference({other}, all); }
    ValuesQuerySet difference(Others others, bool all = false) const {
        return chain(combine(others, db::Dialect::Compound::difference, all));
    }

    // Evaluation (cached, like QuerySet).
    const std::vector<ValuesRow>& list() const&;
    std::vector<ValuesRow> list() &&;
    auto begin() const { return rows().begin(); }
    auto end() const { return rows().end(); }
    std::size_t size() const { return rows().size(); }
    bool empty() const { return rows().empty(); }
    explicit operator bool() const { return !empty(); }
    std::optional<ValuesRow> first() const;
    std::int64_t count() const;
    bool exists() const;

private:
    ValuesQuerySet chain(detail::QueryPtr q) const { return ValuesQuerySet(std::move(q), lock_); }
    const std::vector<ValuesRow>& rows() const { return list(); }
    mutable std::shared_ptr<const std::vector<ValuesRow>> cache_;
};

namespace detail {
std::vector<Value> flat_values(const Query& q, const ForUpdate* lock = nullptr);
// latest(fields...) / earliest(fields...): the query for the one row (a FieldError without fields).
QueryPtr latest_query(const Query& q, std::span<const std::string> fields, bool latest);
// in_bulk(ids, field_name): the field, which must be unique (FieldError naming the unique ones otherwise).
const FieldInfo& in_bulk_field(const ModelInfo& m, std::string_view name);
// Runs a values-mode query, rows as Values converted to the items' types.
std::vector<std::vector<Value>> fetch_values(const Query& q, const ForUpdate* lock = nullptr);
}  // namespace detail

}  // namespace orm
