// Building and resolving the query tree: lookups parsed and checked against the model's
// fields (Django-style FieldError messages listing the choices), values normalized to the
// field's type, conditions split into WHERE and HAVING.
#include "orm/query.hpp"

#include <algorithm>
#include <unordered_map>
#include <array>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "orm/errors.hpp"
#include "orm/functions_impl.hpp"
#include "orm/model_info.hpp"

namespace orm::detail {

ExprPtr resolve_expr(Query& q, const ExprPtr& e, bool allow_aggregate);

namespace {

constexpr std::array<std::string_view, 17> lookup_names = {
    "exact", "iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith", "in",
    "gt",    "gte",    "lt",       "lte",       "range",      "isnull",      "regex",    "iregex",
};

bool is_text_lookup(Lookup l) {
    switch (l) {
        case Lookup::iexact:
        case Lookup::contains:
        case Lookup::icontains:
        case Lookup::startswith:
        case Lookup::istartswith:
        case Lookup::endswith:
        case Lookup::iendswith:
        case Lookup::regex:
        case Lookup::iregex: return true;
        default: return false;
    }
}

bool is_ordering_lookup(Lookup l) {
    return l == Lookup::gt || l == Lookup::gte || l == Lookup::lt || l == Lookup::lte || l == Lookup::range;
}

// The lookups an expression of this type supports (unknown type: everything but text matching).
bool lookup_allowed(std::optional<db::ColumnType> t, Lookup l) {
    if (l == Lookup::exact || l == Lookup::in || l == Lookup::isnull) return true;
    if (!t) return !is_text_lookup(l);
    switch (*t) {
        case db::ColumnType::text:
        case db::ColumnType::varchar: return true;
        case db::ColumnType::boolean:
        case db::ColumnType::bytes: return false;
        default: return is_ordering_lookup(l);
    }
}

std::string allowed_lookups(std::optional<db::ColumnType> t) {
    std::vector<std::string_view> names;
    for (std::size_t i = 0; i < lookup_names.size(); ++i)
        if (lookup_allowed(t, static_cast<Lookup>(i))) names.push_back(lookup_names[i]);
    std::sort(names.begin(), names.end());
    std::string out = fmt::format("{}", fmt::join(names, ", "));
    const std::string transforms = transform_names(t);
    if (!transforms.empty()) out += "; transforms: " + transforms;
    return out;
}

ExprPtr make(ExprNode n) { return std::make_shared<const ExprNode>(std::move(n)); }

ExprPtr field_expr(const FieldInfo& f, std::uint16_t table = 0) {
    ExprNode n;
    n.kind = ExprKind::field;
    n.name = f.name;
    n.field = &f;
    n.table = table;
    return make(std::move(n));
}

ExprPtr value_node(Value v) {
    ExprNode n;
    n.kind = ExprKind::value;
    n.value = std::move(v);
    return make(std::move(n));
}

// Refuses a path of more than max_path_parts parts before anything walks it (a self-referential
// relation makes "parent__parent__..." legal however long; each part is a join or a query).
void check_path_parts(std::string_view path, std::string_view what) {
    std::size_t parts = 1;
    for (std::size_t pos = path.find("__"); pos != std::string_view::npos; pos = path.find("__", pos + 2)) ++parts;
    if (parts > max_path_parts)
        throw FieldError(fmt::format("{} '{}...' has {} parts separated by '__': at most {} are supported "
                                     "(orm::detail::max_path_parts)",
                                     what, path.substr(0, 60), parts, max_path_parts));
}

std::vector<std::string_view> split_path(std::string_view path) {
    check_path_parts(path, "the lookup path");
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        auto pos = path.find("__", start);
        if (pos == std::string_view::npos) {
            parts.push_back(path.substr(start));
            break;
        }
        parts.push_back(path.substr(start, pos - start));
        start = pos + 2;
    }
    return parts;
}

// Fields and annotations, sorted, for "Choices are: ..." messages.
std::string choices(const Query& q) {
    std::string out = q.model->choices();
    if (q.annotations.empty()) return out;
    std::vector<std::string> names;
    for (const auto& a : q.annotations) names.push_back(a.name);
    std::sort(names.begin(), names.end());
    return fmt::format("{}; annotations: {}", out, fmt::join(names, ", "));
}

[[noreturn]] void unknown_name(const Query& q, std::string_view name) {
    throw FieldError(fmt::format("Cannot resolve keyword '{}' into field. Choices are: {}", name, choices(q)));
}

const SelectItem* find_annotation(const Query& q, std::string_view name) {
    for (const auto& a : q.annotations)
        if (a.name == name) return &a;
    return nullptr;
}

bool names_member(const ModelInfo& m, std::string_view name) {
    return m.find(name) != nullptr || m.find_relation(name) != nullptr;
}

// How a path creates joins: group 0 reuses any join of the same relation (annotate, values,
// order_by); a filter() call's own group reuses only the joins that call made, so separate
// filter() calls on a multi-valued relation match independently (as in Django).
struct JoinPolicy {
    std::uint32_t group = 0;
    bool negated = false;  // under exclude()/~Q: a multi-valued relation becomes a subquery
};

std::uint16_t add_join(Query& q, std::uint16_t parent, const Relation& r, const ModelInfo& model,
                       const FieldInfo* left, const FieldInfo* right, bool m2m_first, std::uint32_t group) {
    const bool multi = r.multi_valued();
    for (std::size_t i = 0; i < q.joins.size(); ++i) {
        const Join& j = q.joins[i];
        if (j.parent != parent || j.relation != &r || j.m2m_first != m2m_first) continue;
        if (!multi || group == 0 || j.group == group) return static_cast<std::uint16_t>(i + 1);
    }
    if (q.joins.size() >= 60000) throw InterfaceError("too many joins in one query");
    const bool parent_outer = parent > 0 && q.joins[parent - 1].outer;
    Join j;
    j.parent = parent;
    j.relation = &r;
    j.model = &model;
    j.left = left;
    j.right = right;
    j.outer = parent_outer || multi || r.kind == RelationKind::reverse_one_to_one ||
              (r.kind != RelationKind::many_to_many && !r.is_reverse() && r.fk->nullable);
    j.group = multi ? group : 0;
    j.m2m_first = m2m_first;
    q.joins.push_back(j);
    return static_cast<std::uint16_t>(q.joins.size());
}

// Crosses relation r from `table` (a table of r.owner); returns the target's table. A
// many-to-many crosses the join table first; `through_table` receives that table.
std::uint16_t cross(Query& q, std::uint16_t table, const Relation& r, std::uint32_t group,
                    std::uint16_t* through_table = nullptr) {
    const ModelInfo& target = r.target();
    switch (r.kind) {
        case RelationKind::foreign_key:
        case RelationKind::one_to_one: return add_join(q, table, r, target, r.fk, &target.pk(), false, group);
        case RelationKind::reverse_foreign_key:
        case RelationKind::reverse_one_to_one:
            return add_join(q, table, r, target, &r.owner->pk(), r.fk, false, group);
        case RelationKind::many_to_many:
        case RelationKind::reverse_many_to_many: {
            std::uint16_t t = add_join(q, table, r, *r.through, &r.owner->pk(), r.through_from, true, group);
            if (through_table) *through_table = t;
            return add_join(q, t, r, target, r.through_to, &target.pk(), false, group);
        }
    }
    return table;
}

// Where a path ends: an expression (a column of some table, or an annotation) and the parts
// left for lookups; or, under negation, the multi-valued relation where it must split into a
// subquery.
struct PathEnd {
    ExprPtr expr;
    const Relation* relation = nullptr;  // the path ends at this relation (its key stands for it)
    const ModelInfo* model = nullptr;    // the model the last consumed name belongs to
    std::size_t consumed = 0;
    bool nullable = false;  // the expression can be NULL (nullable column or outer join)
    bool split = false;
    std::uint16_t split_table = 0;
    const Relation* split_relation = nullptr;
};

PathEnd walk_path(Query& q, std::span<const std::string_view> parts, JoinPolicy pol, bool allow_annotation) {
    PathEnd end;
    std::uint16_t table = 0;
    const ModelInfo* model = q.model;
    bool outer = false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const std::string_view name = parts[i];
        if (name.empty()) throw FieldError(fmt::format("empty field name in lookup '{}'", fmt::join(parts, "__")));
        if (i == 0 && allow_annotation) {
            if (const SelectItem* a = find_annotation(q, name)) {
                ExprNode n;
                n.kind = ExprKind::annotation;
                n.name = a->name;
                n.lhs = a->expr;
                end.expr = make(std::move(n));
                end.consumed = 1;
                end.nullable = true;
                end.model = q.model;
                return end;
            }
        }
        const bool has_next = i + 1 < parts.size();
        if (const FieldInfo* f = model->find(name)) {
            const Relation* r = f->relation;
            // A foreign key ends the path unless a field of its target follows; "author__id"
            // and "author__pk" read the key column itself (no join).
            if (r && has_next && names_member(r->target(), parts[i + 1])) {
                const ModelInfo& target = r->target();
                const bool pk_next = parts[i + 1] == "pk" || parts[i + 1] == target.pk().name;
                const bool ends_after = i + 2 >= parts.size() || !names_member(target, parts[i + 2]);
                if (!(pk_next && ends_after)) {
                    table = cross(q, table, *r, pol.group);
                    outer = outer || q.joins[table - 1].outer;
                    model = &target;
                    continue;
                }
                end.consumed = i + 2;
                end.model = &target;
            } else {
                end.consumed = i + 1;
                end.model = model;
            }
            end.expr = field_expr(*f, table);
            end.nullable = outer || f->nullable;
            end.relation = f->relation;
            return end;
        }
        const Relation* r = model->find_relation(name);
        if (!r) {
            if (i == 0) unknown_name(q, name);
            throw FieldError(fmt::format("Cannot resolve keyword '{}' into field of {} (in '{}'). Choices are: {}", name,
                                         model->type_name(), fmt::join(parts, "__"), model->choices()));
        }
        if (pol.negated && r->multi_valued()) {
            end.split = true;
            end.split_table = table;
            end.split_relation = r;
            end.consumed = i + 1;
            return end;
        }
        const ModelInfo& target = r->target();
        if (!has_next || !names_member(target, parts[i + 1])) {
            // The relation itself: compares the related row's key ("books__in", "tags=3").
            std::uint16_t through = 0;
            if (r->kind == RelationKind::many_to_many || r->kind == RelationKind::reverse_many_to_many) {
                // The join table already holds the key: no second join.
                through = add_join(q, table, *r, *r->through, &r->owner->pk(), r->through_from, true, pol.group);
                end.expr = field_expr(*r->through_to, through);
            } else {  // a reverse foreign key or one-to-one (forward ones are fields, above)
                end.expr = field_expr(target.pk(), cross(q, table, *r, pol.group));
            }
            end.consumed = i + 1;
            end.nullable = true;
            end.relation = r;
            end.model = model;
            return end;
        }
        table = cross(q, table, *r, pol.group);
        outer = outer || q.joins[table - 1].outer;
        model = &target;
    }
    throw FieldError(fmt::format("Cannot resolve '{}': it ends at a relation", fmt::join(parts, "__")));
}


