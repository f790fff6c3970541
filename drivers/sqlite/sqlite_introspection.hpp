// SqliteIntrospection: tables, columns and indexes read from sqlite_schema and the
// table-valued PRAGMA functions (pragma_table_info, pragma_index_list, pragma_index_info).
#pragma once

#include "drivers/introspection.hpp"

namespace orm::db::sqlite {

class SqliteIntrospection final : public Introspection {
public:
    std::vector<std::string> table_names(Connection& conn) const override;
    std::vector<ColumnInfo> columns(Connection& conn, std::string_view table) const override;
    // Includes the primary key: as SQLite's own "sqlite_autoindex_..." index, or, for an INTEGER
    // PRIMARY KEY (the rowid, which has no separate index), as an entry with an empty name.
    std::vector<IndexInfo> indexes(Connection& conn, std::string_view table) const override;
    std::vector<ForeignKeyInfo> foreign_keys(Connection& conn, std::string_view table) const override;
};

}  // namespace orm::db::sqlite
