// Q: a filter condition, combinable with & (and), | (or) and ~ (not), as in Django:
//     Book::objects.filter(orm::Q("price__lt", 10) | ~orm::Q("title__startswith", "F"))
// A leaf is "field[__lookup]" and an Operand; typed expressions (orm::col) build the same leaves.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "orm/expressions.hpp"

namespace orm {

class ModelInfo;

namespace detail {

struct QNode {
    enum class Kind : std::uint8_t { leaf, and_, or_, not_ };
    Kind kind = Kind::leaf;
    std::string path;               // leaf: "price__lt"; empty: rhs is a boolean expression
    Operand rhs{Value()};           // leaf
    const ModelInfo* model = nullptr;  // leaf built by orm::col(): the model it belongs to
    std::vector<std::shared_ptr<const QNode>> children;
    std::uint16_t depth = 1;  // levels of nesting, this node included (orm::max_expression_depth)
};
using QPtr = std::shared_ptr<const QNode>;

}  // namespace detail

class Q {
public:
    // The empty condition (matches every row; neutral for & and |).
    Q() = default;
    Q(std::string lookup, Operand rhs);
    // A boolean expression as a condition: filter(orm::Exists(...)), ~orm::Q(orm::Exists(...)).
    Q(const Expr& condition);
    explicit Q(detail::QPtr node) : node_(std::move(node)) {}

    bool empty() const noexcept { return !node_; }
    const detail::QPtr& node() const noexcept { return node_; }

    friend Q operator&(const Q& a, const Q& b);
    friend Q operator|(const Q& a, const Q& b);
    friend Q operator~(const Q& a);
    Q& operator&=(const Q& b) { return *this = *this & b; }
    Q& operator|=(const Q& b) { return *this = *this | b; }

private:
    detail::QPtr node_;
};

namespace detail {

// filter(a, b, ...) with several conditions in one call: Q objects and boolean expressions, or
// "lookup", value pairs, joined with AND (one call: the same related row, as in Django).
inline void and_terms(Q&) {}
template <class... R>
void and_terms(Q& acc, const Q& q, const R&... rest);
template <class S, class V, class... R>
    requires std::is_convertible_v<const S&, std::string_view>
void and_terms(Q& acc, const S& lookup, const V& v, const R&... rest);

template <class... R>
void and_terms(Q& acc, const Q& q, const R&... rest) {
    acc &= q;
    and_terms(acc, rest...);
}
template <class S, class V, class... R>
    requires std::is_convertible_v<const S&, std::string_view>
void and_terms(Q& acc, const S& lookup, const V& v, const R&... rest) {
    acc &= Q(std::string(std::string_view(lookup)), Operand(v));
    and_terms(acc, rest...);
}
template <class... A>
Q all_terms(const A&... args) {
    Q acc;
    and_terms(acc, args...);
    return acc;
}

}  // namespace detail

// Several terms in one filter()/exclude() call: not two plain ("lookup", value) arguments,
// which the two-argument overloads take.
template <class A, class B, class... R>
concept FilterTerms = sizeof...(R) > 0 || !std::is_convertible_v<const A&, std::string_view>;

}  // namespace orm