std::string describe_lhs(const ExprNode& e) {
    if (e.field) return fmt::format("field {} ({})", e.field->name, e.field->type_name());
    if (e.kind == ExprKind::func) return fmt::format("'{}' ({})", e.name.empty() ? function_name(e) : e.name, function_name(e));
    return fmt::format("annotation '{}'", e.name);
}

// A path whose part parts[end.consumed] cannot follow the one before it. After a relation it is
// not a name of the relation's model, whose names are the choices. After a field or an
// annotation nothing can follow in a name (order_by, values, F: `lookups` empty), and the
// choices are the names of the field's model; in a lookup (filter, exclude) only one of
// `lookups` can.
[[noreturn]] void throw_cannot_follow(const Query& q, std::string_view path, std::string_view what,
                                      std::span<const std::string_view> parts, const PathEnd& end,
                                      const std::string& lookups) {
    const std::string_view last = parts[end.consumed - 1], next = parts[end.consumed];
    if (end.relation && last == end.relation->name) {
        const ModelInfo& target = end.relation->target();
        throw FieldError(fmt::format("Cannot resolve keyword '{}' into field{}: '{}' is not a field or relation of {} "
                                     "(following '{}'). Choices are: {}",
                                     path, what, next, target.type_name(), last, target.choices()));
    }
    const ModelInfo& m = end.model ? *end.model : *q.model;
    const std::string_view kind = end.expr && end.expr->kind == ExprKind::annotation ? "an annotation" : "a field";
    if (!lookups.empty())
        throw FieldError(fmt::format("Cannot resolve keyword '{}' into field{}: '{}' ({} of {}) is not a relation, so "
                                     "'{}' cannot follow it, only a lookup of {}. Choices are: {}",
                                     path, what, last, kind, m.type_name(), next, describe_lhs(*end.expr), lookups));
    throw FieldError(fmt::format("Cannot resolve keyword '{}' into field{}: '{}' ({} of {}) is not a relation, so '{}' "
                                 "cannot follow it. Choices are: {}",
                                 path, what, last, kind, m.type_name(), next, &m == q.model ? choices(q) : m.choices()));
}

// A name or path ("price", "author__name", an annotation) as an expression; every part must be
// a field or relation (no lookups).
ExprPtr resolve_name(Query& q, std::string_view name, std::string_view what) {
    auto parts = split_path(name);
    PathEnd end = walk_path(q, parts, JoinPolicy{}, true);
    ExprPtr e = end.expr;
    for (std::size_t i = end.consumed; i < parts.size(); ++i) {
        ExprPtr t = apply_transform(e, parts[i]);
        if (!t) {
            if (i == end.consumed) throw_cannot_follow(q, name, what, parts, end, {});
            throw FieldError(fmt::format("Cannot resolve keyword '{}' into field{}: '{}' is not a transform of {}. "
                                         "Choices are: {}",
                                         name, what, parts[i], function_name(*e) + "(" + std::string(parts[i - 1]) + ")",
                                         transform_names(output_type(*e))));
        }
        e = std::move(t);
    }
    return e;
}

WherePtr and_of(const WherePtr& a, WherePtr b) {
    if (!a) return b;
    WhereNode n;
    n.kind = WhereNode::Kind::and_;
    if (a->kind == WhereNode::Kind::and_) n.children = a->children;
    else n.children.push_back(a);
    n.children.push_back(std::move(b));
    n.aggregate = a->aggregate || n.children.back()->aggregate;
    return std::make_shared<const WhereNode>(std::move(n));
}

