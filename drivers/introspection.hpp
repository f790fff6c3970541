// Introspection: reads back what tables, columns, indexes and foreign keys a database holds.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orm::db {

class Connection;

struct ColumnInfo {
    std::string name;
    std::string type;                    // as the database reports it, lower case (e.g. "bigint", "varchar(20)")
    bool nullable = true;
    bool primary_key = false;
    std::optional<std::string> default_sql;
};

struct IndexInfo {
    std::string name;
    std::vector<std::string> columns;
    bool unique = false;
    bool primary = false;
};

// One foreign key constraint (single-column, as the schema editor makes them).
struct ForeignKeyInfo {
    std::string column;             // in this table
    std::string referenced_table;
    std::string referenced_column;  // empty: the constraint names none (SQLite: the primary key)
    std::string on_delete;          // "CASCADE", "SET NULL", "RESTRICT", "NO ACTION" or "SET DEFAULT"
};

class Introspection {
public:
    virtual ~Introspection() = default;
    // User tables (no system tables), sorted by name.
    virtual std::vector<std::string> table_names(Connection& conn) const = 0;
    // Columns in declaration order; empty when the table does not exist.
    virtual std::vector<ColumnInfo> columns(Connection& conn, std::string_view table) const = 0;
    virtual std::vector<IndexInfo> indexes(Connection& conn, std::string_view table) const = 0;
    // Foreign key constraints of the table, sorted by column (one entry per constraint, so a
    // column constrained twice shows twice); empty when the table does not exist.
    virtual std::vector<ForeignKeyInfo> foreign_keys(Connection& conn, std::string_view table) const = 0;
    bool table_exists(Connection& conn, std::string_view table) const;
};

}  // namespace orm::db
