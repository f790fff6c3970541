// SqliteSchemaEditor (see sqlite_schema.hpp).
#include "drivers/sqlite/sqlite_schema.hpp"

#include <fmt/format.h>

namespace orm::db::sqlite {

std::string SqliteSchemaEditor::column_type_sql(const ColumnSpec& c) const {
    switch (c.type) {
    case ColumnType::boolean: return "boolean";    // NUMERIC affinity; stored as 0/1
    case ColumnType::int32: return "integer";
    case ColumnType::int64: return "bigint";       // INTEGER affinity
    case ColumnType::float64: return "real";
    case ColumnType::varchar: return c.max_length ? fmt::format("varchar({})", c.max_length) : "varchar";
    case ColumnType::text: return "text";
    case ColumnType::bytes: return "blob";
    // NUMERIC affinity, but canonical timestamp/date text never looks like a number, so it stays text.
    case ColumnType::timestamp: return "timestamp";
    case ColumnType::date: return "date";
    }
    return "text";
}

std::string SqliteSchemaEditor::auto_primary_key_sql(const ColumnSpec&) const {
    return "integer NOT NULL PRIMARY KEY AUTOINCREMENT";
}

std::vector<std::string> SqliteSchemaEditor::drop_tables_sql(std::span<const std::string> tables, bool if_exists) const {
    if (tables.empty()) return {};
    std::vector<std::string> out{"PRAGMA defer_foreign_keys = ON"};
    for (const auto& t : tables) out.push_back(drop_table_sql(t, if_exists));
    out.push_back("PRAGMA defer_foreign_keys = OFF");  // back to immediate checks for the rest
    return out;
}

}  // namespace orm::db::sqlite
