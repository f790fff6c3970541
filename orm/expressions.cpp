// Building expression and condition nodes (F, arithmetic, aggregates, Q).
#include "orm/expressions.hpp"

#include "orm/q.hpp"

namespace orm {

namespace {

detail::ExprPtr make_node(detail::ExprNode n) { return std::make_shared<const detail::ExprNode>(std::move(n)); }

Expr arith(char op, const Expr& a, const Expr& b) {
    detail::ExprNode n;
    n.kind = detail::ExprKind::arith;
    n.op = op;
    n.lhs = a.node();
    n.rhs = b.node();
    return Expr(make_node(std::move(n)));
}

Expr aggregate(detail::AggFn fn, detail::ExprPtr arg, bool distinct, std::string_view suffix) {
    detail::ExprNode n;
    n.kind = detail::ExprKind::aggregate;
    n.fn = fn;
    n.distinct = distinct;
    if (arg && arg->kind == detail::ExprKind::field) n.name = arg->name + "__" + std::string(suffix);
    else if (!arg) n.name = std::string(suffix);
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
    n.children.push_back(a.node());
    return Q(std::make_shared<const detail::QNode>(std::move(n)));
}

}  // namespace orm
