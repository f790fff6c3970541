// Model declaration: metadata, defaults, validation, DDL per dialect.
#include "tests/orm/models.hpp"

using namespace ut;
using orm::db::ColumnType;

namespace {

struct NoKey : orm::Model<NoKey> {
    std::string code;
    static void describe(orm::Meta<NoKey>& m) { m.field(&NoKey::code, "code"); }
};

struct BadLength : orm::Model<BadLength> {
    std::int64_t id = 0;
    double x = 0;
    static void describe(orm::Meta<BadLength>& m) {
        m.field(&BadLength::id, "id");
        m.field(&BadLength::x, "x").max_length(3);
    }
};

struct Dup : orm::Model<Dup> {
    std::int64_t id = 0;
    std::string a, b;
    static void describe(orm::Meta<Dup>& m) {
        m.field(&Dup::id, "id");
        m.field(&Dup::a, "a");
        m.field(&Dup::b, "a");
    }
};

struct StringKey : orm::Model<StringKey> {
    std::string code;
    std::int32_t n = 0;
    static void describe(orm::Meta<StringKey>& m) {
        m.table("string_key");
        m.field(&StringKey::code, "code").primary_key().max_length(8);
        m.field(&StringKey::n, "n");
    }
};

}  // namespace

TEST_CASE("meta: fields, types, options and the primary key") {
    const auto& m = orm::model_info<Book>();
    CHECK(m.table() == "book");
    CHECK(m.type_name() == "ut::Book");
    REQUIRE(m.fields().size() == 8);
    CHECK(m.pk().name == "id");
    CHECK(m.pk().auto_increment);
    CHECK(m.field("title").type == ColumnType::varchar);
    CHECK(m.field("title").max_length == 200);
    CHECK(m.field("title").indexed);
    CHECK(m.field("price").type == ColumnType::float64);
    CHECK(m.field("pages").type == ColumnType::int32);
    CHECK(m.field("in_print").type == ColumnType::boolean);
    CHECK(m.field("in_print").column == "available");
    CHECK(m.field("published").type == ColumnType::date);
    CHECK(m.field("published").nullable);
    CHECK_FALSE(m.field("title").nullable);
    CHECK(m.field("isbn").unique);
    CHECK(m.field("added").type == ColumnType::timestamp);
    CHECK(&m.field("pk") == &m.pk());
    CHECK(m.choices() == "added, id, in_print, isbn, pages, price, published, title");
    // Built once: the same object every time.
    CHECK(&orm::model_info<Book>() == &m);
}

TEST_CASE("meta: an integer 'id' becomes the auto key; default table name; ordering; composite index") {
    const auto& m = orm::model_info<Tag>();
    CHECK(m.table() == "tag");
    CHECK(m.pk().name == "id");
    CHECK(m.pk().auto_increment);
    REQUIRE(m.indexes().size() == 1);
    CHECK(m.indexes()[0].unique);
    CHECK(m.indexes()[0].columns == std::vector<std::string>{"label", "weight"});
    CHECK(m.ordering() == std::vector<std::string>{"-weight", "label"});
}

TEST_CASE("meta: a non-integer primary key is not auto-assigned") {
    const auto& m = orm::model_info<StringKey>();
    CHECK(m.pk().name == "code");
    CHECK_FALSE(m.pk().auto_increment);
    CHECK(m.pk().type == ColumnType::varchar);
}

TEST_CASE("meta: declaration errors say what is wrong") {
    CHECK_THROWS_WITH_AS(orm::model_info<NoKey>(), doctest::Contains("no primary key"), orm::InterfaceError);
    CHECK_THROWS_WITH_AS(orm::model_info<BadLength>(), doctest::Contains("max_length is for strings"),
                         orm::InterfaceError);
    CHECK_THROWS_WITH_AS(orm::model_info<Dup>(), doctest::Contains("declared twice"), orm::InterfaceError);
}

TEST_CASE("meta: unknown fields raise FieldError listing the choices") {
    const auto& m = orm::model_info<Author>();
    CHECK_THROWS_WITH_AS(m.field("nmae"), doctest::Contains("Cannot resolve keyword 'nmae' into field"),
                         orm::FieldError);
    CHECK_THROWS_WITH_AS(m.field("nmae"), doctest::Contains("Choices are: email, id, name"), orm::FieldError);
}

TEST_CASE("meta: field_of a member pointer") {
    CHECK(orm::field_of(&Book::price).name == "price");
    CHECK(orm::field_of(&Book::in_print).column == "available");
}

