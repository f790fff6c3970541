// SqlCompiler: the query tree rendered per dialect. Standard SQL is written here; every
// vendor-specific piece (quoting, placeholders, LIMIT/OFFSET, text matching, typed parameters)
// comes from the dialect.
#include "orm/compiler.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "drivers/features.hpp"

#include "orm/errors.hpp"
#include "orm/functions_impl.hpp"
#include "orm/model_info.hpp"

namespace orm::detail {

namespace {

using TextMatch = db::Dialect::TextMatch;

TextMatch text_match_of(Lookup l) {
    switch (l) {
        case Lookup::iexact: return TextMatch::iexact;
        case Lookup::contains: return TextMatch::contains;
        case Lookup::icontains: return TextMatch::icontains;
        case Lookup::startswith: return TextMatch::startswith;
        case Lookup::istartswith: return TextMatch::istartswith;
        case Lookup::endswith: return TextMatch::endswith;
        case Lookup::iendswith: return TextMatch::iendswith;
        case Lookup::regex: return TextMatch::regex;
        default: return TextMatch::iregex;
    }
}

std::string_view agg_name(AggFn f, bool sample) {
    switch (f) {
        case AggFn::count: return "COUNT";
        case AggFn::sum: return "SUM";
        case AggFn::avg: return "AVG";
        case AggFn::min: return "MIN";
        case AggFn::max: return "MAX";
        case AggFn::std_dev: return sample ? "STDDEV_SAMP" : "STDDEV_POP";
        case AggFn::variance: return sample ? "VAR_SAMP" : "VAR_POP";
    }
    return "COUNT";
}

class Renderer;
void render_select(const db::Dialect& d, const Query& q, std::string& out, std::vector<Value>& params,
                   bool with_order, const Renderer* parent = nullptr);

std::string_view compare_op(Lookup l) {
    switch (l) {
        case Lookup::gt: return " > ";
        case Lookup::gte: return " >= ";
        case Lookup::lt: return " < ";
        case Lookup::lte: return " <= ";
        default: return " = ";
    }
}

class Renderer {
public:
    Renderer(const db::Dialect& d, std::vector<Value>& params, std::string table_ref)
        : d_(d), params_(params), table_(std::move(table_ref)) {}

    // When set, annotation references render as this table's column of the same name
    // (aggregating over a subquery that already computed them).
    std::string annotations_from;

    void param(std::string& out, const Value& v, bool typed) {
        params_.push_back(v);
        out += typed ? d_.typed_placeholder(params_.size(), v.kind()) : d_.placeholder(params_.size());
    }

    // A subquery of `parent` that may refer to it (Subquery, Exists): its tables get aliases of
    // their own ("U1", "U1T1", ...) so an OuterRef to the same table stays apart.
    void nest_in(const Renderer& parent, const ModelInfo& m) {
        parent_ = &parent;
        level_ = parent.level_ + 1;
        const std::string alias = "U" + std::to_string(level_);
        from_table_ = d_.quote_name(m.table()) + " " + d_.quote_name(alias);
        table_ = d_.quote_name(alias);
        join_prefix_ = alias + "T";
    }

    void column(std::string& out, const FieldInfo& f, std::uint16_t table = 0) {
        if (table == 0) out += table_;
        else out += d_.quote_name(join_alias(table));
        out += '.';
        out += d_.quote_name(f.column);
    }

    std::string join_alias(std::uint16_t table) const { return join_prefix_ + std::to_string(table); }

    // FROM <table> [JOIN ...]
    void from(std::string& out, const Query& q) {
        out += " FROM ";
        out += from_table_.empty() ? table_ : from_table_;
        for (std::size_t i = 0; i < q.joins.size(); ++i) {
            const Join& j = q.joins[i];
            const auto t = static_cast<std::uint16_t>(i + 1);
            out += j.outer ? " LEFT OUTER JOIN " : " INNER JOIN ";
            out += d_.quote_name(j.model->table());
            out += ' ';
            out += d_.quote_name(join_alias(t));
            out += " ON (";
            column(out, *j.left, j.parent);
            out += " = ";
            column(out, *j.right, t);
            out += ')';
        }
    }

