// Typed field expressions, checked by the compiler: orm::col(&Book::price) < 10,
// orm::col(&Book::title).icontains("x"). They build the same Q leaves and F expressions as the
// string lookups ("price__lt", F("price")), so both spellings compile to the same SQL.
#pragma once

#include <concepts>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>

#include "orm/expressions.hpp"
#include "orm/meta.hpp"
#include "orm/q.hpp"

namespace orm {

template <class T, class M>
class Col {
public:
    using scalar = typename detail::field_traits<M>::scalar;
    static constexpr bool is_text = std::is_same_v<scalar, std::string>;
    static constexpr bool is_nullable = detail::field_traits<M>::nullable;

    static constexpr bool is_date = std::is_same_v<scalar, Date>;
    static constexpr bool is_temporal = detail::is_sys_time<scalar>::value;
    static constexpr bool is_timestamp = is_temporal && !is_date;

    explicit Col(M T::*member) : name_(field_of(member).name) {}
    // A transform of another column: the path "published__year" (see the transforms below).
    Col(std::string path, const Col<T, M>*) : name_(std::move(path)) {}
    const std::string& name() const noexcept { return name_; }
    // As an expression (F(name)), for arithmetic, update() values and aggregates.
    Expr expr() const { return F(name_); }
    operator Expr() const { return expr(); }  // NOLINT: a column is an expression

    template <class V> requires std::convertible_to<V, scalar> Q exact(V&& v) const { return leaf("exact", scalar(std::forward<V>(v))); }
    template <class V> requires std::convertible_to<V, scalar> Q gt(V&& v) const { return leaf("gt", scalar(std::forward<V>(v))); }
    template <class V> requires std::convertible_to<V, scalar> Q gte(V&& v) const { return leaf("gte", scalar(std::forward<V>(v))); }
    template <class V> requires std::convertible_to<V, scalar> Q lt(V&& v) const { return leaf("lt", scalar(std::forward<V>(v))); }
    template <class V> requires std::convertible_to<V, scalar> Q lte(V&& v) const { return leaf("lte", scalar(std::forward<V>(v))); }
    template <class V> requires std::convertible_to<V, scalar> Q range(V&& low, V&& high) const {
        return leaf("range", Operand{detail::to_value(scalar(std::forward<V>(low))), detail::to_value(scalar(std::forward<V>(high)))});
    }
    Q in(std::initializer_list<scalar> values) const { return in_list(values); }
    template <detail::iterable R>
        requires std::convertible_to<detail::iterable_reference_t<R>, scalar>
    Q in(const R& values) const { return in_list(values); }
    Q isnull(bool yes = true) const { return leaf("isnull", Value(yes)); }

    // Text lookups exist only for string fields.
    Q iexact(std::string v) const requires is_text { return leaf("iexact", std::move(v)); }
    Q contains(std::string v) const requires is_text { return leaf("contains", std::move(v)); }
    Q icontains(std::string v) const requires is_text { return leaf("icontains", std::move(v)); }
    Q startswith(std::string v) const requires is_text { return leaf("startswith", std::move(v)); }
    Q istartswith(std::string v) const requires is_text { return leaf("istartswith", std::move(v)); }
    Q endswith(std::string v) const requires is_text { return leaf("endswith", std::move(v)); }
    Q iendswith(std::string v) const requires is_text { return leaf("iendswith", std::move(v)); }
    Q regex(std::string v) const requires is_text { return leaf("regex", std::move(v)); }
    Q iregex(std::string v) const requires is_text { return leaf("iregex", std::move(v)); }

