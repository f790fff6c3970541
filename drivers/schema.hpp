// SchemaEditor: creates and drops tables and indexes from a backend-neutral TableSpec.
// The base class writes the DDL; backends supply column types and their own spellings.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "drivers/value.hpp"

namespace orm::db {

class Connection;
class Dialect;

enum class ColumnType { boolean, int32, int64, float64, varchar, text, bytes, timestamp, date };
std::string_view to_string(ColumnType t) noexcept;

// What the database does when a referenced row is deleted.
enum class ReferentialAction { no_action, cascade, set_null, restrict };

struct ForeignKeySpec {
    std::string table;
    std::string column = "id";
    ReferentialAction on_delete = ReferentialAction::no_action;
};

struct ColumnSpec {
    std::string name;
    ColumnType type = ColumnType::int64;
    std::size_t max_length = 0;      // varchar only
    bool nullable = false;
    bool primary_key = false;
    bool auto_increment = false;     // integer primary keys assigned by the database
    bool unique = false;
    std::optional<Value> default_value;
    std::optional<ForeignKeySpec> references;
};

struct IndexSpec {
    std::string name;                // generated from table and columns when empty
    std::vector<std::string> columns;
    bool unique = false;
};

struct TableSpec {
    std::string name;
    std::vector<ColumnSpec> columns;
    std::vector<IndexSpec> indexes;
};

class SchemaEditor {
public:
    explicit SchemaEditor(const Dialect& d) : dialect_(d) {}
    virtual ~SchemaEditor() = default;

    // Statements that create the table and its indexes (in order).
    virtual std::vector<std::string> create_table_sql(const TableSpec& t, bool if_not_exists) const;
    virtual std::string drop_table_sql(std::string_view table, bool if_exists) const;
    // Statements that drop these tables, which may refer to each other in any way (cycles
    // included), but which no other table refers to. The default drops them one by one in the
    // order given, for databases that check references at commit or not at all while dropping.
    virtual std::vector<std::string> drop_tables_sql(std::span<const std::string> tables, bool if_exists) const;
    virtual std::string create_index_sql(const TableSpec& t, const IndexSpec& ix, bool if_not_exists) const;
    virtual std::string drop_index_sql(std::string_view index_name, bool if_exists) const;

    // Run the statements above on `conn`.
    void create_table(Connection& conn, const TableSpec& t, bool if_not_exists = false) const;
    void drop_table(Connection& conn, std::string_view table, bool if_exists = false) const;
    void create_index(Connection& conn, const TableSpec& t, const IndexSpec& ix, bool if_not_exists = false) const;
    void drop_index(Connection& conn, std::string_view index_name, bool if_exists = false) const;

    // Schema changes (migrations). `before` and `after` are the whole table around the change,
    // index names filled in; each returns the statements in order. The defaults are ALTER TABLE
    // in place (PostgreSQL); SQLite rebuilds the table where ALTER TABLE cannot (sqlite_schema).
    // `fill`, when given, is the value existing rows take (a one-off default: the column keeps
    // `after`'s own default, or none); for an altered column it replaces NULLs.
    virtual std::vector<std::string> add_column_sql(const TableSpec& before, const TableSpec& after,
                                                    std::string_view column, const std::optional<Value>& fill) const;
    virtual std::vector<std::string> drop_column_sql(const TableSpec& before, const TableSpec& after,
                                                     std::string_view column) const;
    virtual std::vector<std::string> alter_column_sql(const TableSpec& before, const TableSpec& after,
                                                      std::string_view column, const std::optional<Value>& fill) const;
    virtual std::vector<std::string> rename_column_sql(const TableSpec& before, std::string_view from,
                                                       std::string_view to) const;
    virtual std::vector<std::string> rename_table_sql(std::string_view from, std::string_view to) const;
    // One column's definition as CREATE TABLE writes it (name, type, constraints).
    std::string column_definition_sql(const ColumnSpec& c) const { return column_sql(c); }
    // The column `name` of t; throws orm::InterfaceError naming both when there is none.
    static const ColumnSpec& column_of(const TableSpec& t, std::string_view name);

    // The index name used when IndexSpec::name is empty: <table>_<col>[_<col>..]_idx/_uniq,
    // shortened with a hash suffix past 63 bytes (PostgreSQL's identifier limit).
    static std::string default_index_name(const TableSpec& t, const IndexSpec& ix);

protected:
    // The column's type as the backend spells it (without NULL / DEFAULT / constraints).
    virtual std::string column_type_sql(const ColumnSpec& c) const = 0;
    // The whole definition of an auto-increment integer primary key column, after its name.
    virtual std::string auto_primary_key_sql(const ColumnSpec& c) const = 0;
    virtual std::string column_sql(const ColumnSpec& c) const;
    virtual std::string referential_action_sql(ReferentialAction a) const;
    const Dialect& dialect_;
};

}  // namespace orm::db
