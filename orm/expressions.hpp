// Query expressions: F (a field or annotation by name), arithmetic with + - * /, aggregates
// (Count, Sum, Avg, Min, Max), and Operand, the right-hand side of a lookup or an update
// assignment (a value, a list of values, or an expression). These are dialect-free nodes; the
// query resolves names against the model and the compiler renders them per dialect.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <concepts>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "drivers/value.hpp"

namespace orm {

struct FieldInfo;

namespace detail {

// What std::ranges::input_range and std::ranges::range_reference_t say of the ranges Operand and
// orm::col(...).in() take, spelt with std::begin / std::end so that the public headers need no
// <ranges>, which would add about a tenth to the compile time of every file including them.
template <class R>
concept iterable = requires(const R& r) {
    std::begin(r);
    std::end(r);
};
template <class R>
using iterable_reference_t = decltype(*std::begin(std::declval<const R&>()));

// func: a database function or transform (orm/functions.hpp); case_: Case(When...); subquery /
// exists: Subquery(qs) / Exists(qs); outer_ref: OuterRef("name") (lhs: the outer query's
// column once the enclosing query resolved it).
enum class ExprKind : std::uint8_t { field, value, arith, aggregate, annotation, func, case_, subquery, exists, outer_ref };
enum class AggFn : std::uint8_t { count, sum, avg, min, max, std_dev, variance };
// The functions and transforms a func node computes (orm/functions.cpp knows their types).
enum class Fn : std::uint8_t {
    extract,  // part: a DatePart (year, month, ..., second)
    trunc,    // part: a DatePart
    date,     // a timestamp's UTC date
    lower, upper, length, trim, ltrim, rtrim, concat, substr, replace,
    coalesce, greatest, least, nullif, abs, round, mod, now, cast, random,
};

struct QNode;
struct WhereNode;
struct Query;

struct ExprNode {
    ExprKind kind = ExprKind::value;
    char op = 0;  // arith: '+', '-', '*', '/'
    AggFn fn = AggFn::count;
    bool distinct = false;         // COUNT(DISTINCT ...)
    bool sample = false;           // StdDev / Variance: of a sample (else of the population)
    Fn func = Fn::lower;           // func
    std::uint8_t part = 0;         // func extract / trunc: a db::Dialect::DatePart
    ValueKind cast_to = ValueKind::null;  // func cast: the kind of value it yields
    std::string name;              // field/annotation name as written; an aggregate's default alias
    const FieldInfo* field = nullptr;  // set once resolved against a model
    std::uint16_t table = 0;           // field: the query's table it belongs to (0: the model's own; n: join n)
    std::uint16_t depth = 1;           // levels of nesting, this node included (max_expression_depth)
    Value value;
    std::shared_ptr<const ExprNode> lhs, rhs;  // arith operands; an aggregate's argument (null: COUNT(*))
    // func: its operands; case_: the When results in order, then the default.
    std::vector<std::shared_ptr<const ExprNode>> args;
    // Conditions as written (aggregate: its filter=, at most one; case_: one per When) and as
    // resolved against the query (WHERE trees, same order).
    std::vector<std::shared_ptr<const QNode>> conditions;
    std::vector<std::shared_ptr<const WhereNode>> resolved;
    std::shared_ptr<const Query> sub;  // subquery / exists: the inner query
};
using ExprPtr = std::shared_ptr<const ExprNode>;

}  // namespace detail

// How deeply expressions (F arithmetic, aggregates) and Q conditions may nest: building a deeper
// one throws orm::FieldError. The SQL compiler and the nodes' own destruction recurse once per
// level, and a fiber's stack is small (128 KiB by default); SQLite's parser gives up at about 90
// nested parentheses ("parser stack overflow"). So the bound is 64 on every backend, which
// keeps hostile or generated input from overflowing a stack and gives the same answer
// everywhere. Long chains of one operator do not nest: a & b & c ... and a | b | c ... stay one
// level however many terms they have.
inline constexpr std::size_t max_expression_depth = 64;

class OrderBy;

// An expression over a model's fields. Build with F, aggregates and arithmetic.
class Expr {
public:
    explicit Expr(detail::ExprPtr node) : node_(std::move(node)) {}
    const detail::ExprPtr& node() const noexcept { return node_; }
    // The alias values()/annotate() use when none is given ("price__avg"); empty if none.
    const std::string& default_alias() const noexcept;
    // order_by() terms ordering by this expression: order_by(orm::Lower("title").desc()).
    OrderBy asc() const;
    OrderBy desc() const;

private:
    detail::ExprPtr node_;
};

// A field (or annotation) of the queried model, by name: F("price").
class F : public Expr {
public:
    explicit F(std::string name);
};

// Where order_by() puts NULLs: where the database does by default (SQLite: first when
// ascending, PostgreSQL: last), or first / last on every backend.
enum class Nulls : std::uint8_t { database, first, last };

// One order_by() term: a field or annotation name ("-" for descending, as in plain strings)
// and where its NULLs go: order_by(orm::asc("born").nulls_last(), orm::desc("price").nulls_first()).
// An expression orders too: order_by(orm::Case(...)), order_by(orm::Lower("title").desc()).
class OrderBy {
public:
    OrderBy(const char* name) : name_(name) {}
    OrderBy(std::string name) : name_(std::move(name)) {}
    OrderBy(std::string_view name) : name_(name) {}
    OrderBy(const Expr& e, bool descending = false) : expr_(e.node()), descending_(descending) {}
    OrderBy nulls_first() const { return with(Nulls::first); }
    OrderBy nulls_last() const { return with(Nulls::last); }
    const std::string& name() const noexcept { return name_; }
    Nulls nulls() const noexcept { return nulls_; }
    // An expression term (null for a name) and its direction.
    const detail::ExprPtr& expr() const noexcept { return expr_; }
    bool descending() const noexcept { return descending_; }

private:
    OrderBy with(Nulls n) const {
        OrderBy o = *this;
        o.nulls_ = n;
        return o;
    }
    std::string name_;
    detail::ExprPtr expr_;
    bool descending_ = false;
    Nulls nulls_ = Nulls::database;
};
inline OrderBy asc(std::string_view name) { return OrderBy(name); }
inline OrderBy desc(std::string_view name) { return OrderBy("-" + std::string(name)); }

// A literal value inside an expression, bound as a parameter.
Expr value_expr(Value v);

Expr operator+(const Expr& a, const Expr& b);
Expr operator-(const Expr& a, const Expr& b);
Expr operator*(const Expr& a, const Expr& b);
Expr operator/(const Expr& a, const Expr& b);

template <class V>
concept ValueLike = std::is_constructible_v<Value, V> && !std::is_base_of_v<Expr, std::remove_cvref_t<V>>;

template <ValueLike V> Expr operator+(const Expr& a, V&& b) { return a + value_expr(Value(std::forward<V>(b))); }
template <ValueLike V> Expr operator-(const Expr& a, V&& b) { return a - value_expr(Value(std::forward<V>(b))); }
template <ValueLike V> Expr operator*(const Expr& a, V&& b) { return a * value_expr(Value(std::forward<V>(b))); }
template <ValueLike V> Expr operator/(const Expr& a, V&& b) { return a / value_expr(Value(std::forward<V>(b))); }
template <ValueLike V> Expr operator+(V&& a, const Expr& b) { return value_expr(Value(std::forward<V>(a))) + b; }
template <ValueLike V> Expr operator-(V&& a, const Expr& b) { return value_expr(Value(std::forward<V>(a))) - b; }
template <ValueLike V> Expr operator*(V&& a, const Expr& b) { return value_expr(Value(std::forward<V>(a))) * b; }
template <ValueLike V> Expr operator/(V&& a, const Expr& b) { return value_expr(Value(std::forward<V>(a))) / b; }

// Aggregates. Default aliases follow Django: Avg("price") is "price__avg"; Count() counts rows.
Expr Count();
Expr Count(std::string field, bool distinct = false);
Expr Count(const Expr& e, bool distinct = false);
Expr Sum(std::string field);
Expr Sum(const Expr& e);
Expr Avg(std::string field);
Expr Avg(const Expr& e);
Expr Min(std::string field);
Expr Min(const Expr& e);
Expr Max(std::string field);
Expr Max(const Expr& e);

// A model object or a ForeignKey: anything with pk() -> Value stands for its key in lookups
// (filter("author", ann), filter("author__in", authors)).
template <class V>
concept HasPk = !ValueLike<V> && requires(const V& v) {
    { v.pk() } -> std::same_as<Value>;
};

// A queryset (anything with query_ptr()): the value of __in as a subquery.
template <class V>
concept QueryLike = requires(const V& v) {
    { v.query_ptr() } -> std::convertible_to<std::shared_ptr<const detail::Query>>;
};

// The right-hand side of a lookup or an update: a value, a list of values (for __in and
// __range: any range, a std::pair or a braced list), an expression, or a queryset (for __in:
// a subquery, never evaluated on its own).
class Operand {
public:
    enum class Kind : std::uint8_t { value, list, expr, query };

