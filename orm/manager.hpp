// Manager<T>: Book::objects, the entry point to querysets of a model. Each call starts a fresh
// QuerySet<T> (a manager holds no state and caches nothing).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "orm/queryset.hpp"

namespace orm {

template <class T>
class Manager {
public:
    constexpr Manager() = default;

    QuerySet<T> all() const { return QuerySet<T>(); }
    QuerySet<T> none() const { return all().none(); }
    // Book::objects.using_db("replica").filter(...): querysets on a named database.
    QuerySet<T> using_db(std::string_view alias) const { return all().using_db(alias); }
    QuerySet<T> select_for_update(ForUpdate options = {}) const { return all().select_for_update(options); }
    QuerySet<T> filter(const Q& q) const { return all().filter(q); }
    QuerySet<T> filter(std::string lookup, Operand v) const { return all().filter(std::move(lookup), std::move(v)); }
    QuerySet<T> exclude(const Q& q) const { return all().exclude(q); }
    QuerySet<T> exclude(std::string lookup, Operand v) const { return all().exclude(std::move(lookup), std::move(v)); }
    template <class A, class B, class... R>
        requires FilterTerms<A, B, R...>
    QuerySet<T> filter(const A& a, const B& b, const R&... rest) const {
        return all().filter(a, b, rest...);
    }
    template <class A, class B, class... R>
        requires FilterTerms<A, B, R...>
    QuerySet<T> exclude(const A& a, const B& b, const R&... rest) const {
        return all().exclude(a, b, rest...);
    }
    template <class... S>
    QuerySet<T> order_by(const S&... names) const {
        return all().order_by(names...);
    }
    QuerySet<T> distinct() const { return all().distinct(); }
    template <class... S>
        requires(sizeof...(S) > 0 && (std::is_convertible_v<const S&, std::string_view> && ...))
    QuerySet<T> distinct(const S&... names) const {
        return all().distinct(names...);
    }
    template <class... S>
    T latest(const S&... fields) const {
        return all().latest(fields...);
    }
    template <class... S>
    T earliest(const S&... fields) const {
        return all().earliest(fields...);
    }
    template <class... S>
        requires(std::is_convertible_v<const S&, std::string_view> && ...)
    QuerySet<T> select_related(const S&... names) const {
        const std::string_view list[] = {std::string_view(names)..., std::string_view()};
        return QuerySet<T>(detail::plain_select_related(model_info<T>(), std::span<const std::string_view>(list, sizeof...(S))));
    }
    template <class... S>
    QuerySet<T> prefetch_related(const S&... names) const {
        return all().prefetch_related(names...);
    }
    template <class... S>
    QuerySet<T> only(const S&... fields) const {
        return all().only(fields...);
    }
    template <class... S>
    QuerySet<T> defer(const S&... fields) const {
        return all().defer(fields...);
    }
    QuerySet<T> annotate(std::string name, const Expr& e) const { return all().annotate(std::move(name), e); }
    QuerySet<T> annotate(const Expr& e) const { return all().annotate(e); }
    template <class... S>
    ValuesQuerySet values(const S&... names) const {
        return all().values(names...);
    }
    template <class... S>
    auto values_list(const S&... names) const {  // ValuesQuerySet; with orm::flat, the values
        return all().values_list(names...);
    }
    std::vector<Value> values_list(const std::string& name, flat_t f) const { return all().values_list(name, f); }
    template <class... Ts, class... S>
    auto values_as(const S&... names) const {
        return all().template values_as<Ts...>(names...);
    }

    T get(const Q& q) const { return all().get(q); }
    T get(std::string_view lookup, Operand v) const {
        // The primary-key fast path of QuerySet<T>::get, without building the QuerySet (a Query
        // allocation) first: a fresh queryset is plain and routed (empty alias).
        if (v.kind() == Operand::Kind::value && detail::is_pk_lookup(model_info<T>(), lookup))
            return detail::get_by_pk<T>(v.value(), {});
        return all().get(lookup, std::move(v));
    }
    std::optional<T> first() const { return all().first(); }
    std::optional<T> last() const { return all().last(); }
    std::int64_t count() const { return all().count(); }
    std::vector<Date> dates(std::string_view field, std::string_view kind, bool descending = false) const {
        return all().dates(field, kind, descending);
    }
    std::vector<Timestamp> datetimes(std::string_view field, std::string_view kind, bool descending = false) const {
        return all().datetimes(field, kind, descending);
    }
    bool exists() const { return all().exists(); }
    Value aggregate(const Expr& e) const { return all().aggregate(e); }
    std::map<std::string, Value> aggregate(std::initializer_list<Expr> exprs) const { return all().aggregate(exprs); }
    std::map<std::string, Value> aggregate(const std::vector<std::pair<std::string, Expr>>& named) const {
        return all().aggregate(named);
    }
    std::int64_t update(const Assignments& set) const { return all().update(set); }
    Chunked<T> iterator(std::size_t chunk_size = 2000) const { return all().iterator(chunk_size); }
    template <class K = std::int64_t>
    std::map<K, T> in_bulk(const std::vector<K>& ids) const {
        return all().in_bulk(ids);
    }
    template <class K>
    std::map<K, T> in_bulk(const std::vector<K>& ids, std::string_view field_name) const {
        return all().in_bulk(ids, field_name);
    }

    T create(T obj) const { return all().create(std::move(obj)); }
    T create(std::initializer_list<std::pair<std::string, Operand>> values) const { return all().create(values); }
    void bulk_create(std::vector<T>& objs, std::size_t batch_size = 0) const { all().bulk_create(objs, batch_size); }
    std::vector<T> bulk_create(std::vector<T>&& objs, std::size_t batch_size = 0) const {
        return all().bulk_create(std::move(objs), batch_size);
    }
    void bulk_create(std::vector<T>& objs, const BulkCreate& options) const { all().bulk_create(objs, options); }
    std::vector<T> bulk_create(std::vector<T>&& objs, const BulkCreate& options) const {
        return all().bulk_create(std::move(objs), options);
    }
    std::int64_t bulk_update(const std::vector<T>& objs, const FieldNames& fields, std::size_t batch_size = 0) const {
        return all().bulk_update(objs, fields, batch_size);
    }
    std::pair<T, bool> get_or_create(const Assignments& lookup, const Assignments& defaults = {}) const {
        return all().get_or_create(lookup, defaults);
    }
    std::pair<T, bool> update_or_create(const Assignments& lookup, const Assignments& defaults = {}) const {
        return all().update_or_create(lookup, defaults);
    }

    // Hand-written SQL mapped onto T: result columns fill the fields of the same column name
    // (the primary key must be among them). Parameters are bound, never spliced. Runs on
    // `alias`, or (empty) on the routers' db_for_read, else "default".
    std::vector<T> raw(std::string_view sql, std::vector<Value> params = {}, std::string_view alias = {}) const {
        std::vector<T> rows;
        detail::raw_objects(model_info<T>(), sql, params, alias, [&]() -> void* { return &rows.emplace_back(); });
        return rows;
    }
};

}  // namespace orm
