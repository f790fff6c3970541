// PgIntrospection: tables, columns and indexes from pg_catalog, for relations visible on the
// search_path. Table names are bound parameters resolved with to_regclass(quote_ident($1)), so
// mixed-case and odd names work and nothing is spliced into SQL.
#pragma once

#include "drivers/introspection.hpp"

namespace orm::db::postgres {

class PgIntrospection final : public Introspection {
public:
    std::vector<std::string> table_names(Connection& conn) const override;
    // Types are reported as the schema editor writes them: "varchar(20)", "timestamptz", "bigint".
    std::vector<ColumnInfo> columns(Connection& conn, std::string_view table) const override;
    std::vector<IndexInfo> indexes(Connection& conn, std::string_view table) const override;
    std::vector<ForeignKeyInfo> foreign_keys(Connection& conn, std::string_view table) const override;
};

// format_type() spelling -> the short spelling ("character varying(20)" -> "varchar(20)").
std::string normalize_pg_type(std::string_view formatted);

}  // namespace orm::db::postgres
