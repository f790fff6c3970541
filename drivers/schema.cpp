// Backend-neutral DDL: CREATE TABLE with constraints, indexes, DROP. Backends supply types.
#include "drivers/schema.hpp"

#include "drivers/column_zero.hpp"

#include <fmt/format.h>

#include "drivers/connection.hpp"
#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"

namespace orm::db {

std::string_view to_string(ColumnType t) noexcept {
    switch (t) {
        case ColumnType::boolean: return "boolean";
        case ColumnType::int32: return "int32";
        case ColumnType::int64: return "int64";
        case ColumnType::float64: return "float64";
        case ColumnType::varchar: return "varchar";
        case ColumnType::text: return "text";
        case ColumnType::bytes: return "bytes";
        case ColumnType::timestamp: return "timestamp";
        case ColumnType::date: return "date";
    }
    return "unknown";
}

Value zero_value(ColumnType t) {
    switch (t) {
        case ColumnType::boolean: return Value(false);
        case ColumnType::int32: return Value(std::int32_t{0});
        case ColumnType::int64: return Value(std::int64_t{0});
        case ColumnType::float64: return Value(0.0);
        case ColumnType::varchar:
        case ColumnType::text: return Value(std::string());
        case ColumnType::bytes: return Value(Bytes{});
        case ColumnType::timestamp: return Value(Timestamp{});
        case ColumnType::date: return Value(Date{});
    }
    return Value(std::int64_t{0});
}

std::string SchemaEditor::referential_action_sql(ReferentialAction a) const {
    switch (a) {
        case ReferentialAction::no_action: return "NO ACTION";
        case ReferentialAction::cascade: return "CASCADE";
        case ReferentialAction::set_null: return "SET NULL";
        case ReferentialAction::restrict: return "RESTRICT";
    }
    return "NO ACTION";
}

std::string SchemaEditor::column_sql(const ColumnSpec& c) const {
    std::string out = dialect_.quote_name(c.name);
    if (c.primary_key && c.auto_increment) return out + " " + auto_primary_key_sql(c);
    if (c.type == ColumnType::varchar && c.max_length == 0)
        throw InterfaceError(fmt::format("column '{}': a varchar column needs max_length > 0", c.name));
    out += " " + column_type_sql(c);
    if (c.primary_key) out += " PRIMARY KEY";
    else if (!c.nullable) out += " NOT NULL";
    if (c.unique && !c.primary_key) out += " UNIQUE";
    if (c.default_value) out += " DEFAULT " + dialect_.literal(*c.default_value);
    if (c.references) {
        out += fmt::format(" REFERENCES {} ({}) ON DELETE {}", dialect_.quote_name(c.references->table),
                           dialect_.quote_name(c.references->column), referential_action_sql(c.references->on_delete));
    }
    return out;
}

std::vector<std::string> SchemaEditor::create_table_sql(const TableSpec& t, bool if_not_exists) const {
    if (t.columns.empty()) throw InterfaceError(fmt::format("table '{}' has no columns", t.name));
    std::string sql = fmt::format("CREATE TABLE {}{} (", if_not_exists ? "IF NOT EXISTS " : "", dialect_.quote_name(t.name));
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
        if (i) sql += ", ";
        sql += column_sql(t.columns[i]);
    }
    sql += ")";
    std::vector<std::string> out{std::move(sql)};
    for (const auto& ix : t.indexes) out.push_back(create_index_sql(t, ix, if_not_exists));
    return out;
}

std::string SchemaEditor::drop_table_sql(std::string_view table, bool if_exists) const {
    return fmt::format("DROP TABLE {}{}", if_exists ? "IF EXISTS " : "", dialect_.quote_name(table));
}

std::vector<std::string> SchemaEditor::drop_tables_sql(std::span<const std::string> tables, bool if_exists) const {
    std::vector<std::string> out;
    for (const auto& t : tables) out.push_back(drop_table_sql(t, if_exists));
    return out;
}

std::string SchemaEditor::default_index_name(const TableSpec& t, const IndexSpec& ix) {
    std::string name = t.name;
    for (const auto& c : ix.columns) name += "_" + c;
    name += ix.unique ? "_uniq" : "_idx";
    constexpr std::size_t max_len = 63;
    if (name.size() <= max_len) return name;
    // FNV-1a keeps long names distinct after shortening.
    std::uint32_t h = 2166136261u;
    for (unsigned char ch : name) h = (h ^ ch) * 16777619u;
    return fmt::format("{}_{:08x}", name.substr(0, max_len - 9), h);
}

