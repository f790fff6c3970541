// The schema editor's DDL on SQLite, checked by introspection; foreign keys; dialect literals.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "drivers/introspection.hpp"
#include "drivers/schema.hpp"
#include "helpers.hpp"

using namespace orm;
using namespace orm::db;
using namespace sqlite_test;
using namespace std::chrono;

namespace {

TableSpec author_spec() {
    TableSpec t;
    t.name = "author";
    t.columns = {
        {.name = "id", .type = ColumnType::int64, .primary_key = true, .auto_increment = true},
        {.name = "name", .type = ColumnType::varchar, .max_length = 100, .unique = true},
        {.name = "email", .type = ColumnType::text, .nullable = true},
        {.name = "active", .type = ColumnType::boolean, .default_value = Value(true)},
        {.name = "score", .type = ColumnType::float64, .default_value = Value(1.5)},
        {.name = "joined", .type = ColumnType::timestamp, .nullable = true},
        {.name = "born", .type = ColumnType::date, .nullable = true},
        {.name = "avatar", .type = ColumnType::bytes, .nullable = true},
        {.name = "rank", .type = ColumnType::int32, .default_value = Value(0)},
    };
    t.indexes = {{.columns = {"email"}}, {.name = "author_rank_score", .columns = {"rank", "score"}, .unique = true}};
    return t;
}

TableSpec book_spec(ReferentialAction on_delete) {
    TableSpec t;
    t.name = "book";
    t.columns = {
        {.name = "id", .type = ColumnType::int64, .primary_key = true, .auto_increment = true},
        {.name = "title", .type = ColumnType::text},
        {.name = "author_id", .type = ColumnType::int64, .nullable = true,
         .references = ForeignKeySpec{.table = "author", .column = "id", .on_delete = on_delete}},
    };
    return t;
}

const ColumnInfo& column(const std::vector<ColumnInfo>& cols, std::string_view name) {
    auto it = std::find_if(cols.begin(), cols.end(), [&](const ColumnInfo& c) { return c.name == name; });
    REQUIRE(it != cols.end());
    return *it;
}

}  // namespace

TEST_CASE("create_table, then introspect columns") {
    auto c = open_memory();
    const auto& ed = c->backend().schema_editor();
    const auto& in = c->backend().introspection();
    ed.create_table(*c, author_spec());
    CHECK(in.table_names(*c) == std::vector<std::string>{"author"});
    CHECK(in.table_exists(*c, "author"));
    CHECK_FALSE(in.table_exists(*c, "sqlite_sequence"));  // system tables are not user tables

    auto cols = in.columns(*c, "author");
    REQUIRE(cols.size() == 9);
    CHECK(cols[0].name == "id");
    CHECK(cols[0].type == "integer");
    CHECK(cols[0].primary_key);
    CHECK_FALSE(cols[0].nullable);
    CHECK(column(cols, "name").type == "varchar(100)");
    CHECK_FALSE(column(cols, "name").nullable);
    CHECK(column(cols, "email").nullable);
    CHECK(column(cols, "active").type == "boolean");
    CHECK(column(cols, "active").default_sql == std::optional<std::string>("1"));
    CHECK(column(cols, "score").default_sql == std::optional<std::string>("1.5"));
    CHECK(column(cols, "joined").type == "timestamp");
    CHECK(column(cols, "born").type == "date");
    CHECK(column(cols, "avatar").type == "blob");
    CHECK(column(cols, "rank").type == "integer");
    CHECK(column(cols, "email").default_sql == std::nullopt);
    CHECK(in.columns(*c, "no_such_table").empty());

    // Defaults apply; the auto key counts up; typed values come back as their kinds.
    c->execute("INSERT INTO author (name) VALUES (?)", {"Ann"});
    auto r = c->execute("SELECT id, active, score, rank FROM author");
    REQUIRE(r.next());
    CHECK(r.row().get<std::int64_t>(0) == 1);
    CHECK(r.row().value(1) == Value(true));
    CHECK(r.row().get<double>(2) == 1.5);
    CHECK(r.row().get<int>(3) == 0);
}

