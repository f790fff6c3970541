// The SQL text of bulk writes per dialect (orm/bulk_sql.hpp, Dialect::on_conflict_sql and
// reserve_keys_sql): upsert INSERTs, bulk_update's CASE statement, the key reservation before a COPY.
#include "orm/bulk_sql.hpp"
#include "tests/orm/models.hpp"

using namespace ut;

TEST_CASE("bulk SQL: ON CONFLICT DO NOTHING / DO UPDATE SET col = EXCLUDED.col, quoted, per dialect") {
    for (const auto* d : {&pg(), &sqlite()}) {
        std::vector<std::string> none;
        CHECK(d->on_conflict_sql(false, none, none) == " ON CONFLICT DO NOTHING");
        std::vector<std::string> unique{"isbn"}, update{"title", "pri\"ce"};
        CHECK(d->on_conflict_sql(false, unique, none) == " ON CONFLICT (\"isbn\") DO NOTHING");
        CHECK(d->on_conflict_sql(true, unique, update) ==
              " ON CONFLICT (\"isbn\") DO UPDATE SET \"title\" = EXCLUDED.\"title\", \"pri\"\"ce\" = EXCLUDED.\"pri\"\"ce\"");
    }
}

TEST_CASE("bulk SQL: an upsert INSERT puts the conflict clause before RETURNING") {
    const auto& m = orm::model_info<Author>();
    std::vector<const orm::FieldInfo*> cols{&m.field("name"), &m.field("email")};
    std::vector<std::string> unique{"name"}, update{"email"};
    CHECK(orm::detail::bulk_insert_sql(pg(), m, cols, 2, pg().on_conflict_sql(true, unique, update), true) ==
          "INSERT INTO \"author\" (\"name\", \"email\") VALUES ($1, $2), ($3, $4) ON CONFLICT (\"name\") DO UPDATE SET "
          "\"email\" = EXCLUDED.\"email\" RETURNING \"id\"");
    CHECK(orm::detail::bulk_insert_sql(sqlite(), m, cols, 1, sqlite().on_conflict_sql(false, {}, {}), false) ==
          "INSERT INTO \"author\" (\"name\", \"email\") VALUES (?, ?) ON CONFLICT DO NOTHING");
}

TEST_CASE("bulk SQL: bulk_update is one CASE per field with typed parameters where the dialect needs them") {
    const auto& m = orm::model_info<Book>();
    std::vector<const orm::FieldInfo*> fields{&m.field("price"), &m.field("in_print")};
    CHECK(orm::detail::bulk_update_sql(pg(), m, fields, 2) ==
          "UPDATE \"book\" SET \"price\" = CASE WHEN \"id\" = $1::bigint THEN $2::double precision WHEN \"id\" = "
          "$3::bigint THEN $4::double precision ELSE \"price\" END, \"available\" = CASE WHEN \"id\" = $5::bigint THEN "
          "$6::boolean WHEN \"id\" = $7::bigint THEN $8::boolean ELSE \"available\" END WHERE \"id\" IN ($9, $10)");
    CHECK(orm::detail::bulk_update_sql(sqlite(), m, {fields.data(), 1}, 1) ==
          "UPDATE \"book\" SET \"price\" = CASE WHEN \"id\" = ? THEN ? ELSE \"price\" END WHERE \"id\" IN (?)");
}

TEST_CASE("bulk SQL: bulk_update of one object (embedded databases)") {
    const auto& m = orm::model_info<Book>();
    std::vector<const orm::FieldInfo*> fields{&m.field("price"), &m.field("in_print")};
    CHECK(orm::detail::bulk_update_row_sql(sqlite(), m, fields) ==
          "UPDATE \"book\" SET \"price\" = ?, \"available\" = ? WHERE \"id\" = ?");
    CHECK(orm::detail::bulk_update_row_sql(pg(), m, fields) ==
          "UPDATE \"book\" SET \"price\" = $1, \"available\" = $2 WHERE \"id\" = $3");
}

TEST_CASE("bulk SQL: key reservation before a COPY where the dialect has it") {
    CHECK(pg().reserve_keys_sql().find("nextval") != std::string_view::npos);
    CHECK(pg().reserve_keys_sql().find("generate_series(1, $3::bigint)") != std::string_view::npos);
    CHECK(sqlite().reserve_keys_sql().empty());
}
