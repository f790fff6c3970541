// The compiled queryset operations: evaluation, count / exists / aggregate / update / delete,
// values rows, get() verdicts, chunked reads.
#include "orm/queryset_base.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "drivers/column_zero.hpp"
#include "drivers/features.hpp"
#include "drivers/hints.hpp"
#include "orm/errors.hpp"
#include "orm/compiler.hpp"
#include "orm/functions.hpp"
#include "orm/model_info.hpp"
#include "orm/query.hpp"
#include "orm/routers.hpp"
#include "orm/session.hpp"

namespace orm {

namespace detail {

namespace {

// The 64-bit range an integer result must fit, said in the words of an overflow message.
[[noreturn]] WEFT_COLD void integer_overflow(std::string_view name, std::string_view value) {
    throw DataError(fmt::format("'{}': the result {} is outside the 64-bit integer range ({} to {}); an "
                                "integer expression's result must fit in int64 (sum fewer rows, or Cast the "
                                "operand to a floating-point field first)",
                                name, value, INT64_MIN, INT64_MAX),
                    "22003");
}

// A result column read back as the type its expression has, so both backends give the same
// kinds (PostgreSQL's SUM(bigint) is numeric, SQLite's MAX(timestamp) is text, ...). `name` is
// the result's name (the aggregate or annotation), for the overflow error: an integer result
// beyond int64 is a DataError on every backend, never a wrapped or rounded value.
Value read_typed(const db::Row& row, std::size_t i, std::optional<db::ColumnType> t, std::string_view name) {
    Value v = row.value(i);
    if (v.is_null() || !t) return v;
    const ValueKind k = v.kind();
    if ((*t == db::ColumnType::int32 || *t == db::ColumnType::int64) && k == ValueKind::float64) {
        // An integer expression that came back as a fraction or beyond int64 (a numeric).
        const double d = v.as_double();
        // [-2^63, 2^63) exactly: both bounds are powers of two, so the comparison is exact.
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
            std::string exact;
            try {
                exact = std::string(row.get<std::string_view>(i));  // numeric's own digits
            } catch (const Error&) {
                exact = fmt::format("{}", d);
            }
            integer_overflow(name, exact);
        }
        auto x = static_cast<std::int64_t>(std::llround(d));
        if (*t == db::ColumnType::int32 && x >= INT32_MIN && x <= INT32_MAX) return Value(static_cast<std::int32_t>(x));
        return Value(x);
    }
    try {
        switch (*t) {
            case db::ColumnType::int32:
            case db::ColumnType::int64: {
                std::int64_t x = 0;
                if (k == ValueKind::int32 || k == ValueKind::int64) x = v.as_int64();
                else if (k == ValueKind::boolean) x = v.as_bool() ? 1 : 0;
                else return v;
                if (*t == db::ColumnType::int32 && x >= INT32_MIN && x <= INT32_MAX)
                    return Value(static_cast<std::int32_t>(x));
                return Value(x);
            }
            case db::ColumnType::float64:
                if (k == ValueKind::int32 || k == ValueKind::int64) return Value(static_cast<double>(v.as_int64()));
                return v;
            case db::ColumnType::boolean:
                if (k == ValueKind::int32 || k == ValueKind::int64) return Value(v.as_int64() != 0);
                return v;
            case db::ColumnType::timestamp:
                if (k == ValueKind::text) return Value(parse_timestamp(v.as_text()));
                if (k == ValueKind::date) return Value(Timestamp(v.as_date()));
                return v;
            case db::ColumnType::date:
                if (k == ValueKind::text) return Value(parse_date(v.as_text()));
                if (k == ValueKind::timestamp) return Value(std::chrono::floor<std::chrono::days>(v.as_timestamp()));
                return v;
            default: return v;
        }
    } catch (const DataError&) {
        return v;
    }
}

// SQLite's integer arithmetic and SUM() stop with "integer overflow" (22003) rather than wrap:
// the same DataError as PostgreSQL's numeric beyond int64, naming what overflowed.
template <class Fn>
auto naming_overflow(const std::vector<SelectItem>& items, Fn&& fn) {
    try {
        return fn();
    } catch (const DataError& e) {
        if (e.sqlstate() != "22003") throw;
        std::vector<std::string_view> names;
        for (const auto& it : items)
            if (auto t = output_type(*it.expr); t && (*t == db::ColumnType::int32 || *t == db::ColumnType::int64))
                names.push_back(it.name);
        if (names.empty()) throw;
        throw DataError(fmt::format("{} '{}': the result is outside the 64-bit integer range ({} to {}) ({}); an "
                                    "integer expression's result must fit in int64",
                                    names.size() == 1 ? "integer expression" : "one of the integer expressions",
                                    fmt::join(names, "', '"), INT64_MIN, INT64_MAX, e.what()),
                        "22003");
    }
}

// (Adds to q the joins the expressions need.)
std::vector<SelectItem> resolve_aggregates(Query& q, const std::vector<std::pair<std::string, Expr>>& named) {
    std::vector<SelectItem> items;
    for (const auto& [name, e] : named) {
        SelectItem it;
        it.name = name.empty() ? e.default_alias() : name;
        if (it.name.empty())
            throw FieldError("aggregate() needs a name for this expression: aggregate({{\"name\", expression}})");
        it.expr = resolve_expr(q, e.node(), true);
        if (!contains_aggregate(*it.expr))
            throw FieldError(fmt::format("aggregate(): '{}' is not an aggregate expression (use Count, Sum, Avg, Min "
                                         "or Max)",
                                         it.name));
        it.aggregate = true;
        items.push_back(std::move(it));
    }
    return items;
}

std::map<std::string, Value> run_aggregate(const Query& q, const std::vector<SelectItem>& items) {
    std::map<std::string, Value> out;
    if (q.none) {
        for (const auto& it : items)
            out[it.name] = it.expr->kind == ExprKind::aggregate && it.expr->fn == AggFn::count ? Value(std::int64_t{0})
                                                                                               : Value();
        return out;
    }
    RoutedAlias alias(Access::read, *q.model, q.alias);
    Lease lease(alias);
    return naming_overflow(items, [&] {
        check_compound_features(q, lease.features());
        auto r = lease.execute(SqlCompiler(lease.dialect()).aggregate(q, items));
        if (!r.next()) throw InternalError("aggregate query returned no row");
        auto row = r.row();
        for (std::size_t i = 0; i < items.size(); ++i)
            out[items[i].name] = read_typed(row, i, output_type(*items[i].expr), items[i].name);
        while (r.next()) {
        }
        return out;
    });
}

// The SELECT of a query, with the row-locking clause when `lock` asks for one and the backend has it.
Sql select_sql(const Lease& lease, const Query& q, const ForUpdate* lock) {
    check_compound_features(q, lease.features());
    SqlCompiler c(lease.dialect());
    if (lock && lock_clause_needed(*lock, lease.in_transaction(), lease.features(), lease.dialect().name()))
        return c.select_for_update(q, *lock);
    return c.select(q);
}

}  // namespace

QueryPtr with_alias(const Query& q, std::string_view alias) {
    auto copy = std::make_shared<Query>(q);
    copy->alias = std::string(alias);
    return copy;
}

QueryPtr make_routed_query(const ModelInfo& m) { return with_alias(*make_query(m), {}); }

std::string read_alias(const Query& q) { return std::string(RoutedAlias(Access::read, *q.model, q.alias).get()); }
std::string write_alias(const Query& q) { return std::string(RoutedAlias(Access::write, *q.model, q.alias).get()); }

void fetch_objects(const Query& q, FunctionRef<void*()> make, const ForUpdate* lock) {
    if (q.none) return;
    RoutedAlias alias(Access::read, *q.model, q.alias);
    Lease lease(alias);
    auto r = lease.execute(select_sql(lease, q, lock));
    const ModelInfo& m = *q.model;
    if (!m.needs_bind() && q.select_related.empty() && !q.deferred) {
        while (r.next()) m.load(make(), r.row());
        return;
    }
    const std::string* bound = alias_ptr(alias.get());
    RelatedScratch related;
    while (r.next()) load_row(q, r.row(), make(), bound, related);
}

std::vector<std::vector<Value>> fetch_values(const Query& q, const ForUpdate* lock) {
    std::vector<std::vector<Value>> rows;
    if (q.none) return rows;
    RoutedAlias alias(Access::read, *q.model, q.alias);
    Lease lease(alias);
    std::vector<std::optional<db::ColumnType>> types;
    for (const auto& it : q.values) types.push_back(output_type(*it.expr));
    return naming_overflow(q.values, [&] {
        auto r = lease.execute(select_sql(lease, q, lock));
        while (r.next()) {
            auto row = r.row();
            std::vector<Value> values;
            values.reserve(types.size());
            for (std::size_t i = 0; i < types.size(); ++i) values.push_back(read_typed(row, i, types[i], q.values[i].name));
            rows.push_back(std::move(values));
        }
        return std::move(rows);
    });
}

std::vector<Value> flat_values(const Query& q, const ForUpdate* lock) {
    if (q.values.size() != 1)
        throw InterfaceError(fmt::format("values_list(..., orm::flat) needs exactly one field, not {}", q.values.size()));
    std::vector<Value> out;
    for (auto& row : fetch_values(q, lock)) out.push_back(std::move(row[0]));
    return out;
}

bool is_pk_lookup(const ModelInfo& m, std::string_view lookup) noexcept {
    if (lookup.ends_with("__exact")) lookup.remove_suffix(7);
    return lookup == "pk" || lookup == m.pk().name;
}

bool is_plain(const Query& q) noexcept {
    return is_plain_with_related(q) && q.joins.empty() && q.select_related.empty() && q.prefetch.empty();
}

bool is_plain_with_related(const Query& q) noexcept {
    return !q.where && !q.having && !q.sliced() && !q.none && !q.distinct && q.annotations.empty() && !q.values_mode &&
           !q.deferred && !q.combined;
}

void** RelatedScratch::grow(std::size_t n) {
    heap_.resize(n);
    return heap_.data();
}

void prefetch_rows(const Query& q, void* first, std::size_t count, std::size_t stride) {
    std::vector<void*> objs(count);
    for (std::size_t i = 0; i < count; ++i) objs[i] = static_cast<char*>(first) + i * stride;
    prefetch_objects(q, objs);
}

PkGet pk_get_path(const Query& q) noexcept {
    if (!is_plain_with_related(q)) return PkGet::other;
    if (!q.prefetch.empty()) return PkGet::related_prefetch;
    return q.joins.empty() && q.select_related.empty() ? PkGet::plain : PkGet::related;
}

namespace {

const std::string& shared_select_by_pk_sql(const ModelInfo& m, const db::Dialect& d);

// Any value of the primary key's kind (only the SQL text of a query built with it is kept).
Value shared_select_by_pk_sample(const ModelInfo& m) { return db::zero_value(m.pk().type); }

// "SELECT <all columns> FROM t WHERE t.pk = $1", per model and dialect, compiled once.
WEFT_HOT const std::string& select_by_pk_sql(const ModelInfo& m, const db::Dialect& d) {
    // A per-thread memo of the last few (model, dialect) pairs in front of the shared map, so a
    // repeated get by pk takes no lock. Entries point into the map, whose nodes are never erased.
    struct Memo {
        const ModelInfo* model;
        const db::Dialect* dialect;
        const std::string* sql;
    };
    constexpr std::size_t memo_size = 4;
    thread_local Memo memo[memo_size] = {};
    thread_local std::size_t memo_next = 0;
    for (const Memo& e : memo)
        if (e.model == &m && e.dialect == &d) return *e.sql;
    const std::string& sql = shared_select_by_pk_sql(m, d);
    memo[memo_next] = {&m, &d, &sql};
    memo_next = (memo_next + 1) % memo_size;
    return sql;
}

// select_by_pk_sql() for threads that have not memoized the pair yet.
WEFT_NOINLINE const std::string& shared_select_by_pk_sql(const ModelInfo& m, const db::Dialect& d) {
    static std::mutex mu;
    static std::map<std::pair<const ModelInfo*, const db::Dialect*>, std::string> cache;
    std::lock_guard lock(mu);
    auto key = std::make_pair(&m, &d);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    Query q;
    q.model = &m;
    auto filtered = with_filter(q, Q("pk", shared_select_by_pk_sample(m)), false);
    std::string sql = SqlCompiler(d).select(*filtered).text;
    return cache.emplace(key, std::move(sql)).first->second;
}

}  // namespace

namespace {

// fetch_by_pk() with a key of the primary key's own kind.
WEFT_HOT bool fetch_by_own_kind_pk(const ModelInfo& m, const Value& key, std::string_view alias, void* obj) {
    RoutedAlias on(Access::read, m, alias);  // no routers: one relaxed load
    Lease lease(on);
    if (!lease.query_first(select_by_pk_sql(m, lease.dialect()), std::span<const Value>(&key, 1),
                           [&](const db::Row& row) { m.load(obj, row); }))
        return false;
    if (m.needs_bind()) m.bind(obj, alias_ptr(on.get()));
    return true;
}

// fetch_by_pk() with a key of another kind (an int for a 64-bit key, text for a date): converted
// first, which throws for a value the key's type cannot take.
WEFT_NOINLINE bool fetch_by_converted_pk(const ModelInfo& m, const Value& pk, std::string_view alias, void* obj) {
    const Value key = m.normalize(m.pk(), pk);
    return !key.is_null() && fetch_by_own_kind_pk(m, key, alias, obj);
}

}  // namespace

WEFT_HOT bool fetch_by_pk(const ModelInfo& m, const Value& pk, std::string_view alias, void* obj) {
    if (pk.is_null()) return false;
    // A key of the column's kind (the usual case) is used as it is, without a copy.
    if (!kind_matches(m.pk().type, pk.kind())) [[unlikely]]
        return fetch_by_converted_pk(m, pk, alias, obj);
    return fetch_by_own_kind_pk(m, pk, alias, obj);
}

namespace {

// "SELECT <model and select_related columns> FROM t JOIN ... WHERE t.pk = $1" for a plain
// select_related() queryset, compiled once per shape (the joins it selects) and dialect, and
// remembered in the query itself (a hoisted or memoized queryset finds it with one load).
struct RelatedSqlEntry {
    const db::Dialect* dialect;
    std::string sql;
};

const std::string& select_related_by_pk_sql(const Query& q, const db::Dialect& d) {
    if (auto* e = static_cast<const RelatedSqlEntry*>(q.by_pk_sql.entry.load(std::memory_order_acquire));
        e && e->dialect == &d)
        return e->sql;
    std::string key;
    auto add = [&](const void* p) { key.append(reinterpret_cast<const char*>(&p), sizeof p); };
    add(q.model);
    add(&d);
    for (const auto& j : q.joins) {
        add(j.relation);
        key += static_cast<char>(j.parent);
        key += static_cast<char>(j.m2m_first);
    }
    key += '|';
    for (const auto& rs : q.select_related) {
        add(rs.fk);
        key += static_cast<char>(rs.table);
    }
    static std::mutex mu;
    static std::map<std::string, RelatedSqlEntry> cache;  // nodes are never erased
    std::lock_guard lock(mu);
    auto it = cache.find(key);
    if (it == cache.end()) {
        Query shape = q;
        shape.order_by.clear();
        shape.prefetch.clear();
        auto filtered = with_filter(shape, Q("pk", shared_select_by_pk_sample(*q.model)), false);
        it = cache.emplace(key, RelatedSqlEntry{&d, SqlCompiler(d).select(*filtered).text}).first;
    }
    q.by_pk_sql.entry.store(&it->second, std::memory_order_release);
    return it->second.sql;
}

}  // namespace

QueryPtr plain_select_related(const ModelInfo& m, std::span<const std::string_view> names) {
    // Manager<T>::select_related(...) is often rebuilt per call (select_related("author").get(pk)
    // in a loop): the same names on the same model give the same immutable query, so a small
    // per-thread memo hands it back, with its compiled SQL.
    struct Entry {
        const ModelInfo* model = nullptr;
        std::vector<std::string> names;
        QueryPtr query;
    };
    constexpr std::size_t size = 8;
    thread_local Entry memo[size];
    thread_local std::size_t next = 0;
    for (const Entry& e : memo)
        if (e.model == &m && std::equal(e.names.begin(), e.names.end(), names.begin(), names.end())) return e.query;
    std::vector<std::string> owned(names.begin(), names.end());
    QueryPtr q = with_select_related(*make_routed_query(m), owned);
    Entry& e = memo[next];
    next = (next + 1) % size;
    e.model = &m;
    e.names = std::move(owned);
    e.query = q;
    return q;
}

bool fetch_by_pk_related(const Query& q, const Value& pk, void* obj) {
    const ModelInfo& m = *q.model;
    std::optional<Value> converted;
    const Value* key = &pk;
    if (!pk.is_null() && !kind_matches(m.pk().type, pk.kind())) key = &converted.emplace(m.normalize(m.pk(), pk));
    if (key->is_null()) return false;
    RoutedAlias on(Access::read, m, q.alias);
    Lease lease(on);
    const std::string* bound = alias_ptr(on.get());
    return lease.query_first(select_related_by_pk_sql(q, lease.dialect()), std::span<const Value>(key, 1),
                             [&](const db::Row& row) {
                                 RelatedScratch related;
                                 load_row(q, row, obj, bound, related);
                             });
}

QueryPtr get_query(const Query& q) {
    if (q.sliced()) return std::make_shared<Query>(q);
    // Ordering cannot change which rows match; at most 21 are read to report "more than 20".
    auto unordered = std::make_shared<Query>(q);
    unordered->order_by.clear();
    return with_slice(*unordered, 0, 21);
}

void check_get_result(const Query& q, std::size_t rows) { check_get_result(*q.model, rows); }

void check_get_result(const ModelInfo& m, std::size_t rows) {
    if (rows == 1) return;
    const std::string& name = m.type_name();
    if (rows == 0) m.throw_does_not_exist(fmt::format("{} matching query does not exist.", name));
    m.throw_multiple_objects(fmt::format("get() returned more than one {} -- it returned {}!", name,
                                                rows > 20 ? std::string("more than 20") : std::to_string(rows)));
}

Q lookup_q(const Assignments& lookup) {
    Q q;
    for (const auto& [name, v] : lookup) q &= Q(name, v);
    return q;
}

std::size_t max_in_list(std::string_view alias) {
    std::size_t n = features_for(alias).max_query_params;
    return n > 100 ? n - 50 : n;
}

QueryPtr with_pk_in(const Query& q, std::span<const Value> ids) {
    return with_filter(q, Q("pk__in", Operand(std::vector<Value>(ids.begin(), ids.end()))), false);
}

QueryPtr latest_query(const Query& q, std::span<const std::string> fields, bool latest) {
    const char* what = latest ? "latest" : "earliest";
    if (fields.empty())
        throw FieldError(fmt::format("{}() needs at least one field name to order by: {}(\"published\") (weft has "
                                     "no Meta.get_latest_by)",
                                     what, what));
    if (q.sliced()) throw InterfaceError(fmt::format("Cannot change a query once a slice has been taken ({}())", what));
    std::vector<std::string> names;
    for (const auto& f : fields) {
        if (!latest) {
            names.push_back(f);
        } else if (f.starts_with('-')) {
            names.push_back(f.substr(1));
        } else {
            names.push_back("-" + f);
        }
    }
    auto ordered = with_order_by(q, std::span<const std::string>(names));
    return with_slice(*ordered, 0, 1);
}

const FieldInfo& in_bulk_field(const ModelInfo& m, std::string_view name) {
    const FieldInfo* f = name == "pk" ? &m.pk() : m.find(name);
    if (!f) throw FieldError(fmt::format("in_bulk(): Cannot resolve keyword '{}' into field. Choices are: {}", name, m.choices()));
    if (f == &m.pk() || f->unique) return *f;
    std::vector<std::string> unique;
    for (const auto& g : m.fields())
        if (&g == &m.pk() || g.unique) unique.push_back(g.name);
    throw FieldError(fmt::format("in_bulk()'s field_name must be a unique field but '{}' isn't. Unique fields of {}: {}",
                                 name, m.type_name(), fmt::join(unique, ", ")));
}

ChunkReader::ChunkReader(QueryPtr q, std::size_t chunk_size, std::optional<ForUpdate> lock)
    : q_(std::move(q)), chunk_(std::max<std::size_t>(1, chunk_size)), lock_(lock) {
    const Query& query = *q_;
    const FieldInfo& pk = query.model->pk();
    bool by_pk = query.order_by.empty() ||
                 (query.order_by.size() == 1 && !query.order_by[0].descending &&
                  query.order_by[0].expr->kind == ExprKind::field && query.order_by[0].expr->field == &pk);
    // A combined query (union ...) cannot be filtered: it is read by LIMIT / OFFSET.
    keyset_ = by_pk && !query.sliced() && !query.distinct && !query.has_aggregate_select() && !query.having &&
              !query.combined;
}

bool ChunkReader::next(FunctionRef<void*()> make) {
    if (done_ || q_->none) return false;
    QueryPtr page;
    const std::int64_t n = static_cast<std::int64_t>(chunk_);
    if (keyset_) {
        auto base = last_key_ ? with_filter(*q_, Q("pk__gt", *last_key_), false) : std::make_shared<Query>(*q_);
        const std::string pk = "pk";
        auto ordered = with_order_by(*base, std::span<const std::string>(&pk, 1));
        page = with_slice(*ordered, 0, n);
    } else {
        auto ordered = std::make_shared<Query>(*q_);
        const FieldInfo& pk = q_->model->pk();
        bool has_pk = false;
        for (const auto& t : ordered->order_by)
            has_pk = has_pk || (t.expr->kind == ExprKind::field && t.expr->field == &pk);
        if (!has_pk) ordered->order_by.push_back(resolve_order_term(*ordered, "pk"));
        page = with_slice(*ordered, position_, position_ + n);
    }
    std::size_t rows = 0;
    void* last = nullptr;
    fetch_objects(
        *page,
        [&]() -> void* {
            ++rows;
            return last = make();
        },
        lock_ ? &*lock_ : nullptr);
    position_ += static_cast<std::int64_t>(rows);
    if (rows < chunk_) done_ = true;
    if (rows && keyset_) last_key_ = q_->model->pk().access->get(last);
    return rows > 0;
}

}  // namespace detail

