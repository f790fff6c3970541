// Django's query expressions beyond F and arithmetic: database functions (Lower, Concat,
// Coalesce, Cast, ExtractYear, Trunc, ...), conditional expressions (Case / When), aggregates
// with filter= / distinct / sample, and subqueries (Subquery, Exists, OuterRef). Each builds a
// dialect-free node (orm/expressions.hpp); the query resolves it and checks its operand types
// (orm::FieldError), and the compiler renders it per dialect with every value bound.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orm/expressions.hpp"
#include "orm/q.hpp"

namespace orm {

namespace detail {
Expr exists_expr(std::shared_ptr<const Query> sub);
Expr subquery_expr(std::shared_ptr<const Query> sub);
}  // namespace detail

// An operand of a function: a field or annotation name ("title", "author__name",
// "published__year"), an expression, or a typed column (orm::col(&Book::title)). Literal
// values are written Val(x), as Django's Value(x).
class ExprArg {
public:
    ExprArg(const char* name) : node_(F(name).node()) {}
    ExprArg(std::string name) : node_(F(std::move(name)).node()) {}
    ExprArg(std::string_view name) : node_(F(std::string(name)).node()) {}
    ExprArg(const Expr& e) : node_(e.node()) {}
    template <class C>
        requires requires(const C& c) {
            { c.expr() } -> std::same_as<Expr>;
        }
    ExprArg(const C& c) : node_(c.expr().node()) {}
    const detail::ExprPtr& node() const noexcept { return node_; }

private:
    detail::ExprPtr node_;
};

// A literal value inside an expression (Django's Value): always a bound parameter.
Expr Val(Value v);

// --- text ---
Expr Lower(ExprArg e);
Expr Upper(ExprArg e);
Expr Length(ExprArg e);  // characters; an integer (NULL for NULL)
Expr Trim(ExprArg e);    // spaces removed at both ends
Expr LTrim(ExprArg e);
Expr RTrim(ExprArg e);
// The texts joined; a NULL operand counts as empty text (as in Django). Two or more operands.
Expr Concat(std::vector<ExprArg> parts);
template <class... A>
    requires(sizeof...(A) >= 2)
Expr Concat(const A&... parts) {
    return Concat(std::vector<ExprArg>{ExprArg(parts)...});
}
// `length` characters from position `pos` (1-based); no length: to the end.
Expr Substr(ExprArg e, std::int64_t pos, std::optional<std::int64_t> length = std::nullopt);
// Every occurrence of `text` replaced with `replacement` (both operands: Val("x") or fields).
Expr Replace(ExprArg e, ExprArg text, ExprArg replacement = Val(std::string()));

// --- comparison ---
// The first non-NULL operand (two or more, of one type).
Expr Coalesce(std::vector<ExprArg> args);
template <class... A>
    requires(sizeof...(A) >= 2)
Expr Coalesce(const A&... args) {
    return Coalesce(std::vector<ExprArg>{ExprArg(args)...});
}
// The greatest / least operand. NULLs: see Features::greatest_least_ignore_nulls.
Expr Greatest(std::vector<ExprArg> args);
template <class... A>
    requires(sizeof...(A) >= 2)
Expr Greatest(const A&... args) {
    return Greatest(std::vector<ExprArg>{ExprArg(args)...});
}
Expr Least(std::vector<ExprArg> args);
template <class... A>
    requires(sizeof...(A) >= 2)
Expr Least(const A&... args) {
    return Least(std::vector<ExprArg>{ExprArg(args)...});
}
// NULL when a equals b, else a.
Expr NullIf(ExprArg a, ExprArg b);

// --- math ---
Expr Abs(ExprArg e);
// Rounded to `places` decimals, halves away from zero; the operand's type.
Expr Round(ExprArg e, std::int32_t places = 0);
// The remainder of a / b, with a's sign.
Expr Mod(ExprArg a, ExprArg b);

// --- date and time (timestamps are UTC) ---
Expr Now();
// The kinds a Cast yields.
enum class CastType : std::uint8_t { boolean, int32, int64, float64, text, timestamp, date };
Expr Cast(ExprArg e, CastType to);
// Extract(e, "year"): year, iso_year, quarter, month, week (ISO), week_day (1 = Sunday),
// iso_week_day (1 = Monday), day, hour, minute, second. An integer.
Expr Extract(ExprArg e, std::string_view part);
Expr ExtractYear(ExprArg e);
Expr ExtractIsoYear(ExprArg e);
Expr ExtractQuarter(ExprArg e);
Expr ExtractMonth(ExprArg e);
Expr ExtractWeek(ExprArg e);
Expr ExtractWeekDay(ExprArg e);
Expr ExtractIsoWeekDay(ExprArg e);
Expr ExtractDay(ExprArg e);
Expr ExtractHour(ExprArg e);
Expr ExtractMinute(ExprArg e);
Expr ExtractSecond(ExprArg e);
// Trunc(e, "month"): the start of the year / quarter / month / week / day / hour / minute /
// second holding e, of e's type. TruncDate: a timestamp's date.
Expr Trunc(ExprArg e, std::string_view kind);
Expr TruncYear(ExprArg e);
Expr TruncQuarter(ExprArg e);
Expr TruncMonth(ExprArg e);
Expr TruncWeek(ExprArg e);
Expr TruncDay(ExprArg e);
Expr TruncHour(ExprArg e);
Expr TruncMinute(ExprArg e);
Expr TruncSecond(ExprArg e);
Expr TruncDate(ExprArg e);

// --- conditional expressions ---
// One branch of a Case: when `condition` holds, `then` (a value, bound, or an expression).
class When {
public:
    When(Q condition, Operand then);
    // When("pages__gt", 100, "long"): a lookup and its value as the condition.
    When(std::string lookup, Operand value, Operand then) : When(Q(std::move(lookup), std::move(value)), std::move(then)) {}
    const Q& condition() const noexcept { return condition_; }
    const detail::ExprPtr& result() const noexcept { return then_; }

private:
    Q condition_;
    detail::ExprPtr then_;
};
// The first When whose condition holds gives the value, else `otherwise` (NULL when not
// given). At least one When (a FieldError otherwise); every result of one type.
Expr Case(std::vector<When> whens, Operand otherwise = Value());

// --- aggregates with options ---
// Django's keyword arguments: distinct=True counts / sums each value once; filter= aggregates
// only the rows the condition holds for (FILTER (WHERE ...) as CASE WHEN, on every backend);
// sample= makes StdDev / Variance those of a sample (n - 1) rather than the population.
struct AggregateOptions {
    bool distinct = false;
    Q filter;
    bool sample = false;
};
Expr Count(ExprArg e, AggregateOptions options);
Expr Sum(ExprArg e, AggregateOptions options);
Expr Avg(ExprArg e, AggregateOptions options);
Expr Min(ExprArg e, AggregateOptions options);
Expr Max(ExprArg e, AggregateOptions options);
Expr StdDev(ExprArg e, AggregateOptions options = {});
Expr Variance(ExprArg e, AggregateOptions options = {});

// --- subqueries ---
// A name of the query enclosing the Subquery / Exists this appears in (OuterRef("pk")). Used
// anywhere else it is a FieldError when the query runs.
Expr OuterRef(std::string name);
// Whether the queryset has a row: a boolean, for filter(Exists(...)) and annotate.
template <QueryLike QS>
Expr Exists(const QS& qs) {
    return detail::exists_expr(qs.query_ptr());
}
// The value of the queryset's one column in its first row (values("x") sliced to one row).
template <QueryLike QS>
Expr Subquery(const QS& qs) {
    return detail::subquery_expr(qs.query_ptr());
}

}  // namespace orm