    Operand(Expr e) : kind_(Kind::expr), expr_(std::move(e).node()) {}
    template <QueryLike QS>
    Operand(const QS& qs) : kind_(Kind::query), query_(qs.query_ptr()) {}
    template <ValueLike V>
    Operand(V&& v) : kind_(Kind::value), value_(std::forward<V>(v)) {}
    template <HasPk M>
    Operand(const M& obj) : kind_(Kind::value), value_(obj.pk()) {}
    template <detail::iterable R>
        requires(!ValueLike<R> && !HasPk<R> && !QueryLike<R> &&
                 HasPk<std::remove_cvref_t<detail::iterable_reference_t<R>>>)
    Operand(const R& r) : kind_(Kind::list) {
        for (auto&& x : r) list_.push_back(x.pk());
    }
    Operand(std::initializer_list<Value> values) : kind_(Kind::list), list_(values) {}
    template <class A, class B>
    Operand(const std::pair<A, B>& p) : kind_(Kind::list), list_{Value(p.first), Value(p.second)} {}
    template <detail::iterable R>
        requires(!ValueLike<R> && !QueryLike<R> && std::is_constructible_v<Value, detail::iterable_reference_t<R>>)
    Operand(const R& r) : kind_(Kind::list) {
        for (auto&& x : r) list_.emplace_back(x);
    }

    Kind kind() const noexcept { return kind_; }
    const Value& value() const noexcept { return value_; }
    const std::vector<Value>& list() const noexcept { return list_; }
    const detail::ExprPtr& expr() const noexcept { return expr_; }
    const std::shared_ptr<const detail::Query>& query() const noexcept { return query_; }

private:
    Kind kind_;
    Value value_;
    std::vector<Value> list_;
    detail::ExprPtr expr_;
    std::shared_ptr<const detail::Query> query_;
};

// update() assignments and get_or_create() values: {{"price", F("price") * 2}, {"title", "x"}}.
using Assignments = std::vector<std::pair<std::string, Operand>>;

}  // namespace orm
