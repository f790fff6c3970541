// Q: a filter condition, combinable with & (and), | (or) and ~ (not), as in Django:
//     Book::objects.filter(orm::Q("price__lt", 10) | ~orm::Q("title__startswith", "F"))
// A leaf is "field[__lookup]" and an Operand; typed expressions (orm::col) build the same leaves.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "orm/expressions.hpp"

namespace orm {

class ModelInfo;

namespace detail {

struct QNode {
    enum class Kind : std::uint8_t { leaf, and_, or_, not_ };
    Kind kind = Kind::leaf;
    std::string path;               // leaf: "price__lt"
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

}  // namespace orm