    void expr(std::string& out, const ExprNode& e, bool typed_values = true) {
        switch (e.kind) {
            case ExprKind::field:
                if (!e.field) throw InterfaceError(fmt::format("unresolved field '{}' in a query", e.name));
                column(out, *e.field, e.table);
                return;
            case ExprKind::value: param(out, e.value, typed_values); return;
            case ExprKind::arith:
                out += '(';
                expr(out, *e.lhs);
                out += ' ';
                out += e.op;
                out += ' ';
                expr(out, *e.rhs);
                out += ')';
                return;
            case ExprKind::aggregate:
                out += agg_name(e.fn, e.sample);
                out += '(';
                if (!e.lhs) {
                    out += '*';
                } else {
                    if (e.distinct) out += "DISTINCT ";
                    expr(out, *e.lhs);
                }
                out += ')';
                if (!e.resolved.empty() && e.resolved.front()) {
                    // filter=: standard SQL, on PostgreSQL and SQLite 3.30+ alike.
                    out += " FILTER (WHERE ";
                    where(out, *e.resolved.front(), false);
                    out += ')';
                }
                return;
            case ExprKind::func: function(out, e); return;
            case ExprKind::case_:
                out += "CASE";
                for (std::size_t i = 0; i < e.resolved.size(); ++i) {
                    out += " WHEN ";
                    where(out, *e.resolved[i], false);
                    out += " THEN ";
                    expr(out, *e.args[i]);
                }
                out += " ELSE ";
                expr(out, *e.args.back());
                out += " END";
                return;
            case ExprKind::subquery:
                out += '(';
                render_select(d_, *e.sub, out, params_, true, this);
                out += ')';
                return;
            case ExprKind::exists:
                out += "EXISTS(";
                render_select(d_, *e.sub, out, params_, e.sub->sliced(), this);
                out += ')';
                return;
            case ExprKind::outer_ref:
                if (!e.lhs || !parent_)
                    throw FieldError(fmt::format("OuterRef('{}') refers to the query around a Subquery() or Exists(), "
                                                 "and this queryset is not inside one: it may only be used in a "
                                                 "subquery",
                                                 e.name));
                const_cast<Renderer*>(parent_)->expr(out, *e.lhs, typed_values);
                return;
            case ExprKind::annotation:
                if (!annotations_from.empty()) {
                    out += annotations_from;
                    out += '.';
                    out += d_.quote_name(e.name);
                    return;
                }
                expr(out, *e.lhs, typed_values);
                return;
        }
    }