TEST_CASE("meta: clean() validates max_length (in characters), NULL and types before SQL") {
    const auto& m = orm::model_info<Author>();
    const auto& name = m.field("name");
    CHECK(m.clean(name, std::string(100, 'x')).as_text().size() == 100);
    // 100 two-byte characters are 100 characters, not 200.
    std::string accents;
    for (int i = 0; i < 100; ++i) accents += "é";
    CHECK_NOTHROW(m.clean(name, accents));
    CHECK_THROWS_WITH_AS(m.clean(name, std::string(101, 'x')), doctest::Contains("max_length is 100"),
                         orm::ValidationError);
    CHECK_THROWS_WITH_AS(m.clean(name, orm::Value()), doctest::Contains("cannot be NULL"), orm::ValidationError);
    CHECK(m.clean(m.field("email"), orm::Value()).is_null());
    CHECK_THROWS_WITH_AS(m.clean(m.field("id"), "abc"), doctest::Contains("expected an integer"), orm::ValidationError);
    // Lossless conversions are accepted.
    CHECK(m.clean(m.field("id"), std::int32_t{5}).kind() == orm::ValueKind::int64);
    const auto& b = orm::model_info<Book>();
    CHECK(b.clean(b.field("price"), 3).as_double() == 3.0);
    CHECK(b.clean(b.field("published"), "2024-02-29").kind() == orm::ValueKind::date);
    CHECK_THROWS_AS(b.clean(b.field("published"), "2024-02-30"), orm::ValidationError);
    CHECK(b.clean(b.field("in_print"), 1).as_bool());
}

TEST_CASE("meta: DDL per dialect (varchar, unique, NOT NULL, defaults, indexes)") {
    const auto spec = orm::model_info<Book>().table_spec();
    auto sqlite_ddl = orm::db::backend_for_url("sqlite::memory:").schema_editor().create_table_sql(spec, true);
    auto pg_ddl = orm::db::backend_for_url("postgresql://localhost/x").schema_editor().create_table_sql(spec, true);
    REQUIRE(sqlite_ddl.size() == 2);
    CHECK(sqlite_ddl[0] ==
          "CREATE TABLE IF NOT EXISTS \"book\" (\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"title\" "
          "varchar(200) NOT NULL, \"price\" real NOT NULL DEFAULT 0.0, \"pages\" integer NOT NULL, \"available\" "
          "boolean NOT NULL, \"published\" date, \"isbn\" varchar(13) UNIQUE, \"added\" timestamp NOT NULL)");
    CHECK(sqlite_ddl[1] == "CREATE INDEX IF NOT EXISTS \"book_title_idx\" ON \"book\" (\"title\")");
    REQUIRE(pg_ddl.size() == 2);
    CHECK(pg_ddl[0] ==
          "CREATE TABLE IF NOT EXISTS \"book\" (\"id\" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \"title\" "
          "varchar(200) NOT NULL, \"price\" double precision NOT NULL DEFAULT 0, \"pages\" integer NOT NULL, "
          "\"available\" boolean NOT NULL, \"published\" date, \"isbn\" varchar(13) UNIQUE, \"added\" timestamptz NOT "
          "NULL)");
}

TEST_CASE("meta: models are aggregates with designated initializers; Model adds its database and deferred fields") {
    Book b{.title = "Fibers", .price = 12.5};
    CHECK(b.id == 0);
    CHECK(b.title == "Fibers");
    CHECK(b.in_print);
    CHECK(b.pk() == orm::Value(std::int64_t{0}));
    static_assert(sizeof(orm::Model<Book>) == sizeof(void*) + sizeof(std::uint64_t));  // db_, deferred_
    CHECK(b.get_deferred_fields().empty());
    CHECK(b.db().empty());
    static_assert(std::is_aggregate_v<Book>);
}

TEST_CASE("meta: per-model exception types derive from the ORM's") {
    static_assert(std::is_base_of_v<orm::ObjectDoesNotExist, Book::DoesNotExist>);
    static_assert(std::is_base_of_v<orm::MultipleObjectsReturned, Book::MultipleObjectsReturned>);
    static_assert(!std::is_same_v<Book::DoesNotExist, Author::DoesNotExist>);
    static_assert(std::is_base_of_v<orm::Error, orm::FieldError>);
    static_assert(std::is_base_of_v<orm::Error, orm::ValidationError>);
    CHECK_THROWS_AS(orm::model_info<Book>().throw_does_not_exist("x"), Book::DoesNotExist);
}
