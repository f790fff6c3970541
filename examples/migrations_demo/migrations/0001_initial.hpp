// Migration 0001_initial, written by weft makemigrations on 2026-12-02 18:23 UTC.
// Yours to read and edit: makemigrations adds new files and rewrites migrations.cpp, never this one.
#pragma once

#include <orm/migrations.hpp>

inline orm::migrations::Migration weft_migration_0001_initial() {
    using namespace orm::migrations;
    return Migration("0001_initial")
        .create_model("mig_author", {
            Column("id", Type::int64).primary_key().auto_increment(),
            Column("name", Type::varchar).max_length(100).unique(),
        })
        .create_model("mig_tag", {
            Column("id", Type::int64).primary_key().auto_increment(),
            Column("label", Type::varchar).max_length(40).unique(),
        })
        .create_model("mig_book", {
            Column("id", Type::int64).primary_key().auto_increment(),
            Column("title", Type::varchar).max_length(100),
            Column("price", Type::float64).default_value(0.0),
            Column("author_id", Type::int64).references("mig_author", "id", ReferentialAction::cascade),
        }, {
            Index("mig_book_author_id_idx", {"author_id"}),
        })
        .create_model("mig_book_tags", {
            Column("id", Type::int64).primary_key().auto_increment(),
            Column("book_id", Type::int64).references("mig_book", "id", ReferentialAction::cascade),
            Column("tag_id", Type::int64).references("mig_tag", "id", ReferentialAction::cascade),
        }, {
            Index("mig_book_tags_book_id_idx", {"book_id"}),
            Index("mig_book_tags_tag_id_idx", {"tag_id"}),
            Index("mig_book_tags_book_id_tag_id_uniq", {"book_id", "tag_id"}).unique(),
        });
}
