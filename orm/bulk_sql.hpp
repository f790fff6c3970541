// The SQL text of bulk writes (orm/bulk.cpp), separate so the unit tests can check it per dialect.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "drivers/dialect.hpp"
#include "orm/model_info.hpp"

namespace orm::detail {

// INSERT INTO t (cols) VALUES (...), ... for n rows, then `conflict` (Dialect::on_conflict_sql,
// or empty), then RETURNING pk when `returning`.
std::string bulk_insert_sql(const db::Dialect& d, const ModelInfo& m, std::span<const FieldInfo* const> cols,
                            std::size_t rows, std::string_view conflict, bool returning);
// bulk_update of n objects: UPDATE t SET f = CASE WHEN pk = ? THEN ? ... ELSE f END, ...
// WHERE pk IN (?, ...). Parameters: per field, (key, value) per object; then the keys.
std::string bulk_update_sql(const db::Dialect& d, const ModelInfo& m, std::span<const FieldInfo* const> fields,
                            std::size_t n);

// bulk_update of one object, where statements cost no round trip (Features::is_embedded):
// UPDATE t SET f = ?, ... WHERE pk = ?. Parameters: the values, then the key.
std::string bulk_update_row_sql(const db::Dialect& d, const ModelInfo& m, std::span<const FieldInfo* const> fields);

}  // namespace orm::detail
