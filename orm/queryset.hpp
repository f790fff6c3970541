// QuerySet<T>: a lazy, chainable query over model T, as in Django. Chaining (filter, exclude,
// order_by, slice, ...) returns a new queryset and never touches the database; iteration,
// size(), a truth test, list() and the explicit calls (get, first, count, exists, aggregate,
// update, remove, ...) run SQL. An evaluated queryset caches its rows, and copies of it share
// that cache. The work is done by the compiled QuerySetBase; this template only adds types.
// A queryset runs on the database named by using_db(alias), else on the one the routers choose
// when it runs (db_for_read for reads, db_for_write for writes), else on "default".
#pragma once

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "orm/atomic.hpp"
#include "orm/bulk.hpp"
#include "orm/errors.hpp"
#include "orm/field_traits.hpp"
#include "orm/meta.hpp"
#include "orm/queryset_base.hpp"

namespace orm {

template <class T>
class Chunked;
template <class T>
class QuerySet;

namespace detail {

// A field named by a string or a member pointer (only(), defer()).
template <class T, class S>
std::string field_name_of(const S& s) {
    if constexpr (std::is_convertible_v<const S&, std::string_view>) {
        return std::string(std::string_view(s));
    } else {
        return field_of(s).name;
    }
}
template <class S>
concept FieldNameOrMember = std::is_convertible_v<const S&, std::string_view> || std::is_member_object_pointer_v<S>;

template <class O, class R>
class ToAttrMember final : public ToAttr {
public:
    explicit ToAttrMember(std::vector<R> O::*member) : member_(member) {}
    const ModelInfo& owner() const override { return model_info<O>(); }
    const ModelInfo& target() const override { return model_info<R>(); }
    void assign(void* owner, void* rows) const override {
        static_cast<O*>(owner)->*member_ = std::move(*static_cast<std::vector<R>*>(rows));
    }
    void* vector_of(void* owner) const override { return &(static_cast<O*>(owner)->*member_); }
    bool same(const ToAttr& other) const noexcept override {
        auto* o = dynamic_cast<const ToAttrMember*>(&other);
        return o && o->member_ == member_;
    }

private:
    std::vector<R> O::*member_;
};

}  // namespace detail

// Prefetch("books", Book::objects.filter(...).order_by("title"), &Author::cheap_books), as
// Django's Prefetch(lookup, queryset=, to_attr=): the last level of `lookup` reads the rows of
// the queryset (filtered and ordered as it says; its own prefetch_related() runs on them, which
// is how prefetches nest), and to_attr, a member `std::vector<Book> cheap_books;` of the owner
// (declared in the model, not a field), receives them instead of the relation's own member.
class Prefetch {
public:
    explicit Prefetch(std::string lookup) { spec_.path = std::move(lookup); }
    template <class R>
    Prefetch(std::string lookup, const QuerySet<R>& queryset) {
        spec_.path = std::move(lookup);
        spec_.queryset = queryset.query_ptr();
    }
    template <class R, class O>
    Prefetch(std::string lookup, const QuerySet<R>& queryset, std::vector<R> O::*to_attr) : Prefetch(std::move(lookup), queryset) {
        spec_.to_attr = std::make_shared<const detail::ToAttrMember<O, R>>(to_attr);
    }
    template <class R, class O>
    Prefetch(std::string lookup, std::vector<R> O::*to_attr) {
        spec_.path = std::move(lookup);
        spec_.to_attr = std::make_shared<const detail::ToAttrMember<O, R>>(to_attr);
    }
    const detail::PrefetchSpec& spec() const noexcept { return spec_; }

private:
    detail::PrefetchSpec spec_;
};

namespace detail {

inline PrefetchSpec prefetch_spec(const Prefetch& p) { return p.spec(); }
inline PrefetchSpec prefetch_spec(std::string_view path) { return PrefetchSpec{std::string(path), nullptr, nullptr}; }

// get() by primary key on `alias` (empty: routed): the fast path of QuerySet<T>::get and Manager<T>::get.
// Throws T::DoesNotExist when no row has that key.
template <class T>
T get_by_pk(const Value& pk, std::string_view alias) {
    const ModelInfo& m = model_info<T>();
    T obj{};
    if (!fetch_by_pk(m, pk, alias, &obj)) check_get_result(m, 0);
    return obj;
}

// get() by primary key with the select_related joins of `q` (no prefetch): one statement.
template <class T>
T get_related_by_pk(const Query& q, const Value& pk) {
    T obj{};
    if (!fetch_by_pk_related(q, pk, &obj)) check_get_result(query_model(q), 0);
    return obj;
}

}  // namespace detail

template <class T>
class QuerySet : public QuerySetBase {
public:
    // All rows of T, on the database the routers choose (else "default").
    QuerySet() : QuerySetBase(detail::make_routed_query(model_info<T>())) {}
    explicit QuerySet(detail::QueryPtr q, std::optional<ForUpdate> lock = std::nullopt)
        : QuerySetBase(std::move(q), lock) {}