Sql QuerySetBase::sql(const db::Dialect& d) const { return detail::SqlCompiler(d).select(*q_); }
Sql QuerySetBase::sql() const {
    detail::RoutedAlias alias(detail::Access::read, *q_->model, q_->alias);
    const db::Dialect& d = detail::dialect_for(alias);
    if (!lock_) return sql(d);
    // The statement as it would run inside a transaction on this database.
    const db::Features& f = detail::features_for(alias);
    if (!detail::lock_clause_needed(*lock_, true, f, d.name())) return sql(d);
    return detail::SqlCompiler(d).select_for_update(*q_, *lock_);
}

std::string QuerySetBase::db_alias() const { return detail::read_alias(*q_); }

namespace {

// dates() / datetimes(): the distinct truncated values of a field, NULLs left out, ordered.
std::vector<Value> truncated_values(const detail::Query& q, std::string_view field, std::string_view kind,
                                    bool descending, bool datetimes) {
    const char* what = datetimes ? "datetimes" : "dates";
    const std::vector<std::string_view> kinds =
        datetimes ? std::vector<std::string_view>{"year", "month", "week", "day", "hour", "minute", "second"}
                  : std::vector<std::string_view>{"year", "month", "week", "day"};
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
        throw FieldError(fmt::format("{}(): '{}' is not a kind it takes. Choices are: {}", what, kind,
                                     fmt::join(kinds, ", ")));
    detail::Query scratch = q;
    auto resolved = detail::resolve_expr(scratch, F(std::string(field)).node(), false);
    const auto type = detail::output_type(*resolved);
    Expr e = F(std::string(field));
    if (type == db::ColumnType::timestamp) {
        if (!datetimes) e = TruncDate(e);
    } else if (type != db::ColumnType::date || datetimes) {
        throw FieldError(fmt::format("{}(): '{}' is {}, not a {} field", what, field,
                                     type ? std::string(db::to_string(*type)) : std::string("of unknown type"),
                                     datetimes ? "timestamp" : "date or timestamp"));
    }
    e = Trunc(e, kind);
    const std::string name = "weftdatefield";
    auto sub = detail::with_filter(q, Q(std::string(field) + "__isnull", false), false);
    sub = detail::with_annotation(*sub, name, e);
    const std::string names[] = {name};
    sub = detail::with_values(*sub, names);
    sub = detail::with_distinct(*sub, true);
    const std::string order[] = {descending ? "-" + name : name};
    sub = detail::with_order_by(*sub, std::span<const std::string>(order));
    std::vector<Value> out;
    for (auto& row : detail::fetch_values(*sub)) out.push_back(std::move(row[0]));
    return out;
}

}  // namespace

