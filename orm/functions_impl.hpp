// Internal to orm/: the type rules of database functions and transforms, shared by the query
// (resolution, "published__year" paths) and functions.cpp (the node builders).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "drivers/schema.hpp"
#include "orm/expressions.hpp"

namespace orm::detail {

// lhs with the transform `name` ("year", "lower", ...) applied, or null when `name` is no
// transform of lhs's type.
ExprPtr apply_transform(const ExprPtr& lhs, std::string_view name);
// The transforms an expression of this type takes, comma-separated ("" when none).
std::string transform_names(std::optional<db::ColumnType> t);
// Checks a resolved func / case_ node's operand types (FieldError naming what was expected).
void check_function(const ExprNode& n);
// The type a resolved func / case_ node yields, when known.
std::optional<db::ColumnType> function_output_type(const ExprNode& n) noexcept;
// A function's name as Django spells it ("Lower", "ExtractYear"), for messages.
std::string function_name(const ExprNode& n);

// Querysets nest in one another (as __in values, Subquery, Exists, union parts) at most this many
// levels: every walk over a query (resolving, binding OuterRefs, compiling) recurses once per
// level, and each level may hold max_expression_depth levels of conditions of its own.
inline constexpr std::size_t max_query_nesting = 32;
// Refuses (FieldError naming `what`, the depth and the limit) to nest `sub` one level deeper when
// that would pass max_query_nesting. The walk that measures it is iterative.
void check_query_nesting(const Query& sub, std::string_view what);
// Lookup paths ("a__b__c") have at most this many parts (a FieldError names the count).
inline constexpr std::size_t max_path_parts = 256;

}  // namespace orm::detail