std::string SchemaEditor::create_index_sql(const TableSpec& t, const IndexSpec& ix, bool if_not_exists) const {
    if (ix.columns.empty()) throw InterfaceError(fmt::format("index on table '{}' has no columns", t.name));
    std::string cols;
    for (std::size_t i = 0; i < ix.columns.size(); ++i) {
        if (i) cols += ", ";
        cols += dialect_.quote_name(ix.columns[i]);
    }
    std::string name = ix.name.empty() ? default_index_name(t, ix) : ix.name;
    return fmt::format("CREATE {}INDEX {}{} ON {} ({})", ix.unique ? "UNIQUE " : "", if_not_exists ? "IF NOT EXISTS " : "",
                       dialect_.quote_name(name), dialect_.quote_name(t.name), cols);
}

std::string SchemaEditor::drop_index_sql(std::string_view index_name, bool if_exists) const {
    return fmt::format("DROP INDEX {}{}", if_exists ? "IF EXISTS " : "", dialect_.quote_name(index_name));
}

namespace {

const ColumnSpec& column_in(const TableSpec& t, std::string_view name) {
    for (const auto& c : t.columns)
        if (c.name == name) return c;
    throw InterfaceError(fmt::format("table '{}' has no column '{}'", t.name, name));
}

}  // namespace

const ColumnSpec& SchemaEditor::column_of(const TableSpec& t, std::string_view name) { return column_in(t, name); }

std::vector<std::string> SchemaEditor::add_column_sql(const TableSpec& before, const TableSpec& after,
                                                      std::string_view column, const std::optional<Value>& fill) const {
    const ColumnSpec& c = column_in(after, column);
    ColumnSpec added = c;
    if (fill) added.default_value = fill;  // existing rows take it; the column's own default follows
    const std::string table = dialect_.quote_name(before.name);
    std::vector<std::string> out{fmt::format("ALTER TABLE {} ADD COLUMN {}", table, column_sql(added))};
    if (fill) {
        out.push_back(c.default_value ? fmt::format("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", table,
                                                    dialect_.quote_name(c.name), dialect_.literal(*c.default_value))
                                      : fmt::format("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT", table,
                                                    dialect_.quote_name(c.name)));
    }
    return out;
}

std::vector<std::string> SchemaEditor::drop_column_sql(const TableSpec& before, const TableSpec&,
                                                       std::string_view column) const {
    (void)column_in(before, column);
    return {fmt::format("ALTER TABLE {} DROP COLUMN {}", dialect_.quote_name(before.name), dialect_.quote_name(column))};
}

std::vector<std::string> SchemaEditor::alter_column_sql(const TableSpec& before, const TableSpec&, std::string_view column,
                                                        const std::optional<Value>&) const {
    throw InterfaceError(fmt::format("altering column '{}' of table '{}': the {} backend cannot alter columns",
                                     column, before.name, dialect_.name()));
}

std::vector<std::string> SchemaEditor::rename_column_sql(const TableSpec& before, std::string_view from,
                                                         std::string_view to) const {
    (void)column_in(before, from);
    return {fmt::format("ALTER TABLE {} RENAME COLUMN {} TO {}", dialect_.quote_name(before.name),
                        dialect_.quote_name(from), dialect_.quote_name(to))};
}

std::vector<std::string> SchemaEditor::rename_table_sql(std::string_view from, std::string_view to) const {
    return {fmt::format("ALTER TABLE {} RENAME TO {}", dialect_.quote_name(from), dialect_.quote_name(to))};
}

void SchemaEditor::create_table(Connection& conn, const TableSpec& t, bool if_not_exists) const {
    for (const auto& sql : create_table_sql(t, if_not_exists)) conn.execute_script(sql);
}

void SchemaEditor::drop_table(Connection& conn, std::string_view table, bool if_exists) const {
    conn.execute_script(drop_table_sql(table, if_exists));
}

void SchemaEditor::create_index(Connection& conn, const TableSpec& t, const IndexSpec& ix, bool if_not_exists) const {
    conn.execute_script(create_index_sql(t, ix, if_not_exists));
}

void SchemaEditor::drop_index(Connection& conn, std::string_view index_name, bool if_exists) const {
    conn.execute_script(drop_index_sql(index_name, if_exists));
}

}  // namespace orm::db