// A value for comparison with an expression of type t: normalized to the field's kind where
// that is lossless; numbers stay numbers (price__lt=9.5 on an integer field compares as numbers).
Value prepare_value(const Query& q, const ExprNode& lhs, std::optional<db::ColumnType> t, const Value& v) {
    if (!t || v.is_null() || kind_matches(*t, v.kind())) return v;
    std::string what = lhs.field                     ? q.model->type_name() + "." + lhs.field->name
                       : lhs.kind == ExprKind::func ? "'" + lhs.name + "' (" + function_name(lhs) + ")"
                                                    : "annotation '" + lhs.name + "'";
    const bool numeric_field = *t == db::ColumnType::int32 || *t == db::ColumnType::int64;
    if (numeric_field && v.kind() == ValueKind::float64) return v;
    // An integer beyond 2^53 against a double field: compared as a number, not refused.
    if (*t == db::ColumnType::float64 && (v.kind() == ValueKind::int32 || v.kind() == ValueKind::int64)) {
        const double d = static_cast<double>(v.as_int64());
        if (!(d < 9223372036854775808.0) || static_cast<std::int64_t>(d) != v.as_int64()) return v;
    }
    if (*t == db::ColumnType::int32 && v.kind() == ValueKind::int64) return v;  // out of range compares fine
    return normalize_value(*t, v, what);
}

WherePtr resolve_leaf(Query& q, const QNode& node, JoinPolicy pol);

// Q(expr): a boolean expression as the whole condition (Exists(...), a boolean field).
WherePtr resolve_condition_expr(Query& q, const QNode& node) {
    if (node.rhs.kind() != Operand::Kind::expr) throw FieldError("a condition needs a lookup name or a boolean expression");
    ExprPtr e = resolve_expr(q, node.rhs.expr(), false);
    auto t = output_type(*e);
    if (!t || *t != db::ColumnType::boolean)
        throw FieldError(fmt::format("a condition given as an expression must be boolean (Exists(...), a boolean "
                                     "field, Q(\"lookup\", value)), not {}",
                                     t ? std::string(db::to_string(*t)) : std::string("an expression of unknown type")));
    WhereNode w;
    w.kind = WhereNode::Kind::expr;
    w.lhs = std::move(e);
    w.aggregate = contains_aggregate(*w.lhs);
    return std::make_shared<const WhereNode>(std::move(w));
}

// exclude() across a multi-valued relation (Django's semantics: drop the rows having ANY related
// row that matches): `owner.pk IN (SELECT <key> FROM <related> WHERE <rest of the lookup>)`,
// negated by the enclosing NOT.
WherePtr split_exclude(Query& q, const QNode& node, std::span<const std::string_view> parts, const PathEnd& end) {
    const Relation& r = *end.split_relation;
    std::vector<std::string_view> rest(parts.begin() + static_cast<std::ptrdiff_t>(end.consumed), parts.end());
    const ModelInfo* sub_model = nullptr;
    const FieldInfo* key = nullptr;
    std::string path;
    if (r.kind == RelationKind::many_to_many || r.kind == RelationKind::reverse_many_to_many) {
        sub_model = r.through;
        key = r.through_from;
        path = r.through_to->name;
    } else {
        sub_model = &r.target();
        key = r.fk;
        if (rest.empty() || !names_member(*sub_model, rest.front())) path = "pk";
    }
    for (auto p : rest) {
        if (!path.empty()) path += "__";
        path += p;
    }
    auto sub = std::make_shared<Query>();
    sub->model = sub_model;
    sub->alias = q.alias;
    QNode leaf = node;
    leaf.path = path;
    leaf.model = nullptr;
    sub->where = resolve_leaf(*sub, leaf, JoinPolicy{++sub->filter_calls, false});
    // NULL keys would make NOT IN unknown for every row.
    WhereNode not_null;
    not_null.kind = WhereNode::Kind::leaf;
    not_null.lhs = field_expr(*key);
    not_null.lookup = Lookup::isnull;
    not_null.rhs.push_back(value_node(Value(false)));
    WhereNode both;
    both.kind = WhereNode::Kind::and_;
    both.children = {sub->where, std::make_shared<const WhereNode>(std::move(not_null))};
    sub->where = std::make_shared<const WhereNode>(std::move(both));
    sub->values_mode = true;
    sub->values.push_back({key->name, field_expr(*key), false});
    WhereNode w;
    w.kind = WhereNode::Kind::in_query;
    w.lhs = field_expr(r.owner->pk(), end.split_table);
    w.sub = std::move(sub);
    return std::make_shared<const WhereNode>(std::move(w));
}

WherePtr resolve_leaf(Query& q, const QNode& node, JoinPolicy pol) {
    if (node.model && node.model != q.model)
        throw FieldError(fmt::format("the typed expression on field '{}' belongs to model {}, but this query is on {}",
                                     node.path.substr(0, node.path.find("__")), node.model->type_name(),
                                     q.model->type_name()));
    if (node.path.empty()) return resolve_condition_expr(q, node);
    auto parts = split_path(node.path);
    if (parts[0].empty()) throw FieldError(fmt::format("empty field name in lookup '{}'", node.path));
    PathEnd end = walk_path(q, parts, pol, true);
    if (end.split) return split_exclude(q, node, parts, end);
    ExprPtr lhs = end.expr;
    // Transforms between the field and the lookup: "published__year__gte", "title__lower".
    while (parts.size() - end.consumed >= 1) {
        const std::string_view next = parts[end.consumed];
        const bool last = end.consumed + 1 == parts.size();
        if (last) {
            auto l = parse_lookup(next);
            if (l && lookup_allowed(output_type(*lhs), *l)) break;
        }
        ExprPtr t = apply_transform(lhs, next);
        if (!t) {
            if (lhs == end.expr) break;  // the field's own errors below
            throw FieldError(fmt::format("Unsupported lookup '{}' for {}({}) in '{}'. Choices are: {}", next,
                                         function_name(*lhs), parts[end.consumed - 1], node.path,
                                         allowed_lookups(output_type(*lhs))));
        }
        lhs = std::move(t);
        end.consumed += 1;
        end.relation = nullptr;
    }
    const auto type = output_type(*lhs);
    Lookup lookup = Lookup::exact;
    const std::size_t rest = parts.size() - end.consumed;
    if (rest == 1) {
        auto l = parse_lookup(parts.back());
        if (!l || !lookup_allowed(type, *l)) {
            if (end.relation)  // "author__nmae": a misspelt field of the related model, or a lookup
                throw FieldError(fmt::format("Unsupported lookup '{}' for relation '{}' ({} -> {}). Choices are: {}; "
                                             "or a field of {}: {}",
                                             parts.back(), end.relation->name, end.relation->owner->type_name(),
                                             end.relation->target().type_name(), allowed_lookups(type),
                                             end.relation->target().type_name(), end.relation->target().choices()));
            throw FieldError(fmt::format("Unsupported lookup '{}' for {}. Choices are: {}", parts.back(),
                                         describe_lhs(*lhs), allowed_lookups(type)));
        }
        lookup = *l;
    } else if (rest > 1) {
        throw_cannot_follow(q, node.path, "", parts, end, allowed_lookups(type));
    }

    WhereNode w;
    w.kind = WhereNode::Kind::leaf;
    w.lhs = lhs;
    w.lookup = lookup;
    w.lhs_nullable = lhs->kind != ExprKind::field || end.nullable;
    const Operand& rhs = node.rhs;
    auto bad_value = [&](std::string_view expected) {
        return ValidationError(fmt::format("lookup '{}' on {} expects {}", node.path, describe_lhs(*lhs), expected));
    };

    if (rhs.kind() == Operand::Kind::query) {
        if (lookup != Lookup::in)
            throw FieldError(fmt::format("lookup '{}' takes a value, not a queryset (a queryset is the value of __in: "
                                         "'{}__in')",
                                         node.path, node.path.substr(0, node.path.rfind("__") == std::string::npos
                                                                             ? node.path.size()
                                                                             : node.path.rfind("__"))));
        WhereNode in;
        in.kind = WhereNode::Kind::in_query;
        in.lhs = lhs;
        in.sub = as_in_subquery(*rhs.query());
        WherePtr node_in = std::make_shared<const WhereNode>(std::move(in));
        if (!w.lhs_nullable) return node_in;
        // Under exclude(), a NULL key must not make the row disappear (as Django): the inner
        // condition also says the key is not NULL.
        WhereNode not_null;
        not_null.kind = WhereNode::Kind::leaf;
        not_null.lhs = lhs;
        not_null.lookup = Lookup::isnull;
        not_null.rhs.push_back(value_node(Value(false)));
        WhereNode both;
        both.kind = WhereNode::Kind::and_;
        both.children = {node_in, std::make_shared<const WhereNode>(std::move(not_null))};
        return std::make_shared<const WhereNode>(std::move(both));
    }
    if (rhs.kind() == Operand::Kind::expr) {
        if (lookup != Lookup::exact && lookup != Lookup::gt && lookup != Lookup::gte && lookup != Lookup::lt &&
            lookup != Lookup::lte && lookup != Lookup::iexact)
            throw FieldError(fmt::format("lookup '{}' takes a value, not an expression (expressions work with exact, "
                                         "iexact, gt, gte, lt, lte)",
                                         node.path));
        // Aggregates reach filters only through annotations (annotate("n", Count(..)).filter("n__gt", ..)).
        w.rhs.push_back(resolve_expr(q, rhs.expr(), false));
    } else if (lookup == Lookup::isnull) {
        if (rhs.kind() != Operand::Kind::value || rhs.value().kind() != ValueKind::boolean)
            throw bad_value("true or false");
        w.rhs.push_back(value_node(rhs.value()));
    } else if (lookup == Lookup::in || lookup == Lookup::range) {
        if (rhs.kind() != Operand::Kind::list)
            throw bad_value(lookup == Lookup::in ? "a list of values" : "a pair of values (a list of two)");
        if (lookup == Lookup::range && rhs.list().size() != 2)
            throw bad_value(fmt::format("two values (low, high), not {}", rhs.list().size()));
        for (const Value& v : rhs.list()) {
            if (v.is_null()) {
                if (lookup == Lookup::range) throw bad_value("two non-NULL values");
                continue;  // NULL never equals anything: dropped, as Django does
            }
            w.rhs.push_back(value_node(prepare_value(q, *lhs, type, v)));
        }
        if (w.rhs.empty()) {
            WhereNode nothing;
            nothing.kind = WhereNode::Kind::nothing;
            return std::make_shared<const WhereNode>(std::move(nothing));
        }
    } else {
        if (rhs.kind() != Operand::Kind::value) throw bad_value("a single value, not a list");
        const Value& v = rhs.value();
        if (v.is_null()) {
            if (lookup != Lookup::exact && lookup != Lookup::iexact)
                throw bad_value("a value; NULL only works with exact (or use __isnull)");
            w.lookup = Lookup::isnull;
            w.rhs.push_back(value_node(Value(true)));
        } else if (is_text_lookup(lookup)) {
            if (v.kind() != ValueKind::text) throw bad_value(fmt::format("text, not {} {}", to_string(v.kind()), v.debug_string()));
            w.rhs.push_back(value_node(v));
        } else {
            w.rhs.push_back(value_node(prepare_value(q, *lhs, type, v)));
        }
    }
    w.aggregate = contains_aggregate(*lhs);
    for (const auto& r : w.rhs) w.aggregate = w.aggregate || contains_aggregate(*r);
    return std::make_shared<const WhereNode>(std::move(w));
}