    // --- chaining (no SQL) ---
    QuerySet all() const { return chain(q_); }
    // The same rows on database `alias` (an orm::connect alias; an unknown one raises
    // orm::InterfaceError listing the configured aliases when the queryset runs). Overrides the
    // routers; an empty alias hands the choice back to them.
    QuerySet using_db(std::string_view alias) const { return chain(detail::with_alias(*q_, alias)); }
    // Locks the rows this queryset reads (SELECT ... FOR UPDATE) until the transaction ends; it
    // must be evaluated inside orm::atomic on its database (else orm::TransactionManagementError).
    // {.nowait = true}: a locked row fails the query at once; {.skip_locked = true}: locked rows
    // are skipped. Backends without row locks (supports_select_for_update false: SQLite, which
    // locks the whole database for a writing transaction) ignore the plain form and raise
    // orm::NotSupportedError for the options. count(), exists() and aggregate() take no locks.
    QuerySet select_for_update(ForUpdate options = {}) const {
        detail::check_for_update_options(options);
        return QuerySet(q_, options);
    }
    QuerySet filter(const Q& q) const { return chain(detail::with_filter(*q_, q, false)); }
    QuerySet filter(std::string lookup, Operand v) const { return filter(Q(std::move(lookup), std::move(v))); }
    QuerySet exclude(const Q& q) const { return chain(detail::with_filter(*q_, q, true)); }
    QuerySet exclude(std::string lookup, Operand v) const { return exclude(Q(std::move(lookup), std::move(v))); }
    // Several conditions in one call, as Django's filter(a=1, b=2): filter("a__gt", 1, "b", 2) or
    // filter(q1, q2, orm::Exists(...)). Across a multi-valued relation they must hold for the same
    // related row; separate filter() calls may match different rows.
    template <class A, class B, class... R>
        requires FilterTerms<A, B, R...>
    QuerySet filter(const A& a, const B& b, const R&... rest) const {
        return filter(detail::all_terms(a, b, rest...));
    }
    template <class A, class B, class... R>
        requires FilterTerms<A, B, R...>
    QuerySet exclude(const A& a, const B& b, const R&... rest) const {
        return exclude(detail::all_terms(a, b, rest...));
    }
    // Field (or annotation) names, "-" for descending; no names: unordered.
    template <class... S>
    QuerySet order_by(const S&... names) const {
        const OrderBy list[] = {OrderBy(names)..., OrderBy("")};
        return chain(detail::with_order_by(*q_, std::span<const OrderBy>(list, sizeof...(S))));
    }
    QuerySet order_by_list(std::span<const std::string> names) const {
        return chain(detail::with_order_by(*q_, names));
    }
    QuerySet reverse() const { return chain(detail::with_reverse(*q_)); }
    // Rows [start, stop): LIMIT stop-start OFFSET start; no stop: to the end.
    QuerySet slice(std::int64_t start, std::optional<std::int64_t> stop = std::nullopt) const {
        return chain(detail::with_slice(*q_, start, stop));
    }
    QuerySet distinct(bool on = true) const { return chain(detail::with_distinct(*q_, on)); }
    // SELECT DISTINCT ON (fields) (Features::supports_distinct_on_fields: PostgreSQL); elsewhere
    // orm::NotSupportedError naming the backend when it runs. order_by() must start with them.
    template <class... S>
        requires(sizeof...(S) > 0 && (std::is_convertible_v<const S&, std::string_view> && ...))
    QuerySet distinct(const S&... names) const {
        const std::string list[] = {std::string(names)...};
        return chain(detail::with_distinct_fields(*q_, list));
    }
    // A queryset that yields nothing and sends no SQL.
    QuerySet none() const { return chain(detail::with_none(*q_)); }
    // A computed value per row (or per group with aggregates), usable in filter, order_by and values.
    QuerySet annotate(std::string name, const Expr& e) const {
        return chain(detail::with_annotation(*q_, std::move(name), e));
    }
    QuerySet annotate(const Expr& e) const { return annotate(std::string(), e); }
    // Loads the objects these foreign keys refer to in the same query (JOINs): "author",
    // "author__publisher". No names: every non-null foreign key, nested.
    template <class... S>
        requires(std::is_convertible_v<const S&, std::string_view> && ...)
    QuerySet select_related(const S&... names) const {
        const std::string list[] = {std::string(names)..., std::string()};
        return chain(detail::with_select_related(*q_, std::span<const std::string>(list, sizeof...(S))));
    }
    // Loads these relations of the rows with one more query per level ("books", "books__tags",
    // "author"): sets fill their ManyToMany / RelatedSet members, foreign keys their cache.
    // Prefetch objects choose the rows (a queryset) and where they go (to_attr): see orm::Prefetch.
    template <class... S>
        requires((std::is_convertible_v<const S&, std::string_view> || std::is_same_v<S, Prefetch>) && ...)
    QuerySet prefetch_related(const S&... names) const {
        const detail::PrefetchSpec list[] = {detail::prefetch_spec(names)..., detail::PrefetchSpec()};
        return chain(detail::with_prefetch_related(*q_, std::span<const detail::PrefetchSpec>(list, sizeof...(S))));
    }
    // only("title", &Book::price): the other fields (but the primary key) are deferred: left out
    // of the SELECT and loaded on request (Model::loaded, load_deferred). defer(...) defers these
    // fields, and defer() with none undoes every deferral. As Django's only() / defer().
    template <class... S>
        requires(detail::FieldNameOrMember<S> && ...)
    QuerySet only(const S&... fields) const {
        const std::string list[] = {detail::field_name_of<T>(fields)..., std::string()};
        return chain(detail::with_deferred(*q_, std::span<const std::string>(list, sizeof...(S)), true));
    }
    template <class... S>
        requires(detail::FieldNameOrMember<S> && ...)
    QuerySet defer(const S&... fields) const {
        const std::string list[] = {detail::field_name_of<T>(fields)..., std::string()};
        return chain(detail::with_deferred(*q_, std::span<const std::string>(list, sizeof...(S)), false));
    }
    // The rows of this and the other querysets, as Django's union() (`union` is a C++ keyword):
    // a.union_(b), a.union_({b, c}, true) (all: UNION ALL keeps duplicates). intersection() and
    // difference() likewise. Every queryset must select the same columns (else FieldError naming
    // both lists). The result may be ordered (by its columns), sliced, counted, turned into
    // values() / values_list(); filter() and the like are NotSupportedError, as in Django.
    QuerySet union_(const QuerySetBase& other, bool all = false) const { return union_({other}, all); }
    QuerySet union_(Others others, bool all = false) const {
        return chain(combine(others, db::Dialect::Compound::union_, all));
    }
    QuerySet intersection(const QuerySetBase& other, bool all = false) const { return intersection({other}, all); }
    QuerySet intersection(Others others, bool all = false) const {
        return chain(combine(others, db::Dialect::Compound::intersection, all));
    }
    QuerySet difference(const QuerySetBase& other, bool all = false) const { return difference({other}, all); }
    QuerySet difference(Others others, bool all = false) const {
        return chain(combine(others, db::Dialect::Compound::difference, all));
    }

