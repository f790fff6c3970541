// PgIntrospection: pg_catalog queries with bound parameters.
#include "drivers/postgres/pg_introspection.hpp"

#include <algorithm>

#include "drivers/connection.hpp"

namespace orm::db::postgres {

std::string normalize_pg_type(std::string_view t) {
    static const std::pair<std::string_view, std::string_view> renames[] = {
        {"character varying", "varchar"},
        {"timestamp with time zone", "timestamptz"},
        {"timestamp without time zone", "timestamp"},
        {"time with time zone", "timetz"},
        {"time without time zone", "time"},
        {"character", "char"},
    };
    for (auto [from, to] : renames)
        if (t.starts_with(from)) {
            std::string_view rest = t.substr(from.size());
            if (rest.empty() || rest.front() == '(' || rest.front() == '[') return std::string(to) + std::string(rest);
        }
    return std::string(t);
}

std::vector<std::string> PgIntrospection::table_names(Connection& conn) const {
    auto r = conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' "
        "AND (n.nspname NOT LIKE 'pg\\_%' OR n.nspname LIKE 'pg\\_temp\\_%') "
        "AND pg_catalog.pg_table_is_visible(c.oid)");
    std::vector<std::string> out;
    while (r.next()) out.push_back(r.row().get<std::string>(0));
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<ColumnInfo> PgIntrospection::columns(Connection& conn, std::string_view table) const {
    auto r = conn.execute(
        "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
        "EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary "
        "AND a.attnum = ANY (i.indkey::int2[])), "
        "pg_catalog.pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_catalog.pg_attribute a "
        "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = pg_catalog.to_regclass(pg_catalog.quote_ident($1)) "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        {Value(table)});
    std::vector<ColumnInfo> out;
    while (r.next()) {
        auto row = r.row();
        ColumnInfo c;
        c.name = row.get<std::string>(0);
        c.type = normalize_pg_type(row.get<std::string_view>(1));
        c.nullable = row.get<bool>(2);
        c.primary_key = row.get<bool>(3);
        c.default_sql = row.get<std::optional<std::string>>(4);
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<IndexInfo> PgIntrospection::indexes(Connection& conn, std::string_view table) const {
    // One row per (index, key column), in key order; expression keys have no column name.
    auto r = conn.execute(
        "SELECT ic.relname, i.indisunique, i.indisprimary, a.attname "
        "FROM pg_catalog.pg_index i "
        "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
        "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = pg_catalog.to_regclass(pg_catalog.quote_ident($1)) "
        "ORDER BY ic.relname, k.ord",
        {Value(table)});
    std::vector<IndexInfo> out;
    while (r.next()) {
        auto row = r.row();
        auto name = row.get<std::string_view>(0);
        if (out.empty() || out.back().name != name) {
            IndexInfo ix;
            ix.name = std::string(name);
            ix.unique = row.get<bool>(1);
            ix.primary = row.get<bool>(2);
            out.push_back(std::move(ix));
        }
        out.back().columns.push_back(row.is_null(3) ? std::string("<expression>") : row.get<std::string>(3));
    }
    std::sort(out.begin(), out.end(), [](const IndexInfo& a, const IndexInfo& b) { return a.name < b.name; });
    return out;
}

std::vector<ForeignKeyInfo> PgIntrospection::foreign_keys(Connection& conn, std::string_view table) const {
    auto r = conn.execute(
        "SELECT a.attname, rc.relname, ra.attname, "
        "CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'r' THEN 'RESTRICT' "
        "WHEN 'd' THEN 'SET DEFAULT' ELSE 'NO ACTION' END "
        "FROM pg_catalog.pg_constraint c "
        "JOIN pg_catalog.pg_class rc ON rc.oid = c.confrelid "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "JOIN pg_catalog.pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] "
        "WHERE c.contype = 'f' AND c.conrelid = pg_catalog.to_regclass(pg_catalog.quote_ident($1)) "
        "ORDER BY a.attname, c.conname",
        {Value(table)});
    std::vector<ForeignKeyInfo> out;
    while (r.next()) {
        auto row = r.row();
        out.push_back({row.get<std::string>(0), row.get<std::string>(1), row.get<std::string>(2), row.get<std::string>(3)});
    }
    return out;
}

}  // namespace orm::db::postgres
