// Conformance: the schema editor's DDL and introspection reading it back.
#include <algorithm>

#include "tests/conformance/harness.hpp"

using namespace orm;
using namespace orm::db;
using namespace weft::conformance;

namespace {
const ColumnInfo* find_column(const std::vector<ColumnInfo>& cols, std::string_view name) {
    for (const auto& c : cols)
        if (c.name == name) return &c;
    return nullptr;
}
}  // namespace

CONFORMANCE_TEST("schema: create_table, introspect columns and indexes, drop_table") {
    auto& c = ctx.conn();
    const auto& editor = c.backend().schema_editor();
    const auto& intro = c.backend().introspection();
    TableSpec spec{"authors",
                   {
                       {.name = "id", .type = ColumnType::int64, .primary_key = true, .auto_increment = true},
                       {.name = "name", .type = ColumnType::varchar, .max_length = 80},
                       {.name = "email", .type = ColumnType::varchar, .max_length = 120, .nullable = true, .unique = true},
                       {.name = "rating", .type = ColumnType::float64, .default_value = Value(2.5)},
                       {.name = "born", .type = ColumnType::date, .nullable = true},
                   },
                   {{.name = "", .columns = {"name"}, .unique = false}, {.name = "", .columns = {"name", "born"}, .unique = true}}};
    auto t = ctx.create_table(spec);
    CT_CHECK(intro.table_exists(c, t));
    auto names = intro.table_names(c);
    CT_CHECK(std::is_sorted(names.begin(), names.end()));
    auto cols = intro.columns(c, t);
    CT_REQUIRE(cols.size() == 5);
    CT_CHECK_EQ(cols[0].name, std::string("id"));
    CT_CHECK(cols[0].primary_key);
    CT_CHECK(!find_column(cols, "name")->nullable);
    CT_CHECK(find_column(cols, "email")->nullable);
    CT_CHECK(find_column(cols, "rating")->default_sql.has_value());
    auto ixs = intro.indexes(c, t);
    spec.name = t;
    auto has_index = [&](const std::vector<std::string>& columns, bool unique) {
        return std::any_of(ixs.begin(), ixs.end(), [&](const IndexInfo& ix) {
            return ix.columns == columns && ix.unique == unique && !ix.primary;
        });
    };
    CT_CHECK(has_index({"name"}, false));
    CT_CHECK(has_index({"name", "born"}, true));
    CT_CHECK(has_index({"email"}, true));
    // The default applies when the column is omitted.
    const auto& d = c.dialect();
    if (ctx.features().supports_returning) {
        CT_CHECK_EQ(c.execute("INSERT INTO " + d.quote_name(t) + " (name) VALUES (" + d.placeholder(1) +
                                  ") RETURNING rating",
                              {"ann"})
                        .scalar<double>(),
                    std::optional<double>(2.5));
    } else {
        c.execute("INSERT INTO " + d.quote_name(t) + " (name) VALUES (" + d.placeholder(1) + ")", {"ann"});
        CT_CHECK_EQ(c.execute("SELECT rating FROM " + d.quote_name(t)).scalar<double>(), std::optional<double>(2.5));
    }
    // The unique index is enforced.
    c.execute("INSERT INTO " + d.quote_name(t) + " (name, born) VALUES (" + d.placeholder(1) + ", " + d.placeholder(2) + ")",
              {"bob", Date(std::chrono::year(1970) / 1 / 1)});
    CT_CHECK_THROWS_AS(c.execute("INSERT INTO " + d.quote_name(t) + " (name, born) VALUES (" + d.placeholder(1) + ", " +
                                     d.placeholder(2) + ")",
                                 {"bob", Date(std::chrono::year(1970) / 1 / 1)}),
                       UniqueViolation);
    editor.drop_table(c, t);
    CT_CHECK(!intro.table_exists(c, t));
    CT_CHECK(intro.columns(c, t).empty());
}

CONFORMANCE_TEST("schema: create if missing is idempotent and drop if exists tolerates absence") {
    auto& c = ctx.conn();
    const auto& editor = c.backend().schema_editor();
    TableSpec spec{ctx.table("idem"), {{.name = "id", .type = ColumnType::int64, .primary_key = true, .auto_increment = true}},
                   {{.name = "", .columns = {"id"}, .unique = false}}};
    editor.create_table(c, spec, true);
    editor.create_table(c, spec, true);
    CT_CHECK_THROWS_AS(editor.create_table(c, spec, false), ProgrammingError);
    editor.drop_table(c, spec.name, true);
    editor.drop_table(c, spec.name, true);
    CT_CHECK_THROWS_AS(editor.drop_table(c, spec.name, false), ProgrammingError);
}

CONFORMANCE_TEST("schema: DDL inside a rolled-back transaction disappears where DDL is transactional") {
    CT_REQUIRE_FEATURE(supports_transactional_ddl);
    auto& c = ctx.conn();
    auto name = ctx.table("ddl_tx");
    c.begin();
    c.backend().schema_editor().create_table(c, TableSpec{name, {{.name = "n", .type = ColumnType::int32}}, {}});
    c.rollback();
    CT_CHECK(!c.backend().introspection().table_exists(c, name));
}