    // values("title", "price"): rows of Values by name (no names: every field and annotation).
    template <class... S>
        requires(std::is_convertible_v<const S&, std::string_view> && ...)
    ValuesQuerySet values(const S&... names) const {
        const std::string list[] = {std::string(names)..., std::string()};
        return ValuesQuerySet(detail::with_values(*q_, std::span<const std::string>(list, sizeof...(S))), lock_);
    }
    // values_list(...): the same rows, read by position.
    template <class... S>
        requires(std::is_convertible_v<const S&, std::string_view> && ...)
    ValuesQuerySet values_list(const S&... names) const {
        return values(names...);
    }
    // values_list(orm::named, "title", "price"): rows read by name, row["title"], or position.
    template <class... S>
        requires(std::is_convertible_v<const S&, std::string_view> && ...)
    ValuesQuerySet values_list(named_t, const S&... names) const {
        return values(names...);
    }
    // values_list("title", orm::flat): one Value per row (evaluates now).
    std::vector<Value> values_list(const std::string& name, flat_t) const {
        const std::string list[] = {name};
        return detail::flat_values(*detail::with_values(*q_, list), for_update());
    }
    // Typed rows: values_as<std::string, double>("title", "price") -> vector<tuple<...>>;
    // with one type, values_as<std::string>("title") -> vector<std::string>.
    template <class... Ts, class... S>
        requires(sizeof...(Ts) == sizeof...(S) && sizeof...(Ts) > 0)
    auto values_as(const S&... names) const {
        const std::string list[] = {std::string(names)...};
        auto q = detail::with_values(*q_, list);
        auto rows = detail::fetch_values(*q, for_update());
        if constexpr (sizeof...(Ts) == 1) {
            using V = std::tuple_element_t<0, std::tuple<Ts...>>;
            std::vector<V> out;
            out.reserve(rows.size());
            for (auto& r : rows) out.push_back(convert<V>(r[0], list[0]));
            return out;
        } else {
            std::vector<std::tuple<Ts...>> out;
            out.reserve(rows.size());
            for (auto& r : rows) out.push_back(to_tuple<Ts...>(r, list, std::index_sequence_for<Ts...>()));
            return out;
        }
    }