    // A database function (orm/functions.hpp); the dialect spells what differs.
    void function(std::string& out, const ExprNode& e) {
        std::vector<std::string> args;
        args.reserve(e.args.size());
        for (const auto& a : e.args) {
            std::string t;
            expr(t, *a);
            args.push_back(std::move(t));
        }
        auto type_of = [&](std::size_t i) { return output_type(*e.args.at(i)); };
        auto call = [&](std::string_view name) {
            out += name;
            out += '(';
            for (std::size_t i = 0; i < args.size(); ++i) {
                if (i) out += ", ";
                out += args[i];
            }
            out += ')';
        };
        using Part = db::Dialect::DatePart;
        const bool ts = !e.args.empty() && type_of(0) == db::ColumnType::timestamp;
        switch (e.func) {
            case Fn::extract: out += d_.extract_sql(static_cast<Part>(e.part), args[0], ts); return;
            case Fn::trunc: out += d_.trunc_sql(static_cast<Part>(e.part), args[0], ts); return;
            case Fn::date: out += d_.timestamp_date_sql(args[0]); return;
            case Fn::lower: call("LOWER"); return;
            case Fn::upper: call("UPPER"); return;
            case Fn::length: call("LENGTH"); return;
            case Fn::trim: call("TRIM"); return;
            case Fn::ltrim: call("LTRIM"); return;
            case Fn::rtrim: call("RTRIM"); return;
            case Fn::substr: call("SUBSTR"); return;
            case Fn::replace: call("REPLACE"); return;
            case Fn::coalesce: call("COALESCE"); return;
            case Fn::nullif: call("NULLIF"); return;
            case Fn::abs: call("ABS"); return;
            case Fn::concat:
                // A NULL part counts as empty text, as Django's Concat does on every backend.
                out += '(';
                for (std::size_t i = 0; i < args.size(); ++i) {
                    if (i) out += " || ";
                    out += "COALESCE(" + args[i] + ", '')";
                }
                out += ')';
                return;
            case Fn::greatest:
            case Fn::least: out += d_.greatest_least_sql(e.func == Fn::greatest, args); return;
            case Fn::round: {
                // Read back as the operand's type on every backend (PostgreSQL rounds a numeric).
                auto t = function_output_type(e);
                const std::string r = d_.round_sql(args[0], args[1]);
                if (t == db::ColumnType::float64) out += d_.cast_sql(r, ValueKind::float64);
                else if (t == db::ColumnType::int32 || t == db::ColumnType::int64) out += d_.cast_sql(r, ValueKind::int64);
                else out += r;
                return;
            }
            case Fn::mod: {
                auto t = function_output_type(e);
                if (t == db::ColumnType::int64) {
                    call("MOD");
                } else {  // MOD of fractions: in numeric (PostgreSQL has no MOD of doubles)
                    out += d_.cast_sql(fmt::format("MOD(CAST({} AS NUMERIC), CAST({} AS NUMERIC))", args[0], args[1]),
                                       ValueKind::float64);
                }
                return;
            }
            case Fn::now: out += d_.now_sql(); return;
            case Fn::cast: out += d_.cast_sql(args[0], e.cast_to); return;
            case Fn::random: out += d_.random_sql(); return;
        }
    }

    void where(std::string& out, const WhereNode& w, bool negated) {
        switch (w.kind) {
            case WhereNode::Kind::nothing: out += "1 = 0"; return;
            case WhereNode::Kind::expr: expr(out, *w.lhs); return;
            case WhereNode::Kind::in_query:
                expr(out, *w.lhs);
                out += " IN (";
                subquery(out, *w.sub);
                out += ')';
                return;
            case WhereNode::Kind::not_: {
                const WhereNode& c = *w.children.front();
                // A guarded leaf (see below) brings its own parentheses.
                const bool self_paren = c.kind == WhereNode::Kind::leaf && guards_null(c, !negated);
                out += self_paren ? "NOT " : "NOT (";
                where(out, c, !negated);
                if (!self_paren) out += ')';
                return;
            }
            case WhereNode::Kind::and_:
            case WhereNode::Kind::or_: {
                const char* sep = w.kind == WhereNode::Kind::and_ ? " AND " : " OR ";
                for (std::size_t i = 0; i < w.children.size(); ++i) {
                    if (i) out += sep;
                    const auto& c = *w.children[i];
                    bool paren = c.kind == WhereNode::Kind::and_ || c.kind == WhereNode::Kind::or_;
                    if (paren) out += '(';
                    where(out, c, negated);
                    if (paren) out += ')';
                }
                return;
            }
            case WhereNode::Kind::leaf: break;
        }
        // Under NOT, a NULL column must not make the negated condition true or unknown: Django's
        // exclude(x=1) keeps rows where x IS NULL, so the inner condition is "x = 1 AND x IS NOT NULL".
        const bool guard_null = guards_null(w, negated);
        if (guard_null) out += '(';
        leaf(out, w);
        if (guard_null) {
            out += " AND ";
            expr(out, *w.lhs);
            out += " IS NOT NULL)";
        }
    }

    static bool guards_null(const WhereNode& w, bool negated) {
        return negated && w.lhs_nullable && w.lookup != Lookup::isnull;
    }

