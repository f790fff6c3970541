// The zero value of a column type (false, 0, 0.0, "", empty bytes, the epoch): a sample of the
// type's kind, and what rows take where a column comes back without its values.
#pragma once

#include "drivers/schema.hpp"

namespace orm::db {

Value zero_value(ColumnType t);

}  // namespace orm::db
