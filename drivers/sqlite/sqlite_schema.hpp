// SqliteSchemaEditor: SQLite's column types and auto-increment primary key.
#pragma once

#include "drivers/schema.hpp"

namespace orm::db::sqlite {

class SqliteSchemaEditor final : public SchemaEditor {
public:
    using SchemaEditor::SchemaEditor;
    // With foreign keys on, DROP TABLE deletes the table's rows first, which rows of a table
    // dropped later (a cycle) may still refer to: the checks are deferred (PRAGMA
    // defer_foreign_keys) while they are dropped, and immediate again after the last one.
    std::vector<std::string> drop_tables_sql(std::span<const std::string> tables, bool if_exists) const override;

protected:
    // Declared types chosen so SQLite's type affinity keeps values as bound, and so the cursor
    // can tell booleans, timestamps and dates apart when reading them back as Values.
    std::string column_type_sql(const ColumnSpec& c) const override;
    // "integer NOT NULL PRIMARY KEY AUTOINCREMENT": exactly INTEGER makes the column the rowid
    // alias; AUTOINCREMENT keeps the keys of deleted rows from being handed out again.
    std::string auto_primary_key_sql(const ColumnSpec& c) const override;
};

}  // namespace orm::db::sqlite