    void leaf(std::string& out, const WhereNode& w) {
        std::string lhs;
        expr(lhs, *w.lhs);
        // A fractional value against an integer column compares as numbers, not as a truncated integer.
        auto typed = [&](const ExprNode& r) {
            auto t = output_type(*w.lhs);
            return r.kind == ExprKind::value && r.value.kind() == ValueKind::float64 && t &&
                   (*t == db::ColumnType::int32 || *t == db::ColumnType::int64);
        };
        switch (w.lookup) {
            case Lookup::exact:
            case Lookup::gt:
            case Lookup::gte:
            case Lookup::lt:
            case Lookup::lte:
                out += lhs;
                out += compare_op(w.lookup);
                expr(out, *w.rhs.front(), typed(*w.rhs.front()));
                return;
            case Lookup::isnull:
                out += lhs;
                out += w.rhs.front()->value.as_bool() ? " IS NULL" : " IS NOT NULL";
                return;
            case Lookup::in:
                if (in_list(out, lhs, w)) return;
                out += lhs;
                out += " IN (";
                for (std::size_t i = 0; i < w.rhs.size(); ++i) {
                    if (i) out += ", ";
                    expr(out, *w.rhs[i], typed(*w.rhs[i]));
                }
                out += ')';
                return;
            case Lookup::range:
                out += lhs;
                out += " BETWEEN ";
                expr(out, *w.rhs[0], typed(*w.rhs[0]));
                out += " AND ";
                expr(out, *w.rhs[1], typed(*w.rhs[1]));
                return;
            default: break;
        }
        const TextMatch m = text_match_of(w.lookup);
        const ExprNode& r = *w.rhs.front();
        std::string rhs;
        if (r.kind == ExprKind::value) {
            params_.push_back(Value(d_.text_match_param(m, r.value.as_text())));
            rhs = d_.placeholder(params_.size());
        } else {
            expr(rhs, r);
        }
        out += d_.text_match_sql(m, lhs, rhs);
    }

    // `lhs IN (...)` with the list as one parameter where the dialect can (any length, one
    // statement text for every length); false to bind one parameter per value instead.
    bool in_list(std::string& out, const std::string& lhs, const WhereNode& w) {
        std::vector<Value> values;
        values.reserve(w.rhs.size());
        for (const auto& r : w.rhs) {
            if (r->kind != ExprKind::value || r->value.is_null()) return false;
            values.push_back(r->value);
        }
        auto kind = in_list_kind(output_type(*w.lhs), values);
        if (!kind) return false;
        std::string sql = d_.in_list_sql(lhs, params_.size() + 1, *kind, values);
        if (sql.empty()) return false;
        params_.push_back(d_.in_list_param(*kind, values));
        out += sql;
        return true;
    }

    // The one kind every element of an IN list is sent as: the column's (an integer column
    // compared with fractional values: double, so 2.5 matches nothing rather than 2), or the
    // values' own when the left side has no column type. None when they do not agree.
    static std::optional<ValueKind> in_list_kind(std::optional<db::ColumnType> t, const std::vector<Value>& values) {
        using CT = db::ColumnType;
        auto all = [&](auto pred) { return std::all_of(values.begin(), values.end(), pred); };
        auto integer = [](const Value& v) { return v.kind() == ValueKind::int32 || v.kind() == ValueKind::int64; };
        auto numeric = [&](const Value& v) { return integer(v) || v.kind() == ValueKind::float64; };
        auto of = [&](ValueKind k) { return [k](const Value& v) { return v.kind() == k; }; };
        if (!t) {
            if (all(integer)) return ValueKind::int64;
            ValueKind k = values.front().kind();
            if (all(of(k))) return k;
            return std::nullopt;
        }
        switch (*t) {
            case CT::int32:
            case CT::int64:
                if (all(integer)) return *t == CT::int32 && all(of(ValueKind::int32)) ? ValueKind::int32 : ValueKind::int64;
                if (all(numeric)) return ValueKind::float64;
                return std::nullopt;
            case CT::float64: return all(numeric) ? std::optional(ValueKind::float64) : std::nullopt;
            case CT::boolean: return all(of(ValueKind::boolean)) ? std::optional(ValueKind::boolean) : std::nullopt;
            case CT::varchar:
            case CT::text: return all(of(ValueKind::text)) ? std::optional(ValueKind::text) : std::nullopt;
            case CT::bytes: return all(of(ValueKind::bytes)) ? std::optional(ValueKind::bytes) : std::nullopt;
            case CT::timestamp: return all(of(ValueKind::timestamp)) ? std::optional(ValueKind::timestamp) : std::nullopt;
            case CT::date: return all(of(ValueKind::date)) ? std::optional(ValueKind::date) : std::nullopt;
        }
        return std::nullopt;
    }