WherePtr resolve_q(Query& q, const QNode& node, JoinPolicy pol) {
    if (node.kind == QNode::Kind::leaf) return resolve_leaf(q, node, pol);
    WhereNode w;
    w.kind = node.kind == QNode::Kind::and_ ? WhereNode::Kind::and_
             : node.kind == QNode::Kind::or_ ? WhereNode::Kind::or_
                                             : WhereNode::Kind::not_;
    JoinPolicy inner = pol;
    if (node.kind == QNode::Kind::not_) inner.negated = !pol.negated;
    for (const auto& c : node.children) {
        w.children.push_back(resolve_q(q, *c, inner));
        w.aggregate = w.aggregate || w.children.back()->aggregate;
    }
    return std::make_shared<const WhereNode>(std::move(w));
}

std::shared_ptr<Query> copy(const Query& q) { return std::make_shared<Query>(q); }

void check_not_sliced(const Query& q, std::string_view what) {
    if (q.sliced()) throw InterfaceError(fmt::format("Cannot {} once a slice has been taken", what));
}

}  // namespace

std::string_view to_string(Lookup l) noexcept { return lookup_names[static_cast<std::size_t>(l)]; }

std::optional<Lookup> parse_lookup(std::string_view name) noexcept {
    for (std::size_t i = 0; i < lookup_names.size(); ++i)
        if (lookup_names[i] == name) return static_cast<Lookup>(i);
    return std::nullopt;
}

const ModelInfo& query_model(const Query& q) noexcept { return *q.model; }
const std::string& query_alias(const Query& q) noexcept { return q.alias; }
bool has_prefetch(const Query& q) noexcept { return !q.prefetch.empty(); }
bool is_unordered(const Query& q) noexcept { return q.order_by.empty(); }
bool is_unordered_unsliced(const Query& q) noexcept { return q.order_by.empty() && !q.sliced(); }

bool Query::has_aggregate_select() const noexcept {
    for (const auto& s : values_mode ? values : annotations)
        if (s.aggregate) return true;
    return false;
}

bool contains_aggregate(const ExprNode& e) noexcept {
    switch (e.kind) {
        case ExprKind::aggregate: return true;
        case ExprKind::arith: return contains_aggregate(*e.lhs) || contains_aggregate(*e.rhs);
        case ExprKind::annotation: return e.lhs && contains_aggregate(*e.lhs);
        case ExprKind::func:
        case ExprKind::case_:
            for (const auto& a : e.args)
                if (a && contains_aggregate(*a)) return true;
            for (const auto& w : e.resolved)
                if (w && w->aggregate) return true;
            return false;
        default: return false;
    }
}