TEST_CASE("indexes: created, introspected, dropped") {
    auto c = open_memory();
    const auto& ed = c->backend().schema_editor();
    const auto& in = c->backend().introspection();
    auto spec = author_spec();
    ed.create_table(*c, spec);
    auto ixs = in.indexes(*c, "author");
    auto find = [&](std::string_view name) {
        return std::find_if(ixs.begin(), ixs.end(), [&](const IndexInfo& i) { return i.name == name; });
    };
    // The primary key (the rowid, which has no separate index) comes first.
    REQUIRE(!ixs.empty());
    CHECK(ixs[0].primary);
    CHECK(ixs[0].columns == std::vector<std::string>{"id"});
    auto email = find("author_email_idx");
    REQUIRE(email != ixs.end());
    CHECK_FALSE(email->unique);
    CHECK(email->columns == std::vector<std::string>{"email"});
    auto rank = find("author_rank_score");
    REQUIRE(rank != ixs.end());
    CHECK(rank->unique);
    CHECK(rank->columns == std::vector<std::string>{"rank", "score"});
    // UNIQUE on "name" shows up as SQLite's automatic index.
    bool name_unique = std::any_of(ixs.begin(), ixs.end(), [](const IndexInfo& i) {
        return i.unique && !i.primary && i.columns == std::vector<std::string>{"name"};
    });
    CHECK(name_unique);

    ed.drop_index(*c, "author_email_idx");
    ixs = in.indexes(*c, "author");
    CHECK(find("author_email_idx") == ixs.end());
    ed.drop_index(*c, "author_email_idx", /*if_exists=*/true);
    CHECK_THROWS_AS(ed.drop_index(*c, "author_email_idx"), ProgrammingError);
    ed.create_index(*c, spec, spec.indexes[0], /*if_not_exists=*/true);
    ed.create_index(*c, spec, spec.indexes[0], /*if_not_exists=*/true);
    CHECK(in.indexes(*c, "author").size() == ixs.size() + 1);

    ed.drop_table(*c, "author");
    CHECK(in.table_names(*c).empty());
    CHECK(in.indexes(*c, "author").empty());
    ed.drop_table(*c, "author", /*if_exists=*/true);
    CHECK_THROWS_AS(ed.drop_table(*c, "author"), ProgrammingError);
}

TEST_CASE("a non-integer primary key is introspected through its automatic index") {
    auto c = open_memory();
    TableSpec t{.name = "tag", .columns = {{.name = "code", .type = ColumnType::text, .primary_key = true}}};
    c->backend().schema_editor().create_table(*c, t);
    auto ixs = c->backend().introspection().indexes(*c, "tag");
    REQUIRE(ixs.size() == 1);
    CHECK(ixs[0].primary);
    CHECK(ixs[0].unique);
    CHECK(ixs[0].name.rfind("sqlite_autoindex_tag", 0) == 0);
    CHECK(ixs[0].columns == std::vector<std::string>{"code"});
}

TEST_CASE("create_table if_not_exists, and quoting of odd names") {
    auto c = open_memory();
    const auto& ed = c->backend().schema_editor();
    TableSpec t{.name = "odd \"table\"",
                .columns = {{.name = "select", .type = ColumnType::text, .nullable = true}}};
    ed.create_table(*c, t);
    ed.create_table(*c, t, /*if_not_exists=*/true);
    CHECK_THROWS_AS(ed.create_table(*c, t), ProgrammingError);
    c->execute("INSERT INTO \"odd \"\"table\"\"\" (\"select\") VALUES (?)", {"ok"});
    CHECK(c->backend().introspection().columns(*c, "odd \"table\"").at(0).name == "select");
}

TEST_CASE("AUTOINCREMENT never reuses the key of a deleted row") {
    auto c = open_memory();
    c->backend().schema_editor().create_table(*c, author_spec());
    c->execute("INSERT INTO author (name, rank) VALUES ('a', 1), ('b', 2)");
    c->execute("DELETE FROM author WHERE id = 2");
    c->execute("INSERT INTO author (name, rank) VALUES ('c', 3)");
    CHECK(c->last_insert_id() == 3);
}