    // Comparisons with a value of the field's type, or with another expression.
    template <class V> requires std::convertible_to<V, scalar> friend Q operator==(const Col& c, V&& v) { return c.exact(std::forward<V>(v)); }
    template <class V> requires std::convertible_to<V, scalar> friend Q operator!=(const Col& c, V&& v) { return ~c.exact(std::forward<V>(v)); }
    template <class V> requires std::convertible_to<V, scalar> friend Q operator<(const Col& c, V&& v) { return c.lt(std::forward<V>(v)); }
    template <class V> requires std::convertible_to<V, scalar> friend Q operator<=(const Col& c, V&& v) { return c.lte(std::forward<V>(v)); }
    template <class V> requires std::convertible_to<V, scalar> friend Q operator>(const Col& c, V&& v) { return c.gt(std::forward<V>(v)); }
    template <class V> requires std::convertible_to<V, scalar> friend Q operator>=(const Col& c, V&& v) { return c.gte(std::forward<V>(v)); }
    friend Q operator==(const Col& c, const Expr& e) { return c.leaf("exact", e); }
    friend Q operator<(const Col& c, const Expr& e) { return c.leaf("lt", e); }
    friend Q operator<=(const Col& c, const Expr& e) { return c.leaf("lte", e); }
    friend Q operator>(const Col& c, const Expr& e) { return c.leaf("gt", e); }
    friend Q operator>=(const Col& c, const Expr& e) { return c.leaf("gte", e); }

    // Transforms, the typed spellings of "published__year", "title__lower", ...: a column of
    // the transform's type, with the same lookups: col(&Book::published).year() >= 2000.
    Col<T, std::int64_t> year() const requires is_temporal { return transform<std::int64_t>("year"); }
    Col<T, std::int64_t> iso_year() const requires is_temporal { return transform<std::int64_t>("iso_year"); }
    Col<T, std::int64_t> quarter() const requires is_temporal { return transform<std::int64_t>("quarter"); }
    Col<T, std::int64_t> month() const requires is_temporal { return transform<std::int64_t>("month"); }
    Col<T, std::int64_t> week() const requires is_temporal { return transform<std::int64_t>("week"); }
    Col<T, std::int64_t> week_day() const requires is_temporal { return transform<std::int64_t>("week_day"); }
    Col<T, std::int64_t> iso_week_day() const requires is_temporal { return transform<std::int64_t>("iso_week_day"); }
    Col<T, std::int64_t> day() const requires is_temporal { return transform<std::int64_t>("day"); }
    Col<T, std::int64_t> hour() const requires is_timestamp { return transform<std::int64_t>("hour"); }
    Col<T, std::int64_t> minute() const requires is_timestamp { return transform<std::int64_t>("minute"); }
    Col<T, std::int64_t> second() const requires is_timestamp { return transform<std::int64_t>("second"); }
    Col<T, Date> date() const requires is_timestamp { return transform<Date>("date"); }
    Col<T, std::string> lower() const requires is_text { return transform<std::string>("lower"); }
    Col<T, std::string> upper() const requires is_text { return transform<std::string>("upper"); }
    Col<T, std::string> trim() const requires is_text { return transform<std::string>("trim"); }
    Col<T, std::int64_t> length() const requires is_text { return transform<std::int64_t>("length"); }

    // Descending / ascending order terms for order_by.
    std::string desc() const { return "-" + name_; }
    std::string asc() const { return name_; }

private:
    template <class S>
    Col<T, S> transform(std::string_view name) const {
        return Col<T, S>(name_ + "__" + std::string(name), static_cast<const Col<T, S>*>(nullptr));
    }
    Q leaf(std::string_view lookup, Operand rhs) const {
        Q q(name_ + "__" + std::string(lookup), std::move(rhs));
        auto node = std::make_shared<detail::QNode>(*q.node());
        node->model = &model_info<T>();
        return Q(std::move(node));
    }
    template <class R>
    Q in_list(const R& values) const {
        std::vector<Value> list;
        for (auto&& v : values) list.push_back(detail::to_value(scalar(v)));
        return leaf("in", Operand(list));
    }

    std::string name_;
};

// col(&Book::price): a typed handle on a declared field.
template <class T, class M>
Col<T, M> col(M T::*member) {
    return Col<T, M>(member);
}

// Arithmetic on typed columns gives the same expressions as on F.
template <class T, class M, class V> Expr operator+(const Col<T, M>& c, V&& v) { return c.expr() + std::forward<V>(v); }
template <class T, class M, class V> Expr operator-(const Col<T, M>& c, V&& v) { return c.expr() - std::forward<V>(v); }
template <class T, class M, class V> Expr operator*(const Col<T, M>& c, V&& v) { return c.expr() * std::forward<V>(v); }
template <class T, class M, class V> Expr operator/(const Col<T, M>& c, V&& v) { return c.expr() / std::forward<V>(v); }

}  // namespace orm