std::optional<db::ColumnType> output_type(const ExprNode& e) noexcept {
    using CT = db::ColumnType;
    switch (e.kind) {
        case ExprKind::field: return e.field ? std::optional(e.field->type) : std::nullopt;
        case ExprKind::value:
            switch (e.value.kind()) {
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
        case ExprKind::arith: {
            auto a = output_type(*e.lhs), b = output_type(*e.rhs);
            if (!a || !b) return std::nullopt;
            auto numeric = [](CT t) { return t == CT::int32 || t == CT::int64 || t == CT::float64; };
            if (!numeric(*a) || !numeric(*b)) return std::nullopt;
            if (*a == CT::float64 || *b == CT::float64) return CT::float64;
            return CT::int64;
        }
        case ExprKind::aggregate:
            switch (e.fn) {
                case AggFn::count: return CT::int64;
                case AggFn::avg: return CT::float64;
                case AggFn::sum: {
                    auto t = e.lhs ? output_type(*e.lhs) : std::nullopt;
                    if (t && (*t == CT::int32 || *t == CT::int64)) return CT::int64;
                    return CT::float64;
                }
                case AggFn::min:
                case AggFn::max: return e.lhs ? output_type(*e.lhs) : std::nullopt;
                case AggFn::std_dev:
                case AggFn::variance: return CT::float64;
            }
            return std::nullopt;
        case ExprKind::annotation: return e.lhs ? output_type(*e.lhs) : std::nullopt;
        case ExprKind::func:
        case ExprKind::case_: return function_output_type(e);
        case ExprKind::subquery:
            return e.sub && e.sub->values.size() == 1 ? output_type(*e.sub->values[0].expr) : std::nullopt;
        case ExprKind::exists: return CT::boolean;
        case ExprKind::outer_ref: return e.lhs ? output_type(*e.lhs) : std::nullopt;
    }
    return std::nullopt;
}

namespace {

// A subquery's OuterRef("name") nodes bound to the enclosing query `outer` (its columns, joins
// added there). Nested subqueries keep theirs: they refer to the query they sit in.
ExprPtr bind_outer(Query& outer, const ExprPtr& e);

WherePtr bind_outer_where(Query& outer, const WherePtr& w) {
    if (!w) return w;
    WhereNode n = *w;
    bool changed = false;
    for (auto& c : n.children) {
        auto b = bind_outer_where(outer, c);
        changed = changed || b != c;
        c = std::move(b);
    }
    if (n.lhs) {
        auto b = bind_outer(outer, n.lhs);
        changed = changed || b != n.lhs;
        n.lhs = std::move(b);
    }
    for (auto& r : n.rhs) {
        auto b = bind_outer(outer, r);
        changed = changed || b != r;
        r = std::move(b);
    }
    return changed ? std::make_shared<const WhereNode>(std::move(n)) : w;
}

ExprPtr bind_outer(Query& outer, const ExprPtr& e) {
    if (!e) return e;
    if (e->kind == ExprKind::outer_ref) {
        if (e->lhs) return e;
        ExprNode n = *e;
        n.lhs = resolve_name(outer, e->name, "");
        return make(std::move(n));
    }
    if (e->kind == ExprKind::subquery || e->kind == ExprKind::exists) return e;
    ExprNode n = *e;
    bool changed = false;
    for (auto* p : {&n.lhs, &n.rhs}) {
        auto b = bind_outer(outer, *p);
        changed = changed || b != *p;
        *p = std::move(b);
    }
    for (auto& a : n.args) {
        auto b = bind_outer(outer, a);
        changed = changed || b != a;
        a = std::move(b);
    }
    for (auto& w : n.resolved) {
        auto b = bind_outer_where(outer, w);
        changed = changed || b != w;
        w = std::move(b);
    }
    return changed ? make(std::move(n)) : e;
}

std::shared_ptr<Query> bind_outer_query(Query& outer, const Query& sub) {
    auto out = std::make_shared<Query>(sub);
    out->where = bind_outer_where(outer, sub.where);
    out->having = bind_outer_where(outer, sub.having);
    for (auto& a : out->annotations) a.expr = bind_outer(outer, a.expr);
    for (auto& v : out->values) v.expr = bind_outer(outer, v.expr);
    for (auto& t : out->order_by) t.expr = bind_outer(outer, t.expr);
    return out;
}

WherePtr resolve_condition(Query& q, const QPtr& cond) {
    if (!cond) return nullptr;
    return resolve_q(q, *cond, JoinPolicy{});
}

}  // namespace

ExprPtr resolve_expr(Query& q, const ExprPtr& e, bool allow_aggregate) {
    if (!e) return e;
    switch (e->kind) {
        case ExprKind::field:
            if (e->field) return e;
            return resolve_name(q, e->name, "");
        case ExprKind::value:
        case ExprKind::annotation: return e;
        // Bound by the query enclosing the subquery it sits in (bind_outer); left as it is here.
        case ExprKind::outer_ref: return e;
        case ExprKind::func:
        case ExprKind::case_: {
            ExprNode n = *e;
            for (auto& a : n.args) a = resolve_expr(q, a, allow_aggregate);
            n.resolved.clear();
            for (const auto& c : e->conditions) n.resolved.push_back(resolve_condition(q, c));
            check_function(n);
            return make(std::move(n));
        }
        case ExprKind::subquery: {
            ExprNode n = *e;
            n.sub = bind_outer_query(q, *e->sub);
            return make(std::move(n));
        }
        case ExprKind::exists: {
            ExprNode n = *e;
            auto sub = bind_outer_query(q, *e->sub);
            // Whether a row exists: one constant column, no ordering (kept when sliced).
            sub->values_mode = true;
            sub->values = {SelectItem{sub->model->pk().name, field_ref(sub->model->pk()), false}};
            sub->annotations.clear();
            sub->select_related.clear();
            sub->prefetch.clear();
            if (!sub->sliced()) sub->order_by.clear();
            n.sub = std::move(sub);
            return make(std::move(n));
        }
        case ExprKind::arith: {
            ExprNode n = *e;
            n.lhs = resolve_expr(q, e->lhs, allow_aggregate);
            n.rhs = resolve_expr(q, e->rhs, allow_aggregate);
            return make(std::move(n));
        }
        case ExprKind::aggregate: {
            if (!allow_aggregate)
                throw FieldError("aggregate functions (Count, Sum, Avg, Min, Max) are not allowed here");
            ExprNode n = *e;
            n.lhs = resolve_expr(q, e->lhs, false);
            // An aggregate over an aggregate annotation is fine (it runs over a grouped subquery);
            // Sum(Count("id")) written directly is not.
            auto direct = [](auto&& self, const ExprNode& x) -> bool {
                if (x.kind == ExprKind::aggregate) return true;
                if (x.kind == ExprKind::arith) return self(self, *x.lhs) || self(self, *x.rhs);
                return false;
            };
            if (n.lhs && direct(direct, *n.lhs)) throw FieldError("an aggregate cannot contain another aggregate");
            if ((n.fn == AggFn::sum || n.fn == AggFn::avg || n.fn == AggFn::std_dev || n.fn == AggFn::variance) &&
                n.lhs) {
                auto t = output_type(*n.lhs);
                const std::string_view fname = n.fn == AggFn::sum   ? "Sum"
                                               : n.fn == AggFn::avg ? "Avg"
                                               : n.fn == AggFn::std_dev ? "StdDev"
                                                                        : "Variance";
                if (t && !(*t == db::ColumnType::int32 || *t == db::ColumnType::int64 || *t == db::ColumnType::float64))
                    throw FieldError(fmt::format("{} needs a numeric expression, but '{}' is {}", fname,
                                                 n.lhs->name.empty() ? std::string("the expression") : n.lhs->name,
                                                 db::to_string(*t)));
            }
            n.resolved.clear();
            for (const auto& c : e->conditions) {
                n.resolved.push_back(resolve_condition(q, c));
                if (n.resolved.back()->aggregate)
                    throw FieldError("an aggregate's filter= cannot refer to an aggregate");
            }
            return make(std::move(n));
        }
    }
    return e;
}

OrderTerm resolve_order_term(Query& q, std::string_view name) {
    OrderTerm t;
    std::string_view n = name;
    if (n.starts_with('-')) {
        t.descending = true;
        n.remove_prefix(1);
    }
    if (n.empty() || n.starts_with("__") || n.ends_with("__"))
        throw FieldError(fmt::format("Cannot resolve keyword '{}' into field for order_by. Choices are: {}", name,
                                     choices(q)));
    if (name == "?") {  // random order
        ExprNode r;
        r.kind = ExprKind::func;
        r.func = Fn::random;
        t.expr = make(std::move(r));
        return t;
    }
    auto parts = split_path(n);
    if (parts.size() == 1 && !find_annotation(q, n) && !names_member(*q.model, n))
        throw FieldError(fmt::format("Cannot resolve keyword '{}' into field for order_by. Choices are: {}", n,
                                     choices(q)));
    t.expr = resolve_name(q, n, " for order_by");
    return t;
}

ExprPtr field_ref(const FieldInfo& f, std::uint16_t table) { return field_expr(f, table); }

const ModelInfo& table_model(const Query& q, std::uint16_t table) {
    return table == 0 ? *q.model : *q.joins.at(table - 1u).model;
}

QueryPtr make_query(const ModelInfo& model) {
    auto q = std::make_shared<Query>();
    q->model = &model;
    for (const auto& o : model.ordering()) q->order_by.push_back(resolve_order_term(*q, o));
    return q;
}

void check_same_columns(const Combined& c, std::string_view what);

QueryPtr with_filter(const Query& q, const Q& cond, bool negate) {
    check_not_combined(q, negate ? "exclude" : "filter");
    check_not_sliced(q, "filter a query");
    auto out = copy(q);
    if (cond.empty()) return out;
    JoinPolicy pol{++out->filter_calls, negate};
    WherePtr w = resolve_q(*out, *cond.node(), pol);
    if (negate) {
        WhereNode n;
        n.kind = WhereNode::Kind::not_;
        n.aggregate = w->aggregate;
        n.children.push_back(std::move(w));
        w = std::make_shared<const WhereNode>(std::move(n));
    }
    if (w->aggregate) out->having = and_of(out->having, std::move(w));
    else out->where = and_of(out->where, std::move(w));
    return out;
}

QueryPtr with_order_by(const Query& q, std::span<const OrderBy> terms) {
    check_not_sliced(q, "reorder a query");
    auto out = copy(q);
    out->order_by.clear();
    out->ordered_explicitly = true;
    for (const auto& t : terms) {
        if (t.expr()) {
            // An expression: resolved like an annotation's (aggregates allowed: they group).
            out->order_by.push_back(OrderTerm{resolve_expr(*out, t.expr(), true), t.descending(), t.nulls()});
            continue;
        }
        out->order_by.push_back(resolve_order_term(*out, t.name()));
        out->order_by.back().nulls = t.nulls();
    }
    return out;
}

QueryPtr with_order_by(const Query& q, std::span<const std::string> names) {
    std::vector<OrderBy> terms(names.begin(), names.end());
    return with_order_by(q, std::span<const OrderBy>(terms));
}

QueryPtr with_reverse(const Query& q) {
    check_not_sliced(q, "reverse a query");
    auto out = copy(q);
    for (auto& t : out->order_by) {
        t.descending = !t.descending;
        // As Django does: the NULLs that came first come last in the reverse order.
        if (t.nulls != Nulls::database) t.nulls = t.nulls == Nulls::first ? Nulls::last : Nulls::first;
    }
    return out;
}

QueryPtr with_slice(const Query& q, std::int64_t start, std::optional<std::int64_t> stop) {
    if (start < 0 || (stop && *stop < 0)) throw InterfaceError("negative slice bounds are not supported");
    auto out = copy(q);
    std::optional<std::int64_t> limit;
    if (stop) limit = std::max<std::int64_t>(0, *stop - start);
    if (q.limit) {
        std::int64_t left = std::max<std::int64_t>(0, *q.limit - start);
        limit = limit ? std::min(*limit, left) : left;
    }
    out->offset = q.offset + start;
    out->limit = limit;
    return out;
}

QueryPtr with_distinct(const Query& q, bool on) {
    check_not_combined(q, "distinct");
    check_not_sliced(q, "change distinct on a query");
    auto out = copy(q);
    out->distinct = on;
    return out;
}

QueryPtr with_distinct_fields(const Query& q, std::span<const std::string> names) {
    check_not_combined(q, "distinct");
    check_not_sliced(q, "change distinct on a query");
    auto out = copy(q);
    out->distinct = true;
    out->distinct_on.clear();
    for (const auto& n : names) out->distinct_on.push_back(resolve_name(*out, n, " for distinct"));
    if (!out->ordered_explicitly) {
        // DISTINCT ON keeps the first row of each group, so the rows are ordered by its fields
        // first (PostgreSQL requires it); order_by() chooses which row of a group is kept.
        out->order_by.clear();
        for (const auto& e : out->distinct_on) out->order_by.push_back(OrderTerm{e, false, Nulls::database});
    }
    return out;
}

namespace {

// The levels of querysets nested in `root` (root itself is 1): through __in subqueries, Subquery
// and Exists expressions, union parts and Prefetch querysets, in its conditions, annotations,
// values, ordering and inside expressions. An explicit stack, no recursion; a node shared by
// several parents is walked again only when reached deeper than before.
std::size_t query_nesting(const Query& root) {
    enum class Kind : std::uint8_t { query, where, expr };
    struct Item {
        const void* node;
        Kind kind;
        std::size_t level;
    };
    std::vector<Item> todo{{&root, Kind::query, 1}};
    std::unordered_map<const void*, std::size_t> seen;
    std::size_t deepest = 1;
    auto push = [&](const void* p, Kind k, std::size_t level) {
        if (!p) return;
        auto [it, fresh] = seen.try_emplace(p, level);
        if (!fresh) {
            if (it->second >= level) return;
            it->second = level;
        }
        todo.push_back({p, k, level});
    };
    while (!todo.empty()) {
        const Item item = todo.back();
        todo.pop_back();
        const std::size_t l = item.level;
        switch (item.kind) {
            case Kind::query: {
                const auto& q = *static_cast<const Query*>(item.node);
                deepest = std::max(deepest, l);
                if (deepest > max_query_nesting) return deepest;  // enough to refuse
                push(q.where.get(), Kind::where, l);
                push(q.having.get(), Kind::where, l);
                for (const auto& a : q.annotations) push(a.expr.get(), Kind::expr, l);
                for (const auto& v : q.values) push(v.expr.get(), Kind::expr, l);
                for (const auto& t : q.order_by) push(t.expr.get(), Kind::expr, l);
                for (const auto& e : q.distinct_on) push(e.get(), Kind::expr, l);
                if (q.combined)
                    for (const auto& p : q.combined->parts) push(p.get(), Kind::query, l + 1);
                for (const auto& spec : q.prefetch) push(spec.queryset.get(), Kind::query, l + 1);
                break;
            }
            case Kind::where: {
                const auto& w = *static_cast<const WhereNode*>(item.node);
                for (const auto& c : w.children) push(c.get(), Kind::where, l);
                push(w.lhs.get(), Kind::expr, l);
                for (const auto& r : w.rhs) push(r.get(), Kind::expr, l);
                push(w.sub.get(), Kind::query, l + 1);
                break;
            }
            case Kind::expr: {
                const auto& e = *static_cast<const ExprNode*>(item.node);
                push(e.lhs.get(), Kind::expr, l);
                push(e.rhs.get(), Kind::expr, l);
                for (const auto& a : e.args) push(a.get(), Kind::expr, l);
                for (const auto& w : e.resolved) push(w.get(), Kind::where, l);
                push(e.sub.get(), Kind::query, l + 1);
                break;
            }
        }
    }
    return deepest;
}

}  // namespace

void check_query_nesting(const Query& sub, std::string_view what) {
    const std::size_t levels = query_nesting(sub) + 1;
    if (levels > max_query_nesting)
        throw FieldError(fmt::format("{} would nest querysets {} levels deep (as __in values, Subquery, Exists, "
                                     "union parts or Prefetch querysets): at most {} levels are supported "
                                     "(orm::detail::max_query_nesting); join through relations or split the query",
                                     what, levels, max_query_nesting));
}

QueryPtr as_in_subquery(const Query& q) {
    check_query_nesting(q, "a queryset as the value of __in");
    if (q.combined && !q.values_mode) {
        const std::string pk[] = {q.model->pk().name};
        return as_in_subquery(*with_values(q, pk));
    }
    auto out = copy(q);
    if (q.values_mode) {
        if (q.values.size() != 1)
            throw FieldError(fmt::format("a values() queryset used as the value of __in must select one column, not "
                                         "{} ({})",
                                         q.values.size(), fmt::join([&] {
                                             std::vector<std::string> names;
                                             for (const auto& v : q.values) names.push_back(v.name);
                                             return names;
                                         }(), ", ")));
    } else {
        out->values_mode = true;
        out->values = {SelectItem{q.model->pk().name, field_ref(q.model->pk()), false}};
    }
    out->select_related.clear();
    out->prefetch.clear();
    if (!out->sliced()) out->order_by.clear();
    return out;
}

QueryPtr with_none(const Query& q) {
    auto out = copy(q);
    out->none = true;
    return out;
}

QueryPtr with_annotation(const Query& q, std::string name, const Expr& e) {
    check_not_combined(q, "annotate");
    check_not_sliced(q, "annotate a query");
    if (name.empty()) name = e.default_alias();
    if (name.empty())
        throw FieldError("annotate() needs a name for this expression: annotate(\"name\", expression)");
    if (q.model->find(name)) throw FieldError(fmt::format("The annotation '{}' conflicts with a field on the model", name));
    if (find_annotation(q, name)) throw FieldError(fmt::format("The annotation '{}' is already defined", name));
    if (name.find("__") != std::string::npos && e.node()->kind != ExprKind::aggregate)
        throw FieldError(fmt::format("annotation name '{}' cannot contain '__'", name));
    auto out = copy(q);
    SelectItem item{name, resolve_expr(*out, e.node(), true), false};
    item.aggregate = contains_aggregate(*item.expr);
    out->annotations.push_back(item);
    if (out->values_mode) out->values.push_back(std::move(item));
    return out;
}

QueryPtr with_values(const Query& q, std::span<const std::string> names) {
    if (q.combined) {
        // As Django: values() on a combined queryset selects these columns in every part that
        // has not chosen its own, and the result's shape is the first part's.
        auto c = std::make_shared<Combined>(*q.combined);
        for (auto& part : c->parts)
            if (!part->values_mode) part = with_values(*part, names);
        auto out = copy(*c->parts.front());
        out->combined = c;
        out->where = nullptr;
        out->having = nullptr;
        out->order_by = q.order_by;
        out->ordered_explicitly = q.ordered_explicitly;
        out->limit = q.limit;
        out->offset = q.offset;
        out->distinct = false;
        out->distinct_on.clear();
        out->prefetch.clear();
        check_same_columns(*c, "values");
        return out;
    }
    auto out = copy(q);
    if (!q.values_mode)
        for (const auto& a : q.annotations) out->group_by_model = out->group_by_model || a.aggregate;
    out->values_mode = true;
    out->values.clear();
    if (names.empty()) {
        // Django names a foreign key by its attname here ("author_id"), as values("author_id") does.
        for (const auto& f : q.model->fields())
            out->values.push_back({f.relation ? f.name + "_id" : f.name, field_expr(f), false});
        for (const auto& a : q.annotations) out->values.push_back(a);
        return out;
    }
    for (const auto& n : names) {
        if (const SelectItem* a = find_annotation(q, n)) {
            out->values.push_back(*a);
        } else if (const FieldInfo* f = q.model->find(n)) {
            out->values.push_back({n, field_expr(*f), false});
        } else if (n.find("__") != std::string::npos) {
            out->values.push_back({n, resolve_name(*out, n, ""), false});
        } else {
            throw FieldError(fmt::format("Cannot resolve keyword '{}' into field. Choices are: {}", n, choices(q)));
        }
    }
    return out;
}

QueryPtr with_in_query(const Query& q, ExprPtr lhs, QueryPtr sub, bool negate) {
    auto out = copy(q);
    WhereNode w;
    w.kind = WhereNode::Kind::in_query;
    w.lhs = std::move(lhs);
    w.sub = std::move(sub);
    WherePtr node = std::make_shared<const WhereNode>(std::move(w));
    if (negate) {
        WhereNode n;
        n.kind = WhereNode::Kind::not_;
        n.children.push_back(std::move(node));
        node = std::make_shared<const WhereNode>(std::move(n));
    }
    out->where = and_of(out->where, std::move(node));
    return out;
}

namespace {

// Adds the joins and RelatedSelect entries for one select_related path ("author__publisher").
void select_path(Query& q, std::string_view path) {
    auto parts = split_path(path);
    std::uint16_t table = 0;
    int parent = -1;
    const ModelInfo* model = q.model;
    for (auto name : parts) {
        // A foreign key or one-to-one of this model, or the reverse side of a one-to-one that a
        // RelatedOne member holds.
        const FieldInfo* f = model->find(name);
        const Relation* r = nullptr;
        RelatedSelect rs;
        if (f && f->relation && f->name == name) {
            r = f->relation;
            rs.fk = f;
            rs.holder = f->access.get();
        } else if (!f) {
            r = model->find_relation(name);
            if (r && r->kind != RelationKind::reverse_one_to_one) r = nullptr;
            if (r) {
                const SetMember* one = model->one_member_for(*r);
                if (!one)
                    throw FieldError(fmt::format("select_related('{}'): {} has no member to hold the {} of the "
                                                 "one-to-one '{}'; declare an orm::RelatedOne<{}> and "
                                                 "m.field(&{}::member, \"{}\")",
                                                 path, model->type_name(), r->target().type_name(), name,
                                                 r->target().type_name(), model->type_name(), name));
                rs.fk = r->fk;
                rs.holder = one->access.get();
                rs.reverse = true;
            }
        }
        if (!r) {
            std::vector<std::string> choices;
            for (const auto& g : model->fields())
                if (g.relation) choices.push_back(g.name);
            for (const auto& rev : model->reverse_relations())
                if (rev->kind == RelationKind::reverse_one_to_one && model->one_member_for(*rev))
                    choices.push_back(rev->name);
            throw FieldError(fmt::format("Invalid field name(s) given in select_related: '{}'{}. Choices are: {}", name,
                                         model == q.model ? std::string() : " (on " + model->type_name() + ")",
                                         choices.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(choices, ", "))));
        }
        const std::uint16_t t = cross(q, table, *r, 0);
        int found = -1;
        for (std::size_t i = 0; i < q.select_related.size(); ++i)
            if (q.select_related[i].table == t) found = static_cast<int>(i);
        if (found < 0) {
            rs.table = t;
            rs.parent = parent;
            q.select_related.push_back(rs);
            found = static_cast<int>(q.select_related.size() - 1);
        }
        parent = found;
        table = t;
        model = &r->target();
    }
}

// select_related() without names: every non-null foreign key, following them up to 5 levels.
void select_all(Query& q, const ModelInfo& model, const std::string& prefix, int depth) {
    if (depth >= 5) return;
    for (const auto& f : model.fields()) {
        if (!f.relation || f.nullable) continue;
        std::string path = prefix.empty() ? f.name : prefix + "__" + f.name;
        select_path(q, path);
        select_all(q, f.relation->target(), path, depth + 1);
    }
}

}  // namespace

