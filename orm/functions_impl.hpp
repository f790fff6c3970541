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

}  // namespace orm::detail
