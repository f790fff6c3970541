// SqliteSchemaEditor (see sqlite_schema.hpp).
#include "drivers/sqlite/sqlite_schema.hpp"

#include <fmt/format.h>

#include "drivers/dialect.hpp"

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

std::vector<std::string> SqliteSchemaEditor::add_column_sql(const TableSpec& before, const TableSpec& after,
                                                            std::string_view column,
                                                            const std::optional<Value>& fill) const {
    const ColumnSpec& c = column_of(after, column);
    // What ALTER TABLE ADD COLUMN accepts: no PRIMARY KEY or UNIQUE, NOT NULL only with a
    // default, a REFERENCES clause only with a NULL default.
    const bool in_place = !fill && !c.primary_key && !c.unique && (c.nullable || c.default_value) &&
                          !(c.references && c.default_value && !c.default_value->is_null());
    if (in_place) {
        return {fmt::format("ALTER TABLE {} ADD COLUMN {}", dialect_.quote_name(before.name), column_sql(c))};
    }
    std::vector<std::pair<std::string, std::string>> sources;
    if (fill) sources.emplace_back(c.name, dialect_.literal(*fill));
    return rebuild_table_sql(before, after, sources);
}

std::vector<std::string> SqliteSchemaEditor::drop_column_sql(const TableSpec& before, const TableSpec& after,
                                                             std::string_view column) const {
    (void)column_of(before, column);
    return rebuild_table_sql(before, after, {});
}

std::vector<std::string> SqliteSchemaEditor::alter_column_sql(const TableSpec& before, const TableSpec& after,
                                                              std::string_view column,
                                                              const std::optional<Value>& fill) const {
    (void)column_of(before, column);
    const ColumnSpec& c = column_of(after, column);
    std::vector<std::pair<std::string, std::string>> sources;
    if (fill) {
        sources.emplace_back(c.name, fmt::format("coalesce({}, {})", dialect_.quote_name(c.name), dialect_.literal(*fill)));
    }
    return rebuild_table_sql(before, after, sources);
}

std::vector<std::string> SqliteSchemaEditor::rebuild_table_sql(
    const TableSpec& before, const TableSpec& after, const std::vector<std::pair<std::string, std::string>>& sources) const {
    const std::string temp_name = "new__" + after.name;
    TableSpec temp = after;
    temp.name = temp_name;
    temp.indexes.clear();
    std::vector<std::string> out = create_table_sql(temp, false);
    std::string columns, values;
    for (const auto& c : after.columns) {
        std::string source;
        for (const auto& [name, expr] : sources)
            if (name == c.name) source = expr;
        if (source.empty()) {
            for (const auto& old : before.columns)
                if (old.name == c.name) source = dialect_.quote_name(c.name);
        }
        if (source.empty()) continue;  // a new column: its default
        if (!columns.empty()) {
            columns += ", ";
            values += ", ";
        }
        columns += dialect_.quote_name(c.name);
        values += source;
    }
    const std::string quoted_temp = dialect_.quote_name(temp_name);
    if (!columns.empty()) {
        out.push_back(fmt::format("INSERT INTO {} ({}) SELECT {} FROM {}", quoted_temp, columns, values,
                                  dialect_.quote_name(before.name)));
    }
    bool autoincrement = false;
    for (const auto& c : after.columns) autoincrement = autoincrement || (c.primary_key && c.auto_increment);
    if (autoincrement) {
        // Keys of rows deleted before the rebuild stay used (AUTOINCREMENT's promise).
        out.push_back(fmt::format("DELETE FROM sqlite_sequence WHERE name = {}", dialect_.literal(Value(temp_name))));
        out.push_back(fmt::format("INSERT INTO sqlite_sequence (name, seq) SELECT {}, seq FROM sqlite_sequence WHERE name = {}",
                                  dialect_.literal(Value(temp_name)), dialect_.literal(Value(before.name))));
    }
    out.push_back(drop_table_sql(before.name, false));
    out.push_back(fmt::format("ALTER TABLE {} RENAME TO {}", quoted_temp, dialect_.quote_name(after.name)));
    for (const auto& ix : after.indexes) out.push_back(create_index_sql(after, ix, false));
    return out;
}

}  // namespace orm::db::sqlite
