// SqliteIntrospection (see sqlite_introspection.hpp). Runs through the Connection interface, so it
// works the same in sync and async mode.
#include "drivers/sqlite/sqlite_introspection.hpp"

#include <algorithm>
#include <cctype>

#include "drivers/connection.hpp"

namespace orm::db::sqlite {

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

std::vector<std::string> SqliteIntrospection::table_names(Connection& conn) const {
    std::vector<std::string> out;
    Result r = conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "ORDER BY name");
    while (r.next()) out.push_back(r.row().get<std::string>(0));
    return out;
}

std::vector<ColumnInfo> SqliteIntrospection::columns(Connection& conn, std::string_view table) const {
    std::vector<ColumnInfo> out;
    Result r = conn.execute("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid",
                            {Value(table)});
    while (r.next()) {
        auto row = r.row();
        ColumnInfo c;
        c.name = row.get<std::string>(0);
        c.type = lower(row.get<std::string>(1));
        c.primary_key = row.get<std::int64_t>(4) > 0;
        // A primary key never holds NULL in practice (the rowid cannot; others are declared NOT NULL
        // by our schema editor), even where SQLite's table_info does not say "notnull".
        c.nullable = row.get<std::int64_t>(2) == 0 && !c.primary_key;
        c.default_sql = row.get<std::optional<std::string>>(3);
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<IndexInfo> SqliteIntrospection::indexes(Connection& conn, std::string_view table) const {
    std::vector<IndexInfo> out;
    {
        Result r = conn.execute("SELECT name, \"unique\", origin FROM pragma_index_list(?)", {Value(table)});
        while (r.next()) {
            auto row = r.row();
            IndexInfo ix;
            ix.name = row.get<std::string>(0);
            ix.unique = row.get<std::int64_t>(1) != 0;
            ix.primary = row.get<std::string>(2) == "pk";
            out.push_back(std::move(ix));
        }
    }
    for (auto& ix : out) {
        Result r = conn.execute("SELECT name FROM pragma_index_info(?) ORDER BY seqno", {Value(ix.name)});
        while (r.next()) ix.columns.push_back(r.row().get<std::optional<std::string>>(0).value_or("(expression)"));
    }
    bool has_primary = std::any_of(out.begin(), out.end(), [](const IndexInfo& ix) { return ix.primary; });
    if (!has_primary) {
        // An INTEGER PRIMARY KEY is the rowid itself: table_info marks it, index_list does not.
        IndexInfo pk;
        pk.unique = pk.primary = true;
        Result r = conn.execute("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", {Value(table)});
        while (r.next()) pk.columns.push_back(r.row().get<std::string>(0));
        if (!pk.columns.empty()) out.push_back(std::move(pk));
    }
    std::sort(out.begin(), out.end(), [](const IndexInfo& a, const IndexInfo& b) {
        if (a.primary != b.primary) return a.primary;
        return a.name < b.name;
    });
    return out;
}

std::vector<ForeignKeyInfo> SqliteIntrospection::foreign_keys(Connection& conn, std::string_view table) const {
    Result r = conn.execute("SELECT \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
                            {Value(table)});
    std::vector<ForeignKeyInfo> out;
    while (r.next()) {
        auto row = r.row();
        ForeignKeyInfo fk;
        fk.column = row.get<std::string>(0);
        fk.referenced_table = row.get<std::string>(1);
        // NULL "to": the referenced table's primary key.
        fk.referenced_column = row.get<std::optional<std::string>>(2).value_or(std::string());
        fk.on_delete = row.get<std::string>(3);
        out.push_back(std::move(fk));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const ForeignKeyInfo& a, const ForeignKeyInfo& b) { return a.column < b.column; });
    return out;
}

}  // namespace orm::db::sqlite
