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

    // ALTER TABLE ADD COLUMN where SQLite allows it (a nullable or defaulted column, not unique,
    // no reference with a default); the rest, and every drop and alter, rebuild the table.
    std::vector<std::string> add_column_sql(const TableSpec& before, const TableSpec& after, std::string_view column,
                                            const std::optional<Value>& fill) const override;
    std::vector<std::string> drop_column_sql(const TableSpec& before, const TableSpec& after,
                                             std::string_view column) const override;
    std::vector<std::string> alter_column_sql(const TableSpec& before, const TableSpec& after, std::string_view column,
                                              const std::optional<Value>& fill) const override;
    // SQLite's procedure for the changes ALTER TABLE cannot make: CREATE TABLE "new__t" as
    // `after`, copy the rows (column c from `sources` when it names an expression over the old
    // table, else from the old column of the same name, else its default), DROP TABLE t, rename
    // new__t to t, create `after`'s indexes. The caller runs it in a transaction with foreign
    // key enforcement off (PRAGMA foreign_keys cannot change inside one) and checks the keys
    // afterwards (PRAGMA foreign_key_check).
    std::vector<std::string> rebuild_table_sql(const TableSpec& before, const TableSpec& after,
                                               const std::vector<std::pair<std::string, std::string>>& sources) const;

protected:
    // Declared types chosen so SQLite's type affinity keeps values as bound, and so the cursor
    // can tell booleans, timestamps and dates apart when reading them back as Values.
    std::string column_type_sql(const ColumnSpec& c) const override;
    // "integer NOT NULL PRIMARY KEY AUTOINCREMENT": exactly INTEGER makes the column the rowid
    // alias; AUTOINCREMENT keeps the keys of deleted rows from being handed out again.
    std::string auto_primary_key_sql(const ColumnSpec& c) const override;
};

}  // namespace orm::db::sqlite