    // --- evaluation ---
    // The rows (evaluates once). On a temporary queryset the rows are moved out, so
    // `auto rows = Book::objects.filter(...).list();` never refers to a destroyed cache.
    const std::vector<T>& list() const& { return fetch_all(); }
    std::vector<T> list() && {
        fetch_all();
        return cache_.use_count() == 1 ? std::move(*cache_) : *cache_;
    }
    auto begin() const { return fetch_all().cbegin(); }
    auto end() const { return fetch_all().cend(); }
    auto begin() { return mutable_rows().begin(); }
    auto end() { return mutable_rows().end(); }
    std::size_t size() const { return fetch_all().size(); }
    bool empty() const { return fetch_all().empty(); }
    explicit operator bool() const { return !empty(); }
    // Forgets the cached rows (the next evaluation runs the query again).
    void reset() { cache_.reset(); }
    // Makes `rows` this queryset's evaluated result (prefetched related sets).
    void set_cache(std::shared_ptr<std::vector<T>> rows) { cache_ = std::move(rows); }

    // Exactly one row; throws T::DoesNotExist / T::MultipleObjectsReturned.
    T get() const {
        auto q = detail::get_query(*q_);
        std::vector<T> rows;
        detail::fetch_objects(*q, [&]() -> void* { return &rows.emplace_back(); }, for_update());
        detail::check_get_result(*q_, rows.size());
        if (detail::has_prefetch(*q_)) prefetch(rows);
        return std::move(rows.front());
    }
    T get(const Q& q) const { return filter(q).get(); }
    T get(std::string_view lookup, Operand v) const {
        const ModelInfo& m = model_info<T>();
        const auto path = v.kind() == Operand::Kind::value && !lock_ && detail::is_pk_lookup(m, lookup)
                              ? detail::pk_get_path(*q_)
                              : detail::PkGet::other;
        if (path != detail::PkGet::other) {
            if (path == detail::PkGet::plain) return detail::get_by_pk<T>(v.value(), detail::query_alias(*q_));
            if (path == detail::PkGet::related) return detail::get_related_by_pk<T>(*q_, v.value());
            std::vector<T> rows(1);
            if (!detail::fetch_by_pk_related(*q_, v.value(), &rows[0])) detail::check_get_result(m, 0);
            prefetch(rows);
            return std::move(rows.front());
        }
        return filter(std::string(lookup), std::move(v)).get();
    }