QueryPtr with_select_related(const Query& q, std::span<const std::string> names) {
    check_not_combined(q, "select_related");
    if (q.values_mode) throw InterfaceError("select_related() does not apply to values() querysets");
    auto out = copy(q);
    if (names.empty()) select_all(*out, *q.model, "", 0);
    for (const auto& n : names) select_path(*out, n);
    return out;
}

QueryPtr with_prefetch_related(const Query& q, std::span<const PrefetchSpec> specs) {
    if (q.values_mode) throw InterfaceError("prefetch_related() does not apply to values() querysets");
    auto out = copy(q);
    for (const auto& s : specs) {
        if (s.path.empty()) throw FieldError("prefetch_related(): empty relation name");
        check_path_parts(s.path, "the prefetch_related() path");
        if (s.queryset) check_query_nesting(*s.queryset, "a Prefetch() queryset");
        if (s.queryset) {
            const Query& sub = *s.queryset;
            if (sub.values_mode)
                throw FieldError(fmt::format("Prefetch('{}'): the queryset cannot be a values() / values_list() "
                                             "queryset (Prefetch querysets read objects)",
                                             s.path));
            if (sub.sliced() || sub.combined)
                throw NotSupportedError(fmt::format("Prefetch('{}'): a sliced or combined (union) queryset is not "
                                                    "supported; filter and order it instead",
                                                    s.path));
        }
        if (!s.queryset && !s.to_attr) {
            bool seen = false;
            for (const auto& o : out->prefetch) seen = seen || (!o.queryset && !o.to_attr && o.path == s.path);
            if (seen) continue;
        }
        for (const auto& o : out->prefetch)
            if (s.to_attr && o.to_attr && s.to_attr->same(*o.to_attr))
                throw FieldError(fmt::format("Prefetch('{}', to_attr) and Prefetch('{}', to_attr) fill the same "
                                             "member of {}; give each its own std::vector member",
                                             o.path, s.path, s.to_attr->owner().type_name()));
        out->prefetch.push_back(s);
    }
    if (specs.empty()) out->prefetch.clear();
    return out;
}