std::vector<Date> QuerySetBase::dates(std::string_view field, std::string_view kind, bool descending) const {
    std::vector<Date> out;
    for (const auto& v : truncated_values(*q_, field, kind, descending, false)) out.push_back(v.as_date());
    return out;
}

std::vector<Timestamp> QuerySetBase::datetimes(std::string_view field, std::string_view kind, bool descending) const {
    std::vector<Timestamp> out;
    for (const auto& v : truncated_values(*q_, field, kind, descending, true)) out.push_back(v.as_timestamp());
    return out;
}

detail::QueryPtr QuerySetBase::combine(Others others, db::Dialect::Compound op, bool all) const {
    std::vector<detail::QueryPtr> queries;
    queries.reserve(others.size());
    for (const CombinedPart& o : others) queries.push_back(o.query());
    return detail::with_combined(*q_, queries, op, all);
}

std::int64_t QuerySetBase::count() const {
    if (q_->none) return 0;
    detail::RoutedAlias alias(detail::Access::read, *q_->model, q_->alias);
    detail::Lease lease(alias);
    detail::check_compound_features(*q_, lease.features());
    auto r = lease.execute(detail::SqlCompiler(lease.dialect()).count(*q_));
    return r.scalar<std::int64_t>().value_or(0);
}

bool QuerySetBase::exists() const {
    if (q_->none) return false;
    detail::RoutedAlias alias(detail::Access::read, *q_->model, q_->alias);
    detail::Lease lease(alias);
    detail::check_compound_features(*q_, lease.features());
    auto r = lease.execute(detail::SqlCompiler(lease.dialect()).exists(*q_));
    bool found = r.next();
    while (r.next()) {
    }
    return found;
}