    // The first / last row by the ordering (the primary key when unordered); nullopt when empty.
    std::optional<T> first() const {
        if (cache_) return cache_->empty() ? std::nullopt : std::optional<T>(cache_->front());
        return chain(detail::is_unordered_unsliced(*q_) ? order_by("pk").q_ : q_).slice(0, 1).one_or_none();
    }
    std::optional<T> last() const {
        if (cache_) return cache_->empty() ? std::nullopt : std::optional<T>(cache_->back());
        QuerySet ordered = detail::is_unordered(*q_) ? order_by("pk") : *this;
        return ordered.reverse().slice(0, 1).one_or_none();
    }

    // The row with the greatest / least values of these fields ("-f" reverses one), as Django's
    // latest("published") / earliest("published"); T::DoesNotExist when there is none.
    template <class... S>
        requires(std::is_convertible_v<const S&, std::string_view> && ...)
    T latest(const S&... fields) const {
        const std::string list[] = {std::string(fields)..., std::string()};
        return chain(detail::latest_query(*q_, std::span<const std::string>(list, sizeof...(S)), true)).get();
    }
    template <class... S>
        requires(std::is_convertible_v<const S&, std::string_view> && ...)
    T earliest(const S&... fields) const {
        const std::string list[] = {std::string(fields)..., std::string()};
        return chain(detail::latest_query(*q_, std::span<const std::string>(list, sizeof...(S)), false)).get();
    }

    std::int64_t count() const {
        if (cache_) return static_cast<std::int64_t>(cache_->size());
        return QuerySetBase::count();
    }
    bool exists() const {
        if (cache_) return !cache_->empty();
        return QuerySetBase::exists();
    }

    // Reads the rows chunk by chunk (never the whole result at once); see ChunkReader.
    Chunked<T> iterator(std::size_t chunk_size = 2000) const { return Chunked<T>(q_, chunk_size, lock_); }

    // Objects by primary key (in batches within the backend's parameter limit).
    template <class K = std::int64_t>
    std::map<K, T> in_bulk(const std::vector<K>& ids) const {
        std::map<K, T> out;
        const FieldInfo& pk = model_info<T>().pk();
        const std::size_t batch = detail::max_in_list(detail::read_alias(*q_));
        for (std::size_t start = 0; start < ids.size(); start += batch) {
            std::vector<Value> keys;
            for (std::size_t i = start; i < std::min(ids.size(), start + batch); ++i)
                keys.push_back(detail::to_value(ids[i]));
            std::vector<T> rows;
            detail::fetch_objects(*detail::with_pk_in(*q_, keys), [&]() -> void* { return &rows.emplace_back(); },
                                  for_update());
            for (auto& obj : rows) {
                K key = convert<K>(pk.access->get(&obj), pk.name);
                out.emplace(std::move(key), std::move(obj));
            }
        }
        return out;
    }
    // Objects keyed by a unique field: in_bulk(std::vector<std::string>{"a", "b"}, "isbn").
    template <class K>
    std::map<K, T> in_bulk(const std::vector<K>& ids, std::string_view field_name) const {
        std::map<K, T> out;
        const FieldInfo& f = detail::in_bulk_field(model_info<T>(), field_name);
        const std::size_t batch = detail::max_in_list(detail::read_alias(*q_));
        for (std::size_t start = 0; start < ids.size(); start += batch) {
            std::vector<Value> keys;
            for (std::size_t i = start; i < std::min(ids.size(), start + batch); ++i)
                keys.push_back(detail::to_value(ids[i]));
            std::vector<T> rows;
            auto q = detail::with_filter(*q_, Q(f.name + "__in", Operand(std::move(keys))), false);
            detail::fetch_objects(*q, [&]() -> void* { return &rows.emplace_back(); }, for_update());
            for (auto& obj : rows) {
                K key = convert<K>(f.access->get(&obj), f.name);
                out.emplace(std::move(key), std::move(obj));
            }
        }
        return out;
    }
    template <class K = std::int64_t>
    std::map<K, T> in_bulk() const {
        std::map<K, T> out;
        const FieldInfo& pk = model_info<T>().pk();
        QuerySet all_rows = chain(q_);
        for (auto& obj : all_rows.fetch_all()) out.emplace(convert<K>(pk.access->get(&obj), pk.name), std::move(obj));
        return out;
    }