namespace {

std::uint64_t all_fields_mask(const ModelInfo& m) noexcept {
    return m.fields().size() >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << m.fields().size()) - 1;
}

std::string field_names(const ModelInfo& m) {
    std::vector<std::string> names;
    for (const auto& f : m.fields()) names.push_back(f.name);
    return fmt::format("{}", fmt::join(names, ", "));
}

std::string_view op_name(db::Dialect::Compound op) noexcept {
    return op == db::Dialect::Compound::union_ ? "union" : op == db::Dialect::Compound::intersection ? "intersection"
                                                                                                    : "difference";
}

}  // namespace

QueryPtr with_deferred(const Query& q, std::span<const std::string> names, bool only) {
    check_not_combined(q, only ? "only" : "defer");
    const char* what = only ? "only" : "defer";
    if (q.values_mode)
        throw InterfaceError(fmt::format("{}() does not apply to values() querysets (they select their columns)", what));
    const ModelInfo& m = *q.model;
    std::uint64_t mask = 0;
    for (const auto& n : names) {
        const FieldInfo* f = m.find(n);
        if (!f) {
            std::string hint;
            if (n.find("__") != std::string::npos)
                hint = " (fields of related models cannot be deferred here; only the model's own fields)";
            throw FieldError(fmt::format("{} has no field named '{}' for {}(){}. Choices are: {}", m.type_name(), n, what,
                                         hint, field_names(m)));
        }
        if (f->index >= 64)
            throw NotSupportedError(fmt::format("{}(): {}.{} is field number {}; only the first 64 fields of a model can "
                                                "be deferred",
                                                what, m.type_name(), f->name, f->index + 1));
        mask |= std::uint64_t{1} << f->index;
    }
    auto out = copy(q);
    if (only) out->deferred = all_fields_mask(m) & ~mask;
    else if (names.empty()) out->deferred = 0;
    else out->deferred |= mask;
    // The primary key is always loaded (an object is saved and refreshed by it), as in Django.
    if (m.pk().index < 64) out->deferred &= ~(std::uint64_t{1} << m.pk().index);
    // Django: a field cannot be both deferred and traversed by select_related.
    for (const auto& rs : out->select_related)
        if (rs.parent < 0 && rs.fk && !rs.reverse && rs.fk->index < 64 && (out->deferred >> rs.fk->index & 1))
            throw FieldError(fmt::format("Field {}.{} cannot be both deferred and traversed using select_related at "
                                         "the same time",
                                         m.type_name(), rs.fk->name));
    return out;
}