TEST_CASE("foreign keys are enforced, with ON DELETE actions") {
    auto c = open_memory();
    const auto& ed = c->backend().schema_editor();
    ed.create_table(*c, author_spec());
    ed.create_table(*c, book_spec(ReferentialAction::cascade));
    c->execute("INSERT INTO author (id, name) VALUES (1, 'Ann')");
    c->execute("INSERT INTO book (title, author_id) VALUES ('A', 1), ('B', 1), ('C', NULL)");
    CHECK_THROWS_AS(c->execute("INSERT INTO book (title, author_id) VALUES ('X', 42)"), ForeignKeyViolation);
    CHECK_THROWS_AS(c->execute("UPDATE book SET author_id = 42"), ForeignKeyViolation);
    c->execute("DELETE FROM author WHERE id = 1");
    CHECK(scalar_int(*c, "SELECT count(*) FROM book") == 1);

    ed.drop_table(*c, "book");
    ed.create_table(*c, book_spec(ReferentialAction::restrict));
    c->execute("INSERT INTO author (id, name) VALUES (2, 'Bob')");
    c->execute("INSERT INTO book (title, author_id) VALUES ('D', 2)");
    CHECK_THROWS_AS(c->execute("DELETE FROM author WHERE id = 2"), ForeignKeyViolation);

    ed.drop_table(*c, "book");
    ed.create_table(*c, book_spec(ReferentialAction::set_null));
    c->execute("INSERT INTO book (title, author_id) VALUES ('E', 2)");
    c->execute("DELETE FROM author WHERE id = 2");
    CHECK(c->execute("SELECT author_id FROM book").scalar<std::int64_t>() == std::nullopt);
}

TEST_CASE("foreign_keys=off turns enforcement off") {
    auto c = open_memory("foreign_keys=off");
    c->backend().schema_editor().create_table(*c, author_spec());
    c->backend().schema_editor().create_table(*c, book_spec(ReferentialAction::no_action));
    CHECK_NOTHROW(c->execute("INSERT INTO book (title, author_id) VALUES ('X', 42)"));
}

TEST_CASE("dialect literals in DDL defaults read back as the same values") {
    auto c = open_memory();
    const Dialect& d = c->dialect();
    CHECK(d.literal(Value(true)) == "1");
    CHECK(d.literal(Value(2.0)) == "2.0");
    CHECK(d.literal(Value(std::numeric_limits<double>::infinity())) == "9e999");
    CHECK(d.literal(Value("it's")) == "'it''s'");
    CHECK(d.literal(Value(Bytes{0xde, 0xad})) == "X'DEAD'");
    CHECK_THROWS_AS(d.literal(Value(std::nan(""))), DataError);
    CHECK_THROWS_AS(d.literal(Value(std::string("a\0b", 3))), DataError);
    CHECK(d.limit_offset(std::nullopt, 5) == " LIMIT -1 OFFSET 5");

    Timestamp ts = sys_days(year{2021} / 6 / 1) + seconds(1) + microseconds(5);
    Date day = sys_days(year{2021} / 6 / 2);
    const Value defaults[] = {Value(true), Value(std::int64_t{-9}), Value(-0.5),
                              Value(-std::numeric_limits<double>::infinity()), Value("x'y"), Value(Bytes{1, 0, 2}),
                              Value(ts), Value(day), Value()};
    const ColumnType types[] = {ColumnType::boolean, ColumnType::int64, ColumnType::float64, ColumnType::float64,
                                ColumnType::text,    ColumnType::bytes, ColumnType::timestamp, ColumnType::date,
                                ColumnType::text};
    TableSpec t{.name = "defaults", .columns = {{.name = "id", .type = ColumnType::int64, .primary_key = true}}};
    for (std::size_t i = 0; i < std::size(defaults); ++i)
        t.columns.push_back({.name = fmt::format("c{}", i), .type = types[i], .nullable = true,
                             .default_value = defaults[i]});
    c->backend().schema_editor().create_table(*c, t);
    c->execute("INSERT INTO defaults (id) VALUES (1)");
    auto r = c->execute("SELECT * FROM defaults");
    REQUIRE(r.next());
    for (std::size_t i = 0; i < std::size(defaults); ++i) {
        CAPTURE(i);
        CHECK(r.row().value(i + 1) == defaults[i]);
    }
}