    // --- writing ---
    // Inserts obj and returns it with its primary key.
    T create(T obj) const {
        detail::insert_object(model_info<T>(), &obj, detail::query_alias(*q_));
        return obj;
    }
    // Inserts an object built from declared defaults and these values: create({{"name", "Ann"}}).
    // (An initializer_list, not Assignments: GCC would find create({.a = x, .b = y}) ambiguous
    // with std::vector's iterator-pair constructor.)
    T create(std::initializer_list<std::pair<std::string, Operand>> values) const {
        T obj{};
        detail::assign_fields(model_info<T>(), &obj, {}, Assignments(values));
        return create(std::move(obj));
    }
    // Inserts objs in one transaction: COPY where the backend has it (Features::supports_copy_in)
    // and there are many rows, else multi-row INSERTs; fills primary keys where the backend can
    // return them. With options: {.ignore_conflicts = true} or {.update_conflicts = true,
    // .update_fields = {...}, .unique_fields = {...}} (INSERT ... ON CONFLICT); see orm/bulk.hpp.
    void bulk_create(std::vector<T>& objs, std::size_t batch_size = 0) const {
        BulkCreate options;
        options.batch_size = batch_size;
        bulk_create(objs, options);
    }
    void bulk_create(std::vector<T>& objs, const BulkCreate& options) const {
        detail::bulk_create_objects(model_info<T>(), objs.data(), objs.size(), sizeof(T), detail::query_alias(*q_), options);
    }
    std::vector<T> bulk_create(std::vector<T>&& objs, std::size_t batch_size = 0) const {
        bulk_create(objs, batch_size);
        return std::move(objs);
    }
    std::vector<T> bulk_create(std::vector<T>&& objs, const BulkCreate& options) const {
        bulk_create(objs, options);
        return std::move(objs);
    }
    // UPDATE ... SET f = CASE WHEN pk = ... THEN ... END for each of fields ({"price"} or
    // {&Book::price}), batch_size objects per statement (0: as many as the parameter limit
    // allows), in one transaction. Returns the rows matched.
    std::int64_t bulk_update(const std::vector<T>& objs, const FieldNames& fields, std::size_t batch_size = 0) const {
        return detail::bulk_update_objects(model_info<T>(), objs.data(), objs.size(), sizeof(T), detail::query_alias(*q_), fields,
                                           batch_size);
    }
    // get(lookup) or, when there is none, create it from lookup + defaults; .second: created.
    // Runs on the database writes go to (reads included, as Django: a replica may lag).
    std::pair<T, bool> get_or_create(const Assignments& lookup, const Assignments& defaults = {}) const {
        const std::string alias = detail::write_alias(*q_);
        auto match = using_db(alias).filter(detail::lookup_q(lookup));
        try {
            return {match.get(), false};
        } catch (const ObjectDoesNotExist&) {
        }
        T obj{};
        detail::assign_fields(model_info<T>(), &obj, lookup, defaults);
        try {
            Atomic tx(alias);
            detail::insert_object(model_info<T>(), &obj, alias);
            tx.commit();
            return {std::move(obj), true};
        } catch (const IntegrityError&) {
            // Another writer created it meanwhile (unique constraint): return theirs.
            try {
                return {match.get(), false};
            } catch (const ObjectDoesNotExist&) {
            }
            throw;
        }
    }
    // Updates the object matching lookup with defaults, or creates it; .second: created.
    // Runs on the database writes go to, in a transaction that locks the matching row
    // (select_for_update where the backend has row locks).
    std::pair<T, bool> update_or_create(const Assignments& lookup, const Assignments& defaults = {}) const {
        const std::string alias = detail::write_alias(*q_);
        return atomic(alias, [&]() -> std::pair<T, bool> {
            auto match = using_db(alias).filter(detail::lookup_q(lookup));
            std::vector<T> rows;
            auto q = detail::get_query(*match.q_);
            const ForUpdate lock{};
            detail::fetch_objects(*q, [&]() -> void* { return &rows.emplace_back(); }, &lock);
            if (rows.size() > 1) detail::check_get_result(*match.q_, rows.size());
            if (rows.empty()) {
                detail::check_insert_defaults(model_info<T>(), defaults);
                T obj{};
                detail::assign_fields(model_info<T>(), &obj, lookup, defaults);
                detail::insert_object(model_info<T>(), &obj, alias);
                return {std::move(obj), true};
            }
            T obj = std::move(rows.front());
            detail::update_from_defaults(model_info<T>(), &obj, defaults, alias);
            return {std::move(obj), false};
        });
    }

private:
    // A queryset over `q` that keeps this one's select_for_update() options.
    QuerySet chain(detail::QueryPtr q) const { return QuerySet(std::move(q), lock_); }