std::size_t selected_field_count(const Query& q) noexcept {
    std::size_t n = 0;
    for (const auto& f : q.model->fields()) n += f.index < 64 && (q.deferred >> f.index & 1) ? 0 : 1;
    return n;
}

std::vector<std::string> selected_names(const Query& q) {
    std::vector<std::string> out;
    if (q.values_mode) {
        for (const auto& v : q.values) out.push_back(v.name);
        return out;
    }
    for (const auto& f : q.model->fields())
        if (!(f.index < 64 && (q.deferred >> f.index & 1))) out.push_back(q.model->type_name() + "." + f.name);
    for (const auto& rs : q.select_related)
        for (const auto& f : table_model(q, rs.table).fields())
            out.push_back(table_model(q, rs.table).type_name() + "." + f.name);
    for (const auto& a : q.annotations) out.push_back(a.name);
    return out;
}

void check_not_combined(const Query& q, std::string_view what) {
    if (q.combined)
        throw NotSupportedError(fmt::format("Calling QuerySet.{}() after {}() is not supported", what,
                                            op_name(q.combined->op)));
}

void check_same_columns(const Combined& c, std::string_view what) {
    const Query& first = *c.parts.front();
    const auto want = selected_names(first);
    for (std::size_t i = 1; i < c.parts.size(); ++i) {
        const Query& p = *c.parts[i];
        const auto got = selected_names(p);
        const bool same_model = first.values_mode || (!p.values_mode && p.model == first.model);
        if (got.size() == want.size() && same_model) continue;
        throw FieldError(fmt::format(
            "{}(): the querysets select different columns{}: queryset 1 selects {} ({}), queryset {} selects {} ({}); "
            "choose the same columns in each (values() / values_list() / only())",
            what, same_model ? "" : " (their rows are read as " + first.model->type_name() + " objects)", want.size(),
            fmt::join(want, ", "), i + 1, got.size(), fmt::join(got, ", ")));
    }
}

QueryPtr with_combined(const Query& q, std::span<const QueryPtr> others, db::Dialect::Compound op, bool all) {
    auto c = std::make_shared<Combined>();
    c->op = op;
    c->all = all;
    c->parts.push_back(copy(q));
    for (const auto& o : others) {
        if (!o) throw InterfaceError(fmt::format("{}(): a queryset without a query", op_name(op)));
        c->parts.push_back(o);
    }
    for (const auto& p : c->parts) check_query_nesting(*p, op_name(op));
    for (const auto& p : c->parts)
        if (!p->select_related.empty())
            throw NotSupportedError(fmt::format("{}(): a queryset with select_related() cannot be combined; drop it "
                                                "and prefetch_related() on the result instead",
                                                op_name(op)));
    check_same_columns(*c, op_name(op));
    // none() parts, as Django: union leaves them out; intersection with one is empty; a
    // difference from an empty queryset is empty and one of nothing takes nothing away.
    const bool first_none = c->parts.front()->none;
    bool any_none = false;
    for (const auto& p : c->parts) any_none = any_none || p->none;
    if ((op == db::Dialect::Compound::intersection && any_none) ||
        (op == db::Dialect::Compound::difference && first_none)) {
        auto out = copy(q);
        out->none = true;
        return out;
    }
    if (any_none) {
        std::vector<QueryPtr> kept;
        for (std::size_t i = 0; i < c->parts.size(); ++i)
            if (!c->parts[i]->none) kept.push_back(c->parts[i]);
        if (kept.empty()) return with_none(q);
        c->parts = std::move(kept);
    }
    if (c->parts.size() == 1) {
        // Nothing left to combine with: the first queryset's rows (still unordered, as a compound).
        auto out = copy(*c->parts.front());
        out->order_by.clear();
        out->ordered_explicitly = false;
        return out;
    }
    auto out = copy(q);
    out->combined = std::move(c);
    out->where = nullptr;
    out->having = nullptr;
    out->order_by.clear();  // as Django: the combined rows are unordered until order_by()
    out->ordered_explicitly = false;
    out->limit.reset();
    out->offset = 0;
    out->distinct = false;
    out->distinct_on.clear();
    out->none = false;
    return out;
}

}  // namespace orm::detail