    const std::string& table() const { return table_; }

    // A nested SELECT (its parameters continue this statement's numbering).
    void subquery(std::string& out, const Query& sub);

private:
    const db::Dialect& d_;
    std::vector<Value>& params_;
    std::string table_;
    std::string from_table_;         // FROM text when the table has an alias
    std::string join_prefix_ = "T";  // joined tables are <prefix>1, <prefix>2, ...
    const Renderer* parent_ = nullptr;
    int level_ = 0;
};

void where_clause(Renderer& r, std::string& out, const Query& q) {
    if (!q.where) return;
    out += " WHERE ";
    r.where(out, *q.where, false);
}

void Renderer::subquery(std::string& out, const Query& sub) { render_select(d_, sub, out, params_, sub.sliced()); }

// UPDATE / DELETE cannot join: a filter across relations becomes `pk IN (SELECT pk ... JOIN ...)`.
void write_where(Renderer& r, std::string& out, const Query& q) {
    if (q.joins.empty()) {
        where_clause(r, out, q);
        return;
    }
    Query inner = q;
    inner.values_mode = true;
    inner.values = {SelectItem{q.model->pk().name, field_ref(q.model->pk()), false}};
    inner.order_by.clear();
    inner.select_related.clear();
    inner.annotations.clear();
    out += " WHERE ";
    r.column(out, q.model->pk());
    out += " IN (";
    r.subquery(out, inner);
    out += ')';
}

bool grouped(const Query& q) { return q.has_aggregate_select() || q.having; }

bool is_deferred(const Query& q, const FieldInfo& f) noexcept { return f.index < 64 && (q.deferred >> f.index & 1); }

// The 1-based position of an ordering term among the columns a combined query yields (its
// first part's), or 0.
std::size_t compound_position(const Query& q, const ExprNode& e) {
    std::size_t pos = 0;
    if (q.values_mode) {
        for (const auto& it : q.values) {
            ++pos;
            if (e.kind == ExprKind::annotation && it.name == e.name) return pos;
            if (e.kind == ExprKind::field && it.expr->kind == ExprKind::field && it.expr->field == e.field &&
                it.expr->table == e.table)
                return pos;
        }
        return 0;
    }
    for (const auto& f : q.model->fields()) {
        if (is_deferred(q, f)) continue;
        ++pos;
        if (e.kind == ExprKind::field && e.table == 0 && e.field == &f) return pos;
    }
    for (const auto& a : q.annotations) {
        ++pos;
        if (e.kind == ExprKind::annotation && a.name == e.name) return pos;
    }
    return 0;
}

// part1 UNION [ALL] part2 ... [ORDER BY positions] [LIMIT ...]: the parts without their
// default ordering; a part with its own ordering or slice in parentheses (backends without
// Features::supports_slicing_ordering_in_compound are refused before this, see
// check_compound_features); a part that is itself a compound as SELECT * FROM (...).
void render_compound(const db::Dialect& d, const Query& q, std::string& out, std::vector<Value>& params,
                     bool with_order, const Renderer* parent) {
    const Combined& c = *q.combined;
    for (std::size_t i = 0; i < c.parts.size(); ++i) {
        const Query& part = *c.parts[i];
        if (i) out += d.compound_sql(c.op, c.all);
        if (part.combined) {
            out += "SELECT * FROM (";
            render_select(d, part, out, params, true, parent);
            out += ") " + d.quote_name("__part" + std::to_string(i));
        } else if (part.ordered_explicitly || part.sliced()) {
            out += '(';
            render_select(d, part, out, params, true, parent);
            out += ')';
        } else {
            render_select(d, part, out, params, false, parent);
        }
    }
    if (with_order) {
        bool first = true;
        for (const auto& term : q.order_by) {
            const std::size_t pos = compound_position(q, *term.expr);
            if (pos == 0) {
                std::vector<std::string> names = selected_names(q);
                throw FieldError(fmt::format("order_by() of a combined queryset ({}): a term is not one of its "
                                             "columns; order by one of: {}",
                                             c.op == db::Dialect::Compound::union_          ? "union"
                                             : c.op == db::Dialect::Compound::intersection ? "intersection"
                                                                                           : "difference",
                                             fmt::format("{}", fmt::join(names, ", "))));
            }
            out += first ? " ORDER BY " : ", ";
            first = false;
            out += std::to_string(pos);
            out += term.descending ? " DESC" : " ASC";
            if (term.nulls != Nulls::database) out += term.nulls == Nulls::first ? " NULLS FIRST" : " NULLS LAST";
        }
    }
    out += d.limit_offset(q.limit, q.offset);
}

// SELECT ... FROM ... WHERE ... GROUP BY ... HAVING ... ORDER BY ... LIMIT, into `out`.
void render_select(const db::Dialect& d, const Query& q, std::string& out, std::vector<Value>& params,
                   bool with_order, const Renderer* parent) {
    if (q.combined) {
        render_compound(d, q, out, params, with_order, parent);
        return;
    }
    const ModelInfo& m = *q.model;
    Renderer r(d, params, d.quote_name(m.table()));
    if (parent) r.nest_in(*parent, m);
    if (!q.distinct_on.empty()) {
        std::vector<std::string> on;
        for (const auto& e : q.distinct_on) {
            std::string t;
            r.expr(t, *e);
            on.push_back(std::move(t));
        }
        out += "SELECT " + d.distinct_on_sql(on);
    } else {
        out += q.distinct ? "SELECT DISTINCT " : "SELECT ";
    }
    const auto& items = q.values_mode ? q.values : q.annotations;
    std::vector<std::string> group;  // GROUP BY terms: columns, or select-list positions
    std::size_t pos = 0;
    bool first = true;
    if (!q.values_mode) {
        auto columns = [&](const ModelInfo& model, std::uint16_t table) {
            for (const auto& f : model.fields()) {
                if (table == 0 && is_deferred(q, f)) continue;  // only() / defer()
                if (!first) out += ", ";
                first = false;
                std::string col;
                r.column(col, f, table);
                out += col;
                group.push_back(std::move(col));
                ++pos;
            }
        };
        columns(m, 0);
        for (const auto& rs : q.select_related) columns(table_model(q, rs.table), rs.table);
    } else if (q.group_by_model) {
        std::string col;
        r.column(col, m.pk());
        group.push_back(std::move(col));
    }
    for (const auto& it : items) {
        if (!first) out += ", ";
        first = false;
        ++pos;
        if (it.expr->kind == ExprKind::field) {
            std::string col;
            r.expr(col, *it.expr);
            out += col;
            if (it.name != it.expr->field->column) out += " AS " + d.quote_name(it.name);
            group.push_back(std::move(col));
            continue;
        }
        r.expr(out, *it.expr);
        out += " AS ";
        out += d.quote_name(it.name);
        if (!it.aggregate) group.push_back(std::to_string(pos));
    }
    // Which ordering terms are rendered, and whether each is in the select list already.
    struct OrderPlan {
        bool render = false, selected = false, selected_annotation = false;
    };
    std::vector<OrderPlan> plan(with_order ? q.order_by.size() : 0);
    for (std::size_t k = 0; k < plan.size(); ++k) {
        const ExprNode& e = *q.order_by[k].expr;
        OrderPlan& p = plan[k];
        if (!q.values_mode && e.kind == ExprKind::field) {
            // The model's own columns and those select_related adds.
            p.selected = e.table == 0 && !(e.field && is_deferred(q, *e.field));
            for (const auto& rs : q.select_related) p.selected = p.selected || rs.table == e.table;
        }
        for (const auto& it : items) {
            p.selected_annotation = p.selected_annotation || (e.kind == ExprKind::annotation && it.name == e.name);
            p.selected = p.selected || (it.expr->kind == ExprKind::field && e.kind == ExprKind::field &&
                                        it.expr->field == e.field && it.expr->table == e.table);
        }
        p.selected = p.selected || p.selected_annotation;
        // The model's default ordering yields to grouping and to DISTINCT over other columns
        // (as in Django 3.1+): it would change the groups or be invalid SQL.
        p.render = q.ordered_explicitly || !(grouped(q) || (q.distinct && !p.selected));
        // DISTINCT ordered by a column outside the selection: Django adds the column to the
        // SELECT DISTINCT (PostgreSQL requires it; SQLite would otherwise pick rows arbitrarily).
        // It comes after every column the caller reads, so rows read as before.
        if (p.render && q.distinct && !p.selected) {
            out += ", ";
            std::string col;
            r.expr(col, e);
            out += col;
            if (e.kind == ExprKind::field) group.push_back(std::move(col));
        }
    }
    r.from(out, q);
    where_clause(r, out, q);
    if (grouped(q) && !group.empty()) {
        out += " GROUP BY ";
        for (std::size_t i = 0; i < group.size(); ++i) {
            if (i) out += ", ";
            out += group[i];
        }
    }
    if (q.having) {
        out += " HAVING ";
        r.where(out, *q.having, false);
    }
    if (with_order) {
        bool first_term = true;
        for (std::size_t k = 0; k < q.order_by.size(); ++k) {
            const OrderTerm& term = q.order_by[k];
            const ExprNode& e = *term.expr;
            if (!plan[k].render) continue;
            out += first_term ? " ORDER BY " : ", ";
            first_term = false;
            if (plan[k].selected_annotation) out += d.quote_name(e.name);
            else r.expr(out, e);
            out += term.descending ? " DESC" : " ASC";
            if (term.nulls != Nulls::database) out += term.nulls == Nulls::first ? " NULLS FIRST" : " NULLS LAST";
        }
    }
    out += d.limit_offset(q.limit, q.offset);
}

bool needs_subquery(const Query& q) { return q.sliced() || q.distinct || grouped(q) || q.combined; }

}  // namespace

void check_compound_features(const Query& q, const db::Features& f) {
    if (!q.combined) return;
    for (const auto& part : q.combined->parts) {
        check_compound_features(*part, f);
        if (f.supports_slicing_ordering_in_compound) continue;
        if (part->sliced())
            throw DatabaseError("LIMIT/OFFSET not allowed in subqueries of compound statements (slice the combined "
                                "queryset instead; Features::supports_slicing_ordering_in_compound is false)");
        if (part->ordered_explicitly && !part->order_by.empty())
            throw DatabaseError("ORDER BY not allowed in subqueries of compound statements (order the combined "
                                "queryset instead; Features::supports_slicing_ordering_in_compound is false)");
    }
}

Sql SqlCompiler::select(const Query& q) const {
    Sql s;
    render_select(d_, q, s.text, s.params, true);
    return s;
}

Sql SqlCompiler::select_for_update(const Query& q, const ForUpdate& lock) const {
    // Standard SQL (PostgreSQL, MySQL 8, Oracle spell it alike), after LIMIT / OFFSET.
    Sql s = select(q);
    s.text += " FOR UPDATE";
    // The NULL-extended side of an outer join cannot be locked (PostgreSQL refuses): with outer
    // joins only the model's own rows are locked.
    bool outer = false;
    for (const auto& j : q.joins) outer = outer || j.outer;
    if (outer) s.text += " OF " + d_.quote_name(q.model->table());
    if (lock.nowait) s.text += " NOWAIT";
    else if (lock.skip_locked) s.text += " SKIP LOCKED";
    return s;
}

Sql SqlCompiler::count(const Query& q) const {
    Sql s;
    if (needs_subquery(q)) {
        s.text = "SELECT COUNT(*) FROM (";
        render_select(d_, q, s.text, s.params, q.sliced());
        s.text += ") ";
        s.text += d_.quote_name("__count");
        return s;
    }
    Renderer r(d_, s.params, d_.quote_name(q.model->table()));
    s.text = "SELECT COUNT(*)";
    r.from(s.text, q);
    where_clause(r, s.text, q);
    return s;
}

Sql SqlCompiler::exists(const Query& q) const {
    Sql s;
    if (needs_subquery(q)) {
        s.text = "SELECT 1 FROM (";
        render_select(d_, q, s.text, s.params, q.sliced());
        s.text += ") " + d_.quote_name("__exists") + d_.limit_offset(1, 0);
        return s;
    }
    Renderer r(d_, s.params, d_.quote_name(q.model->table()));
    s.text = "SELECT 1";
    r.from(s.text, q);
    where_clause(r, s.text, q);
    s.text += d_.limit_offset(1, 0);
    return s;
}

Sql SqlCompiler::aggregate(const Query& q, std::span<const SelectItem> items) const {
    if (items.empty()) throw InterfaceError("aggregate() needs at least one aggregate expression");
    Sql s;
    if (needs_subquery(q)) {
        // Aggregate over the rows the query yields (a slice, distinct rows, or groups).
        const std::string sub = d_.quote_name("__sub");
        // Parameters are numbered in text order: the outer select list comes first.
        Renderer r(d_, s.params, sub);
        r.annotations_from = sub;
        s.text = "SELECT ";
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i) s.text += ", ";
            r.expr(s.text, *items[i].expr);
            s.text += " AS " + d_.quote_name(items[i].name);
        }
        // The inner query's placeholders continue the numbering after the outer select list.
        std::string inner;
        render_select(d_, q, inner, s.params, q.sliced());
        s.text += " FROM (" + inner + ") " + sub;
        return s;
    }
    Renderer r(d_, s.params, d_.quote_name(q.model->table()));
    s.text = "SELECT ";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) s.text += ", ";
        r.expr(s.text, *items[i].expr);
        s.text += " AS " + d_.quote_name(items[i].name);
    }
    r.from(s.text, q);
    where_clause(r, s.text, q);
    return s;
}