    template <class V>
    static V convert(const Value& v, std::string_view name) {
        using S = typename detail::field_traits<V>::scalar;
        static_assert(detail::is_field_type_v<V> || std::is_same_v<V, Value>, "values_as: unsupported type");
        if constexpr (std::is_same_v<V, Value>) {
            return v;
        } else {
            return detail::from_value<V>(normalize_value(detail::column_type_of<S>(), v, name));
        }
    }
    template <class... Ts, std::size_t... I>
    static std::tuple<Ts...> to_tuple(const std::vector<Value>& r, const std::string* names, std::index_sequence<I...>) {
        return std::tuple<Ts...>(convert<Ts>(r[I], names[I])...);
    }

    std::optional<T> one_or_none() const {
        const auto& rows = fetch_all();
        if (rows.empty()) return std::nullopt;
        return rows.front();
    }
    const std::vector<T>& fetch_all() const {
        if (!cache_) {
            auto rows = std::make_shared<std::vector<T>>();
            detail::fetch_objects(*q_, [&]() -> void* { return &rows->emplace_back(); }, for_update());
            if (detail::has_prefetch(*q_)) prefetch(*rows);
            cache_ = std::move(rows);
        }
        return *cache_;
    }
    void prefetch(std::vector<T>& rows) const { detail::prefetch_rows(*q_, rows.data(), rows.size(), sizeof(T)); }
    std::vector<T>& mutable_rows() {
        fetch_all();
        return *cache_;
    }

    mutable std::shared_ptr<std::vector<T>> cache_;
};

// QuerySet::iterator(): an input range that holds one chunk of rows at a time.
template <class T>
class Chunked {
public:
    Chunked(detail::QueryPtr q, std::size_t chunk_size, std::optional<ForUpdate> lock = std::nullopt)
        : reader_(std::move(q), chunk_size, lock) {}

    class iterator {
    public:
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(Chunked* c) : c_(c) {
            if (!c_->load()) c_ = nullptr;
        }
        T& operator*() const { return c_->rows_[i_]; }
        T* operator->() const { return &c_->rows_[i_]; }
        iterator& operator++() {
            if (++i_ >= c_->rows_.size()) {
                i_ = 0;
                if (!c_->load()) c_ = nullptr;
            }
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& a, const iterator& b) { return a.c_ == b.c_ && a.i_ == b.i_; }

    private:
        Chunked* c_ = nullptr;
        std::size_t i_ = 0;
    };

    // Single pass: begin() starts reading.
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(); }

private:
    bool load() {
        rows_.clear();
        if (!reader_.next([&]() -> void* { return &rows_.emplace_back(); })) return false;
        if (detail::has_prefetch(reader_.query()))  // prefetch_related() applies per chunk
            detail::prefetch_rows(reader_.query(), rows_.data(), rows_.size(), sizeof(T));
        return true;
    }
    detail::ChunkReader reader_;
    std::vector<T> rows_;
};

}  // namespace orm
