// Building expression and condition nodes (F, arithmetic, aggregates, Q).
#include "orm/expressions.hpp"

#include "orm/q.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "orm/errors.hpp"

namespace orm {

namespace {

detail::ExprPtr make_node(detail::ExprNode n) { return std::make_shared<const detail::ExprNode>(std::move(n)); }

// The depth of a node over `below` (the deepest operand's depth), refused past the bound.
std::uint16_t nested_depth(std::size_t below, const char* what) {
    if (below + 1 > max_expression_depth)
        throw FieldError(fmt::format(
            "{} nested {} levels deep: at most {} levels are supported (orm::max_expression_depth); "
            "combine long chains with one operator (a & b & c ... stays one level) or build the "
            "condition from a list, e.g. field__in",
            what, below + 1, max_expression_depth));
    return static_cast<std::uint16_t>(below + 1);
}

Expr arith(char op, const Expr& a, const Expr& b) {
    detail::ExprNode n;
    n.kind = detail::ExprKind::arith;
    n.op = op;
    n.lhs = a.node();
    n.rhs = b.node();
    n.depth = nested_depth(std::max(n.lhs ? n.lhs->depth : 0, n.rhs ? n.rhs->depth : 0), "an expression");
    return Expr(make_node(std::move(n)));
}

Expr aggregate(detail::AggFn fn, detail::ExprPtr arg, bool distinct, std::string_view suffix) {
    detail::ExprNode n;
    n.kind = detail::ExprKind::aggregate;
    n.fn = fn;
    n.distinct = distinct;
    if (arg && arg->kind == detail::ExprKind::field) n.name = arg->name + "__" + std::string(suffix);
    else if (!arg) n.name = std::string(suffix);
    n.depth = nested_depth(arg ? arg->depth : 0, "an expression");
    n.lhs = std::move(arg);
    return Expr(make_node(std::move(n)));
}

detail::ExprPtr field_node(std::string name) {
    detail::ExprNode n;
    n.kind = detail::ExprKind::field;
    n.name = std::move(name);
    return make_node(std::move(n));
}

}  // namespace

const std::string& Expr::default_alias() const noexcept {
    static const std::string none;
    if (!node_) return none;
    if (node_->kind == detail::ExprKind::aggregate || node_->kind == detail::ExprKind::field) return node_->name;
    return none;
}

OrderBy Expr::asc() const { return OrderBy(*this, false); }
OrderBy Expr::desc() const { return OrderBy(*this, true); }

F::F(std::string name) : Expr(field_node(std::move(name))) {}

Expr value_expr(Value v) {
    detail::ExprNode n;
    n.kind = detail::ExprKind::value;
    n.value = std::move(v);
    return Expr(make_node(std::move(n)));
}

Expr operator+(const Expr& a, const Expr& b) { return arith('+', a, b); }
Expr operator-(const Expr& a, const Expr& b) { return arith('-', a, b); }
Expr operator*(const Expr& a, const Expr& b) { return arith('*', a, b); }
Expr operator/(const Expr& a, const Expr& b) { return arith('/', a, b); }

Expr Count() { return aggregate(detail::AggFn::count, nullptr, false, "count"); }
Expr Count(std::string field, bool distinct) {
    if (field == "*") return Count();
    return aggregate(detail::AggFn::count, field_node(std::move(field)), distinct, "count");
}
Expr Count(const Expr& e, bool distinct) { return aggregate(detail::AggFn::count, e.node(), distinct, "count"); }
Expr Sum(std::string field) { return aggregate(detail::AggFn::sum, field_node(std::move(field)), false, "sum"); }
Expr Sum(const Expr& e) { return aggregate(detail::AggFn::sum, e.node(), false, "sum"); }
Expr Avg(std::string field) { return aggregate(detail::AggFn::avg, field_node(std::move(field)), false, "avg"); }
Expr Avg(const Expr& e) { return aggregate(detail::AggFn::avg, e.node(), false, "avg"); }
Expr Min(std::string field) { return aggregate(detail::AggFn::min, field_node(std::move(field)), false, "min"); }
Expr Min(const Expr& e) { return aggregate(detail::AggFn::min, e.node(), false, "min"); }
Expr Max(std::string field) { return aggregate(detail::AggFn::max, field_node(std::move(field)), false, "max"); }
Expr Max(const Expr& e) { return aggregate(detail::AggFn::max, e.node(), false, "max"); }

Q::Q(std::string lookup, Operand rhs) {
    detail::QNode n;
    n.kind = detail::QNode::Kind::leaf;
    n.path = std::move(lookup);
    n.rhs = std::move(rhs);
    // An expression as the value nests as deep as it does (a Case whose When holds a Case ...).
    if (n.rhs.kind() == Operand::Kind::expr && n.rhs.expr()) n.depth = std::max<std::uint16_t>(1, n.rhs.expr()->depth);
    node_ = std::make_shared<const detail::QNode>(std::move(n));
}

Q::Q(const Expr& condition) {
    detail::QNode n;
    n.kind = detail::QNode::Kind::leaf;
    n.rhs = Operand(condition);
    n.depth = condition.node() ? condition.node()->depth : 1;
    node_ = std::make_shared<const detail::QNode>(std::move(n));
}

namespace {

Q combine(detail::QNode::Kind kind, const Q& a, const Q& b) {
    if (a.empty()) return b;
    if (b.empty()) return a;
    detail::QNode n;
    n.kind = kind;
    // Flatten a & (b & c) into one node, so equal conditions give equal SQL however they were built.
    for (const Q* q : {&a, &b}) {
        if (q->node()->kind == kind) n.children.insert(n.children.end(), q->node()->children.begin(),
                                                       q->node()->children.end());
        else n.children.push_back(q->node());
    }
    std::size_t below = 0;
    for (const auto& c : n.children) below = std::max<std::size_t>(below, c->depth);
    n.depth = nested_depth(below, "a Q condition");
    return Q(std::make_shared<const detail::QNode>(std::move(n)));
}

}  // namespace

Q operator&(const Q& a, const Q& b) { return combine(detail::QNode::Kind::and_, a, b); }
Q operator|(const Q& a, const Q& b) { return combine(detail::QNode::Kind::or_, a, b); }
Q operator~(const Q& a) {
    if (a.empty()) return a;
    if (a.node()->kind == detail::QNode::Kind::not_) return Q(a.node()->children.front());
    detail::QNode n;
    n.kind = detail::QNode::Kind::not_;
    n.depth = nested_depth(a.node()->depth, "a Q condition");
    n.children.push_back(a.node());
    return Q(std::make_shared<const detail::QNode>(std::move(n)));
}

}  // namespace orm