namespace {

// The names in an expression that cross a relation ("'author__born'"), for update()'s error.
std::string joined_references(const detail::ExprNode& e) {
    std::vector<std::string> names;
    auto walk = [&](auto& self, const detail::ExprNode& n) -> void {
        if ((n.kind == detail::ExprKind::field || n.kind == detail::ExprKind::annotation) &&
            n.name.find("__") != std::string::npos)
            names.push_back("'" + n.name + "'");
        if (n.lhs) self(self, *n.lhs);
        if (n.rhs) self(self, *n.rhs);
    };
    walk(walk, e);
    if (names.empty()) return "a field of another model";
    return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

namespace detail {

void check_insert_defaults(const ModelInfo& m, const Assignments& defaults) {
    for (const auto& [name, op] : defaults) {
        const FieldInfo& f = m.field(name);
        if (op.kind() == Operand::Kind::expr)
            throw ValidationError(fmt::format("update_or_create(): no {} matched, so one is created, and an INSERT "
                                              "cannot take the expression given for '{}' (expressions in defaults "
                                              "apply to a row that exists; give a value, or create the row first)",
                                              m.type_name(), f.name),
                                  f.name);
    }
}

void update_from_defaults(const ModelInfo& m, void* obj, const Assignments& defaults, std::string_view alias) {
    Assignments expressions;
    for (const auto& [name, op] : defaults) {
        const FieldInfo& f = m.field(name);
        if (op.kind() == Operand::Kind::list || op.kind() == Operand::Kind::query)
            throw ValidationError(fmt::format("update_or_create(): {}.{} takes a value or an expression, not a list "
                                              "or a queryset",
                                              m.type_name(), f.name),
                                  f.name);
        if (op.kind() == Operand::Kind::expr) expressions.emplace_back(name, op);
    }
    if (!expressions.empty()) {
        // Against the row as it was (it is locked: update_or_create runs in a transaction).
        auto q = with_alias(*with_filter(*make_query(m), Q("pk", Operand(m.pk().access->get(obj))), false), alias);
        ValuesQuerySet(std::move(q)).update(expressions);
        refresh_object(m, obj, alias);
    }
    for (const auto& [name, op] : defaults) {
        if (op.kind() != Operand::Kind::value) continue;
        const FieldInfo& f = m.field(name);
        f.access->set(obj, m.clean(f, op.value()));
    }
    save_object(m, obj, alias);
}

}  // namespace detail

std::int64_t QuerySetBase::update(const Assignments& set) const {
    detail::check_not_combined(*q_, "update");
    const detail::Query& q = *q_;
    const ModelInfo& m = *q.model;
    detail::SetClause clause;
    for (const auto& [name, op] : set) {
        const FieldInfo& f = m.field(name);
        detail::ExprPtr e;
        switch (op.kind()) {
            case Operand::Kind::value: {
                detail::ExprNode n;
                n.kind = detail::ExprKind::value;
                n.value = m.clean(f, op.value());
                e = std::make_shared<const detail::ExprNode>(std::move(n));
                break;
            }
            case Operand::Kind::expr: {
                detail::Query scratch = q;
                e = detail::resolve_expr(scratch, op.expr(), false);
                if (scratch.joins.size() != q.joins.size())
                    throw FieldError(fmt::format(
                        "update(): joined field references are not permitted: the new value of '{}' refers to {}, "
                        "which crosses a relation (an UPDATE sets columns from the row's own fields: {})",
                        name, joined_references(*op.expr()), m.choices()));
                break;
            }
            case Operand::Kind::list:
            case Operand::Kind::query:
                throw ValidationError(fmt::format("update(): {}.{} takes a value or an expression, not a list or a "
                                                  "queryset (a one-column queryset's value is orm::Subquery(qs))",
                                                  m.type_name(), f.name),
                                      f.name);
        }
        clause.emplace_back(&f, std::move(e));
    }
    if (q.none) return 0;
    detail::RoutedAlias alias(detail::Access::write, m, q.alias);
    detail::Lease lease(alias);
    auto sql = detail::SqlCompiler(lease.dialect()).update(q, clause);
    return lease.execute(sql).rows_affected();
}

std::int64_t QuerySetBase::remove() const {
    detail::check_not_combined(*q_, "delete");
    if (q_->none) return 0;
    if (q_->sliced()) throw InterfaceError("Cannot delete a query once a slice has been taken");
    detail::RoutedAlias alias(detail::Access::write, *q_->model, q_->alias);
    if (detail::has_dependents(*q_->model)) {
        const std::string pk = "pk";
        auto keys = detail::flat_values(*detail::with_alias(*detail::with_values(*q_, std::span<const std::string>(&pk, 1)), alias));
        return detail::delete_with_collector(*q_->model, std::move(keys), alias);
    }
    detail::Lease lease(alias);
    auto sql = detail::SqlCompiler(lease.dialect()).delete_rows(*q_);
    return lease.execute(sql).rows_affected();
}

Value QuerySetBase::aggregate(const Expr& e) const {
    detail::Query q = *q_;
    auto items = detail::resolve_aggregates(q, {{std::string(), e}});
    return detail::run_aggregate(q, items).begin()->second;
}

std::map<std::string, Value> QuerySetBase::aggregate(std::initializer_list<Expr> exprs) const {
    std::vector<std::pair<std::string, Expr>> named;
    for (const auto& e : exprs) named.emplace_back(std::string(), e);
    return aggregate(named);
}

std::map<std::string, Value> QuerySetBase::aggregate(const std::vector<std::pair<std::string, Expr>>& named) const {
    detail::Query q = *q_;
    auto items = detail::resolve_aggregates(q, named);
    return detail::run_aggregate(q, items);
}

const Value& ValuesRow::operator[](std::string_view name) const {
    for (std::size_t i = 0; i < names_->size(); ++i)
        if ((*names_)[i] == name) return values_[i];
    throw FieldError(fmt::format("'{}' is not in this values() row. Choices are: {}", name, fmt::join(*names_, ", ")));
}

ValuesQuerySet ValuesQuerySet::filter(const Q& q) const { return chain(detail::with_filter(*q_, q, false)); }
ValuesQuerySet ValuesQuerySet::exclude(const Q& q) const { return chain(detail::with_filter(*q_, q, true)); }
ValuesQuerySet ValuesQuerySet::order_by_list(std::span<const std::string> names) const {
    return chain(detail::with_order_by(*q_, names));
}
ValuesQuerySet ValuesQuerySet::reverse() const { return chain(detail::with_reverse(*q_)); }
ValuesQuerySet ValuesQuerySet::slice(std::int64_t start, std::optional<std::int64_t> stop) const {
    return chain(detail::with_slice(*q_, start, stop));
}
ValuesQuerySet ValuesQuerySet::distinct(bool on) const { return chain(detail::with_distinct(*q_, on)); }
ValuesQuerySet ValuesQuerySet::annotate(std::string name, const Expr& e) const {
    return chain(detail::with_annotation(*q_, std::move(name), e));
}
ValuesQuerySet ValuesQuerySet::using_db(std::string_view alias) const { return chain(detail::with_alias(*q_, alias)); }
ValuesQuerySet ValuesQuerySet::select_for_update(ForUpdate options) const {
    detail::check_for_update_options(options);
    return ValuesQuerySet(q_, options);
}

std::vector<ValuesRow> ValuesQuerySet::list() && { return static_cast<const ValuesQuerySet&>(*this).list(); }

const std::vector<ValuesRow>& ValuesQuerySet::list() const& {
    if (!cache_) {
        auto names = std::make_shared<std::vector<std::string>>();
        for (const auto& it : q_->values) names->push_back(it.name);
        auto rows = std::make_shared<std::vector<ValuesRow>>();
        for (auto& values : detail::fetch_values(*q_, for_update())) rows->emplace_back(names, std::move(values));
        cache_ = std::move(rows);
    }
    return *cache_;
}

std::optional<ValuesRow> ValuesQuerySet::first() const {
    if (cache_) return cache_->empty() ? std::nullopt : std::optional(cache_->front());
    auto page = chain(detail::with_slice(*q_, 0, 1));
    if (page.empty()) return std::nullopt;
    return page.rows().front();
}

std::int64_t ValuesQuerySet::count() const {
    if (cache_) return static_cast<std::int64_t>(cache_->size());
    return QuerySetBase::count();
}

bool ValuesQuerySet::exists() const {
    if (cache_) return !cache_->empty();
    return QuerySetBase::exists();
}

}  // namespace orm
