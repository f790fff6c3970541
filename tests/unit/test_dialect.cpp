// Default dialect spellings and DDL generation as SQL text (no database).
#include <doctest/doctest.h>

#include "drivers/dialect.hpp"
#include "drivers/errors.hpp"
#include "drivers/schema.hpp"

using namespace orm;
using namespace orm::db;

namespace {
// The smallest dialect and schema editor: exercise the base classes' shared SQL.
struct PlainDialect : Dialect {
    std::string_view name() const override { return "plain"; }
    std::string placeholder(std::size_t i) const override { return "$" + std::to_string(i); }
};
struct PlainEditor : SchemaEditor {
    using SchemaEditor::SchemaEditor;
    std::string column_type_sql(const ColumnSpec& c) const override {
        return c.type == ColumnType::varchar ? "VARCHAR(" + std::to_string(c.max_length) + ")" : std::string(to_string(c.type));
    }
    std::string auto_primary_key_sql(const ColumnSpec&) const override { return "SERIAL PRIMARY KEY"; }
};
}  // namespace

TEST_CASE("identifiers are quoted with doubled quotes; NUL and empty names are refused") {
    PlainDialect d;
    CHECK(d.quote_name("books") == "\"books\"");
    CHECK(d.quote_name("a\"b") == "\"a\"\"b\"");
    CHECK(d.quote_name("x\"; DROP TABLE t; --") == "\"x\"\"; DROP TABLE t; --\"");
    CHECK_THROWS_AS(d.quote_name(""), InterfaceError);
    CHECK_THROWS_AS(d.quote_name(std::string("a\0b", 3)), InterfaceError);
}

TEST_CASE("limit and offset") {
    PlainDialect d;
    CHECK(d.limit_offset(std::nullopt, 0) == "");
    CHECK(d.limit_offset(10, 0) == " LIMIT 10");
    CHECK(d.limit_offset(10, 5) == " LIMIT 10 OFFSET 5");
}

TEST_CASE("literals for DDL defaults escape quotes") {
    PlainDialect d;
    CHECK(d.literal(Value("it's")) == "'it''s'");
    CHECK(d.literal(Value(3)) == "3");
    CHECK(d.literal(Value(true)) == "TRUE");
    CHECK(d.literal(Value()) == "NULL");
    CHECK(d.literal(Value(Bytes{0xab, 0x01})) == "X'AB01'");
    CHECK_THROWS_AS(d.literal(Value(std::string("a\0b", 3))), DataError);
}

TEST_CASE("LIKE escaping makes %, _ and the escape character literal") {
    PlainDialect d;
    CHECK(d.escape_like("100%_sure\\") == "100\\%\\_sure\\\\");
}

TEST_CASE("savepoint SQL quotes the name") {
    PlainDialect d;
    CHECK(d.savepoint_sql("s1") == "SAVEPOINT \"s1\"");
    CHECK(d.rollback_to_savepoint_sql("s1") == "ROLLBACK TO SAVEPOINT \"s1\"");
    CHECK(d.release_savepoint_sql("s1") == "RELEASE SAVEPOINT \"s1\"");
}

TEST_CASE("CREATE TABLE text with constraints, defaults, references and indexes") {
    PlainDialect d;
    PlainEditor e(d);
    TableSpec t{"book",
                {{.name = "id", .type = ColumnType::int64, .primary_key = true, .auto_increment = true},
                 {.name = "title", .type = ColumnType::varchar, .max_length = 50, .unique = true},
                 {.name = "price", .type = ColumnType::float64, .nullable = true, .default_value = Value(1.5)},
                 {.name = "author_id", .type = ColumnType::int64,
                  .references = ForeignKeySpec{"author", "id", ReferentialAction::cascade}}},
                {{.name = "", .columns = {"title", "price"}, .unique = false}}};
    auto sql = e.create_table_sql(t, true);
    REQUIRE(sql.size() == 2);
    CHECK(sql[0] ==
          "CREATE TABLE IF NOT EXISTS \"book\" (\"id\" SERIAL PRIMARY KEY, \"title\" VARCHAR(50) NOT NULL UNIQUE, "
          "\"price\" float64 DEFAULT 1.5, \"author_id\" int64 NOT NULL REFERENCES \"author\" (\"id\") ON DELETE CASCADE)");
    CHECK(sql[1] == "CREATE INDEX IF NOT EXISTS \"book_title_price_idx\" ON \"book\" (\"title\", \"price\")");
    CHECK(e.drop_table_sql("book", true) == "DROP TABLE IF EXISTS \"book\"");
    TableSpec bad{"t", {{.name = "s", .type = ColumnType::varchar}}, {}};
    CHECK_THROWS_WITH_AS(e.create_table_sql(bad, false), doctest::Contains("max_length"), InterfaceError);
    CHECK_THROWS_AS(e.create_table_sql(TableSpec{"empty", {}, {}}, false), InterfaceError);
}

TEST_CASE("long index names are shortened to 63 bytes and stay distinct") {
    TableSpec t{std::string(60, 't'), {}, {}};
    auto a = SchemaEditor::default_index_name(t, IndexSpec{"", {"column_one"}, false});
    auto b = SchemaEditor::default_index_name(t, IndexSpec{"", {"column_two"}, false});
    CHECK(a.size() <= 63);
    CHECK(b.size() <= 63);
    CHECK(a != b);
}
