// Database functions, transforms, Case / When, aggregate options and subquery expressions: the
// node builders of orm/functions.hpp and the type rules (functions_impl.hpp).
#include "orm/functions.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "drivers/dialect.hpp"
#include "orm/errors.hpp"
#include "orm/functions_impl.hpp"
#include "orm/query.hpp"

namespace orm {

namespace {

using detail::ExprKind;
using detail::ExprNode;
using detail::ExprPtr;
using detail::Fn;
using CT = db::ColumnType;
using Part = db::Dialect::DatePart;

ExprPtr make(ExprNode n) {
    std::uint16_t below = 0;
    for (const auto* p : {&n.lhs, &n.rhs})
        if (*p) below = std::max(below, (*p)->depth);
    for (const auto& a : n.args)
        if (a) below = std::max(below, a->depth);
    for (const auto& c : n.conditions)  // When conditions, which may hold expressions in turn
        if (c) below = std::max(below, c->depth);
    if (below + 1u > max_expression_depth)
        throw FieldError(fmt::format("an expression nested {} levels deep: at most {} levels are supported "
                                     "(orm::max_expression_depth)",
                                     below + 1, max_expression_depth));
    n.depth = static_cast<std::uint16_t>(below + 1);
    return std::make_shared<const ExprNode>(std::move(n));
}

Expr func(Fn f, std::vector<ExprPtr> args) {
    ExprNode n;
    n.kind = ExprKind::func;
    n.func = f;
    n.args = std::move(args);
    return Expr(make(std::move(n)));
}

std::vector<ExprPtr> nodes(const std::vector<ExprArg>& args) {
    std::vector<ExprPtr> out;
    out.reserve(args.size());
    for (const auto& a : args) out.push_back(a.node());
    return out;
}

struct PartName {
    std::string_view name;
    Part part;
};
constexpr std::array<PartName, 11> part_names = {{
    {"year", Part::year},
    {"iso_year", Part::iso_year},
    {"quarter", Part::quarter},
    {"month", Part::month},
    {"week", Part::week},
    {"week_day", Part::week_day},
    {"iso_week_day", Part::iso_week_day},
    {"day", Part::day},
    {"hour", Part::hour},
    {"minute", Part::minute},
    {"second", Part::second},
}};

std::string_view part_name(std::uint8_t p) {
    for (const auto& pn : part_names)
        if (static_cast<std::uint8_t>(pn.part) == p) return pn.name;
    return "year";
}

bool time_of_day(Part p) { return p == Part::hour || p == Part::minute || p == Part::second; }

Expr date_part(Fn f, ExprArg e, std::string_view name, bool trunc) {
    for (const auto& pn : part_names) {
        if (pn.name != name) continue;
        if (trunc && (pn.part == Part::iso_year || pn.part == Part::week_day || pn.part == Part::iso_week_day))
            break;
        ExprNode n;
        n.kind = ExprKind::func;
        n.func = f;
        n.part = static_cast<std::uint8_t>(pn.part);
        n.args = {e.node()};
        return Expr(make(std::move(n)));
    }
    std::vector<std::string_view> names;
    for (const auto& pn : part_names)
        if (!trunc || !(pn.part == Part::iso_year || pn.part == Part::week_day || pn.part == Part::iso_week_day))
            names.push_back(pn.name);
    throw FieldError(fmt::format("{}(): '{}' is not a part it takes. Choices are: {}", trunc ? "Trunc" : "Extract",
                                 name, fmt::join(names, ", ")));
}

Expr aggregate_with(detail::AggFn fn, ExprArg e, const AggregateOptions& o, std::string_view suffix) {
    ExprNode n;
    n.kind = ExprKind::aggregate;
    n.fn = fn;
    n.distinct = o.distinct;
    n.sample = o.sample;
    n.lhs = e.node();
    if (n.lhs->kind == ExprKind::field) n.name = n.lhs->name + "__" + std::string(suffix);
    if (!o.filter.empty()) n.conditions.push_back(o.filter.node());
    return Expr(make(std::move(n)));
}

bool is_text(CT t) { return t == CT::text || t == CT::varchar; }
bool is_numeric(CT t) { return t == CT::int32 || t == CT::int64 || t == CT::float64; }
bool is_integer(CT t) { return t == CT::int32 || t == CT::int64; }
bool is_temporal(CT t) { return t == CT::date || t == CT::timestamp; }

std::string describe(const ExprNode& e) {
    if (e.kind == ExprKind::field || e.kind == ExprKind::annotation) return fmt::format("'{}'", e.name);
    if (e.kind == ExprKind::value) return fmt::format("the value {}", e.value.debug_string());
    if (e.kind == ExprKind::func) return detail::function_name(e) + "(...)";
    return "the expression";
}

// The type several operands share: numbers of both kinds give a double, texts of both lengths text.
std::optional<CT> common_type(const std::vector<ExprPtr>& args, std::string_view fname) {
    std::optional<CT> out;
    for (const auto& a : args) {
        auto t = detail::output_type(*a);
        if (!t) continue;
        if (!out) {
            out = t;
            continue;
        }
        if (*out == *t) continue;
        if (is_numeric(*out) && is_numeric(*t)) {
            out = (*out == CT::float64 || *t == CT::float64) ? CT::float64 : CT::int64;
        } else if (is_text(*out) && is_text(*t)) {
            out = CT::text;
        } else {
            std::vector<std::string> kinds;
            for (const auto& b : args) {
                auto bt = detail::output_type(*b);
                kinds.push_back(fmt::format("{} ({})", describe(*b), bt ? db::to_string(*bt) : "unknown"));
            }
            throw FieldError(fmt::format("{}: expression contains mixed types: {}. The operands must all be numbers, "
                                         "all text, or all of one other type (Cast() one of them)",
                                         fname, fmt::join(kinds, ", ")));
        }
    }
    return out;
}

}  // namespace

namespace detail {

std::string function_name(const ExprNode& n) {
    if (n.kind == ExprKind::case_) return "Case";
    switch (n.func) {
        case Fn::extract: {
            std::string p(part_name(n.part));
            std::string out = "Extract";
            bool up = true;
            for (char c : p) {
                if (c == '_') {
                    up = true;
                    continue;
                }
                out += up ? static_cast<char>(c - 'a' + 'A') : c;
                up = false;
            }
            return out;
        }
        case Fn::trunc: return fmt::format("Trunc('{}')", part_name(n.part));
        case Fn::date: return "TruncDate";
        case Fn::lower: return "Lower";
        case Fn::upper: return "Upper";
        case Fn::length: return "Length";
        case Fn::trim: return "Trim";
        case Fn::ltrim: return "LTrim";
        case Fn::rtrim: return "RTrim";
        case Fn::concat: return "Concat";
        case Fn::substr: return "Substr";
        case Fn::replace: return "Replace";
        case Fn::coalesce: return "Coalesce";
        case Fn::greatest: return "Greatest";
        case Fn::least: return "Least";
        case Fn::nullif: return "NullIf";
        case Fn::abs: return "Abs";
        case Fn::round: return "Round";
        case Fn::mod: return "Mod";
        case Fn::now: return "Now";
        case Fn::cast: return "Cast";
        case Fn::random: return "Random";
    }
    return "function";
}

namespace {

struct TransformSpec {
    std::string_view name;
    Fn func;
    Part part;
    int input;  // 0: date or timestamp; 1: timestamp only; 2: text
};
constexpr std::array<TransformSpec, 16> transforms = {{
    {"year", Fn::extract, Part::year, 0},
    {"iso_year", Fn::extract, Part::iso_year, 0},
    {"quarter", Fn::extract, Part::quarter, 0},
    {"month", Fn::extract, Part::month, 0},
    {"week", Fn::extract, Part::week, 0},
    {"week_day", Fn::extract, Part::week_day, 0},
    {"iso_week_day", Fn::extract, Part::iso_week_day, 0},
    {"day", Fn::extract, Part::day, 0},
    {"hour", Fn::extract, Part::hour, 1},
    {"minute", Fn::extract, Part::minute, 1},
    {"second", Fn::extract, Part::second, 1},
    {"date", Fn::date, Part::year, 1},
    {"lower", Fn::lower, Part::year, 2},
    {"upper", Fn::upper, Part::year, 2},
    {"length", Fn::length, Part::year, 2},
    {"trim", Fn::trim, Part::year, 2},
}};

bool takes(const TransformSpec& s, std::optional<CT> t) {
    if (!t) return false;
    switch (s.input) {
        case 0: return is_temporal(*t);
        case 1: return *t == CT::timestamp;
        default: return is_text(*t);
    }
}

}  // namespace

ExprPtr apply_transform(const ExprPtr& lhs, std::string_view name) {
    const auto t = output_type(*lhs);
    for (const auto& s : transforms) {
        if (s.name != name || !takes(s, t)) continue;
        ExprNode n;
        n.kind = ExprKind::func;
        n.func = s.func;
        n.part = static_cast<std::uint8_t>(s.part);
        n.name = lhs->name + "__" + std::string(name);
        n.args = {lhs};
        return make(std::move(n));
    }
    return nullptr;
}

std::string transform_names(std::optional<CT> t) {
    std::vector<std::string_view> names;
    for (const auto& s : transforms)
        if (takes(s, t)) names.push_back(s.name);
    std::sort(names.begin(), names.end());
    return fmt::format("{}", fmt::join(names, ", "));
}

void check_function(const ExprNode& n) {
    const std::string fname = function_name(n);
    auto need = [&](const ExprPtr& a, auto pred, std::string_view what) {
        auto t = output_type(*a);
        if (t && !pred(*t))
            throw FieldError(fmt::format("{}() needs {}, but {} is {}", fname, what, describe(*a), db::to_string(*t)));
    };
    if (n.kind == ExprKind::case_) {
        std::vector<ExprPtr> results(n.args.begin(), n.args.end());
        common_type(results, "Case");
        return;
    }
    switch (n.func) {
        case Fn::extract:
            if (time_of_day(static_cast<Part>(n.part)))
                need(n.args[0], [](CT t) { return t == CT::timestamp; }, "a timestamp (a date has no time of day)");
            else
                need(n.args[0], is_temporal, "a date or a timestamp");
            return;
        case Fn::trunc:
            if (time_of_day(static_cast<Part>(n.part)))
                need(n.args[0], [](CT t) { return t == CT::timestamp; }, "a timestamp (a date has no time of day)");
            else
                need(n.args[0], is_temporal, "a date or a timestamp");
            return;
        case Fn::date: need(n.args[0], [](CT t) { return t == CT::timestamp; }, "a timestamp"); return;
        case Fn::lower:
        case Fn::upper:
        case Fn::length:
        case Fn::trim:
        case Fn::ltrim:
        case Fn::rtrim:
        case Fn::concat:
        case Fn::replace:
            for (const auto& a : n.args) need(a, is_text, "text operands");
            return;
        case Fn::substr:
            need(n.args[0], is_text, "a text operand");
            for (std::size_t i = 1; i < n.args.size(); ++i) need(n.args[i], is_integer, "integer positions");
            return;
        case Fn::coalesce:
        case Fn::greatest:
        case Fn::least:
        case Fn::nullif: common_type(n.args, fname); return;
        case Fn::abs: need(n.args[0], is_numeric, "a number"); return;
        case Fn::round:
            need(n.args[0], is_numeric, "a number");
            return;
        case Fn::mod:
            for (const auto& a : n.args) need(a, is_numeric, "numbers");
            return;
        case Fn::now:
        case Fn::cast:
        case Fn::random: return;
    }
}

std::optional<CT> function_output_type(const ExprNode& n) noexcept {
    try {
        if (n.kind == ExprKind::case_) return common_type(n.args, "Case");
        switch (n.func) {
            case Fn::extract:
            case Fn::length: return CT::int64;
            case Fn::trunc: return n.args.empty() ? std::nullopt : output_type(*n.args[0]);
            case Fn::date: return CT::date;
            case Fn::lower:
            case Fn::upper:
            case Fn::trim:
            case Fn::ltrim:
            case Fn::rtrim:
            case Fn::concat:
            case Fn::substr:
            case Fn::replace: return CT::text;
            case Fn::coalesce:
            case Fn::greatest:
            case Fn::least: return common_type(n.args, "");
            case Fn::nullif:
            case Fn::abs:
            case Fn::round: return n.args.empty() ? std::nullopt : output_type(*n.args[0]);
            case Fn::mod: {
                auto t = common_type(n.args, "");
                if (t && is_integer(*t)) return CT::int64;
                return t;
            }
            case Fn::now: return CT::timestamp;
            case Fn::random: return CT::float64;
            case Fn::cast:
                switch (n.cast_to) {
                    case ValueKind::boolean: return CT::boolean;
                    case ValueKind::int32: return CT::int32;
                    case ValueKind::int64: return CT::int64;
                    case ValueKind::float64: return CT::float64;
                    case ValueKind::text: return CT::text;
                    case ValueKind::bytes: return CT::bytes;
                    case ValueKind::timestamp: return CT::timestamp;
                    case ValueKind::date: return CT::date;
                    case ValueKind::null: return std::nullopt;
                }
                return std::nullopt;
        }
    } catch (...) {
    }
    return std::nullopt;
}

Expr exists_expr(std::shared_ptr<const Query> sub) {
    check_query_nesting(*sub, "Exists()");
    ExprNode n;
    n.kind = ExprKind::exists;
    n.sub = std::move(sub);
    return Expr(make(std::move(n)));
}

Expr subquery_expr(std::shared_ptr<const Query> sub) {
    if (!sub->values_mode || sub->values.size() != 1)
        throw FieldError(fmt::format("Subquery() needs a queryset of one column, as values(\"field\") gives; this one "
                                     "selects {}",
                                     sub->values_mode ? fmt::format("{} columns", sub->values.size())
                                                      : std::string("whole model rows")));
    check_query_nesting(*sub, "Subquery()");
    ExprNode n;
    n.kind = ExprKind::subquery;
    n.sub = std::move(sub);
    return Expr(make(std::move(n)));
}

}  // namespace detail

Expr Val(Value v) { return value_expr(std::move(v)); }

Expr Lower(ExprArg e) { return func(Fn::lower, {e.node()}); }
Expr Upper(ExprArg e) { return func(Fn::upper, {e.node()}); }
Expr Length(ExprArg e) { return func(Fn::length, {e.node()}); }
Expr Trim(ExprArg e) { return func(Fn::trim, {e.node()}); }
Expr LTrim(ExprArg e) { return func(Fn::ltrim, {e.node()}); }
Expr RTrim(ExprArg e) { return func(Fn::rtrim, {e.node()}); }

Expr Concat(std::vector<ExprArg> parts) {
    if (parts.size() < 2) throw FieldError(fmt::format("Concat() needs at least two operands, not {}", parts.size()));
    return func(Fn::concat, nodes(parts));
}

Expr Substr(ExprArg e, std::int64_t pos, std::optional<std::int64_t> length) {
    if (pos < 1) throw FieldError(fmt::format("Substr(): the position is 1-based and must be at least 1, not {}", pos));
    if (length && *length < 0) throw FieldError(fmt::format("Substr(): the length cannot be negative ({})", *length));
    if (pos > INT32_MAX || (length && *length > INT32_MAX))
        throw FieldError("Substr(): the position and length must fit in 32 bits");
    // Bound as 32-bit integers: PostgreSQL's substr() takes integer, not bigint.
    std::vector<ExprPtr> args{e.node(), Val(static_cast<std::int32_t>(pos)).node()};
    if (length) args.push_back(Val(static_cast<std::int32_t>(*length)).node());
    return func(Fn::substr, std::move(args));
}

Expr Replace(ExprArg e, ExprArg text, ExprArg replacement) {
    return func(Fn::replace, {e.node(), text.node(), replacement.node()});
}

namespace {
Expr several(Fn f, std::string_view name, std::vector<ExprArg> args) {
    if (args.size() < 2) throw FieldError(fmt::format("{}() needs at least two operands, not {}", name, args.size()));
    return func(f, nodes(args));
}
}  // namespace

Expr Coalesce(std::vector<ExprArg> args) { return several(Fn::coalesce, "Coalesce", std::move(args)); }
Expr Greatest(std::vector<ExprArg> args) { return several(Fn::greatest, "Greatest", std::move(args)); }
Expr Least(std::vector<ExprArg> args) { return several(Fn::least, "Least", std::move(args)); }
Expr NullIf(ExprArg a, ExprArg b) { return func(Fn::nullif, {a.node(), b.node()}); }

Expr Abs(ExprArg e) { return func(Fn::abs, {e.node()}); }
Expr Round(ExprArg e, std::int32_t places) { return func(Fn::round, {e.node(), Val(places).node()}); }
Expr Mod(ExprArg a, ExprArg b) { return func(Fn::mod, {a.node(), b.node()}); }
Expr Now() { return func(Fn::now, {}); }

Expr Cast(ExprArg e, CastType to) {
    ExprNode n;
    n.kind = ExprKind::func;
    n.func = Fn::cast;
    switch (to) {
        case CastType::boolean: n.cast_to = ValueKind::boolean; break;
        case CastType::int32: n.cast_to = ValueKind::int32; break;
        case CastType::int64: n.cast_to = ValueKind::int64; break;
        case CastType::float64: n.cast_to = ValueKind::float64; break;
        case CastType::text: n.cast_to = ValueKind::text; break;
        case CastType::timestamp: n.cast_to = ValueKind::timestamp; break;
        case CastType::date: n.cast_to = ValueKind::date; break;
    }
    n.args = {e.node()};
    return Expr(make(std::move(n)));
}

Expr Extract(ExprArg e, std::string_view part) { return date_part(Fn::extract, std::move(e), part, false); }
Expr ExtractYear(ExprArg e) { return Extract(std::move(e), "year"); }
Expr ExtractIsoYear(ExprArg e) { return Extract(std::move(e), "iso_year"); }
Expr ExtractQuarter(ExprArg e) { return Extract(std::move(e), "quarter"); }
Expr ExtractMonth(ExprArg e) { return Extract(std::move(e), "month"); }
Expr ExtractWeek(ExprArg e) { return Extract(std::move(e), "week"); }
Expr ExtractWeekDay(ExprArg e) { return Extract(std::move(e), "week_day"); }
Expr ExtractIsoWeekDay(ExprArg e) { return Extract(std::move(e), "iso_week_day"); }
Expr ExtractDay(ExprArg e) { return Extract(std::move(e), "day"); }
Expr ExtractHour(ExprArg e) { return Extract(std::move(e), "hour"); }
Expr ExtractMinute(ExprArg e) { return Extract(std::move(e), "minute"); }
Expr ExtractSecond(ExprArg e) { return Extract(std::move(e), "second"); }

Expr Trunc(ExprArg e, std::string_view kind) {
    if (kind == "date") return TruncDate(std::move(e));
    return date_part(Fn::trunc, std::move(e), kind, true);
}
Expr TruncYear(ExprArg e) { return Trunc(std::move(e), "year"); }
Expr TruncQuarter(ExprArg e) { return Trunc(std::move(e), "quarter"); }
Expr TruncMonth(ExprArg e) { return Trunc(std::move(e), "month"); }
Expr TruncWeek(ExprArg e) { return Trunc(std::move(e), "week"); }
Expr TruncDay(ExprArg e) { return Trunc(std::move(e), "day"); }
Expr TruncHour(ExprArg e) { return Trunc(std::move(e), "hour"); }
Expr TruncMinute(ExprArg e) { return Trunc(std::move(e), "minute"); }
Expr TruncSecond(ExprArg e) { return Trunc(std::move(e), "second"); }
Expr TruncDate(ExprArg e) { return func(Fn::date, {e.node()}); }

When::When(Q condition, Operand then) : condition_(std::move(condition)) {
    if (condition_.empty()) throw FieldError("When() needs a condition: When(Q(\"lookup\", value), then)");
    switch (then.kind()) {
        case Operand::Kind::value: then_ = Val(then.value()).node(); break;
        case Operand::Kind::expr: then_ = then.expr(); break;
        default: throw FieldError("When(): the result (then) must be a value or an expression, not a list or a queryset");
    }
}

Expr Case(std::vector<When> whens, Operand otherwise) {
    if (whens.empty())
        throw FieldError("Case() needs at least one When(condition, then): Case({When(Q(\"pages__gt\", 300), "
                         "\"long\")}, \"short\")");
    ExprNode n;
    n.kind = ExprKind::case_;
    for (auto& w : whens) {
        n.conditions.push_back(w.condition().node());
        n.args.push_back(w.result());
    }
    switch (otherwise.kind()) {
        case Operand::Kind::value: n.args.push_back(Val(otherwise.value()).node()); break;
        case Operand::Kind::expr: n.args.push_back(otherwise.expr()); break;
        default: throw FieldError("Case(): the default must be a value or an expression, not a list or a queryset");
    }
    return Expr(make(std::move(n)));
}

Expr Count(ExprArg e, AggregateOptions o) {
    if (e.node()->kind == ExprKind::field && e.node()->name == "*") {
        if (o.distinct) throw FieldError("Count('*', distinct=true) is not allowed: count a field's distinct values");
        ExprNode n;
        n.kind = ExprKind::aggregate;
        n.fn = detail::AggFn::count;
        n.name = "count";
        if (!o.filter.empty()) n.conditions.push_back(o.filter.node());
        return Expr(make(std::move(n)));
    }
    return aggregate_with(detail::AggFn::count, std::move(e), o, "count");
}
Expr Sum(ExprArg e, AggregateOptions o) { return aggregate_with(detail::AggFn::sum, std::move(e), o, "sum"); }
Expr Avg(ExprArg e, AggregateOptions o) { return aggregate_with(detail::AggFn::avg, std::move(e), o, "avg"); }
Expr Min(ExprArg e, AggregateOptions o) { return aggregate_with(detail::AggFn::min, std::move(e), o, "min"); }
Expr Max(ExprArg e, AggregateOptions o) { return aggregate_with(detail::AggFn::max, std::move(e), o, "max"); }
Expr StdDev(ExprArg e, AggregateOptions o) { return aggregate_with(detail::AggFn::std_dev, std::move(e), o, "stddev"); }
Expr Variance(ExprArg e, AggregateOptions o) {
    return aggregate_with(detail::AggFn::variance, std::move(e), o, "variance");
}

Expr OuterRef(std::string name) {
    ExprNode n;
    n.kind = ExprKind::outer_ref;
    n.name = std::move(name);
    return Expr(make(std::move(n)));
}

}  // namespace orm