Sql SqlCompiler::update(const Query& q, const SetClause& set) const {
    check_not_combined(q, "update");
    if (q.sliced()) throw InterfaceError("Cannot update a query once a slice has been taken");
    if (q.distinct || grouped(q)) throw InterfaceError("Cannot update a distinct, annotated or aggregated query");
    if (set.empty()) throw InterfaceError("update() needs at least one field to set");
    Sql s;
    Renderer r(d_, s.params, d_.quote_name(q.model->table()));
    s.text = "UPDATE " + r.table() + " SET ";
    for (std::size_t i = 0; i < set.size(); ++i) {
        if (i) s.text += ", ";
        s.text += d_.quote_name(set[i].first->column);
        s.text += " = ";
        r.expr(s.text, *set[i].second, set[i].second->kind != ExprKind::value);
    }
    write_where(r, s.text, q);
    return s;
}

Sql SqlCompiler::delete_rows(const Query& q) const {
    check_not_combined(q, "delete");
    if (q.sliced()) throw InterfaceError("Cannot delete a query once a slice has been taken");
    if (q.distinct || grouped(q)) throw InterfaceError("Cannot delete a distinct, annotated or aggregated query");
    Sql s;
    Renderer r(d_, s.params, d_.quote_name(q.model->table()));
    s.text = "DELETE FROM " + r.table();
    write_where(r, s.text, q);
    return s;
}

std::string SqlCompiler::insert(const ModelInfo& m, std::span<const FieldInfo* const> cols, std::size_t rows,
                                bool returning_pk) const {
    std::string out = "INSERT INTO " + d_.quote_name(m.table());
    if (cols.empty()) {
        if (rows != 1) throw InterfaceError("a multi-row insert needs at least one column");
        out += " DEFAULT VALUES";
    } else {
        out += " (";
        for (std::size_t i = 0; i < cols.size(); ++i) {
            if (i) out += ", ";
            out += d_.quote_name(cols[i]->column);
        }
        out += ") VALUES ";
        std::size_t n = 0;
        out.reserve(out.size() + rows * cols.size() * 6);
        for (std::size_t row = 0; row < rows; ++row) {
            if (row) out += ", ";
            out += '(';
            for (std::size_t i = 0; i < cols.size(); ++i) {
                if (i) out += ", ";
                out += d_.placeholder(++n);
            }
            out += ')';
        }
    }
    if (returning_pk) out += " RETURNING " + d_.quote_name(m.pk().column);
    return out;
}

}  // namespace orm::detail
