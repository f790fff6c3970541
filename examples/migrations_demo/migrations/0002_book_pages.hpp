// Migration 0002_book_pages, written by weft makemigrations on 2026-12-02 18:24 UTC.
// Yours to read and edit: makemigrations adds new files and rewrites migrations.cpp, never this one.
#pragma once

#include <orm/migrations.hpp>

inline orm::migrations::Migration weft_migration_0002_book_pages() {
    using namespace orm::migrations;
    return Migration("0002_book_pages")
        .depends_on("0001_initial")
        .rename_field("mig_author", "name", "full_name")
        .add_field("mig_author", Column("country", Type::varchar).max_length(2), "ZZ")
        .add_field("mig_book", Column("pages", Type::int32).default_value(0))
        .alter_field("mig_book", Column("title", Type::varchar).max_length(200));
}
