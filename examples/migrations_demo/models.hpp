// The migrations demo's models, in two versions chosen at compile time (-DDEMO_VERSION=1 or 2):
// what a team's models look like before and after one change, so that makemigrations has
// something to find. Version 2:
//   - mig_book gains `pages` (NOT NULL, default 0): an added column with a default;
//   - mig_author's `name` becomes `full_name` (makemigrations asks; --rename yes answers);
//   - mig_author gains `country` (NOT NULL, no default): rows already there need a one-off
//     value (--default mig_author.country=ZZ);
//   - mig_book's `title` grows from 100 to 200 characters (an altered column: on SQLite a
//     table rebuild).
#pragma once

#include <cstdint>
#include <string>

#include "orm/orm.hpp"

#ifndef DEMO_VERSION
#define DEMO_VERSION 2
#endif

struct Author : orm::Model<Author> {
    std::int64_t id = 0;
#if DEMO_VERSION >= 2
    std::string full_name;
    std::string country;
#else
    std::string name;
#endif
    static void describe(orm::Meta<Author>& m) {
        m.table("mig_author");
        m.field(&Author::id, "id").primary_key();
#if DEMO_VERSION >= 2
        m.field(&Author::full_name, "full_name").max_length(100).unique();
        m.field(&Author::country, "country").max_length(2);
#else
        m.field(&Author::name, "name").max_length(100).unique();
#endif
    }
};

struct Tag : orm::Model<Tag> {
    std::int64_t id = 0;
    std::string label;
    static void describe(orm::Meta<Tag>& m) {
        m.table("mig_tag");
        m.field(&Tag::id, "id").primary_key();
        m.field(&Tag::label, "label").max_length(40).unique();
    }
};

struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    double price = 0;
#if DEMO_VERSION >= 2
    std::int32_t pages = 0;
#endif
    orm::ForeignKey<Author> author;  // column author_id
    orm::ManyToMany<Tag> tags;       // join table mig_book_tags
    static void describe(orm::Meta<Book>& m) {
        m.table("mig_book");
        m.field(&Book::id, "id").primary_key();
#if DEMO_VERSION >= 2
        m.field(&Book::title, "title").max_length(200);
#else
        m.field(&Book::title, "title").max_length(100);
#endif
        m.field(&Book::price, "price").default_value(0.0);
#if DEMO_VERSION >= 2
        m.field(&Book::pages, "pages").default_value(0);
#endif
        m.field(&Book::author, "author").on_delete(orm::OnDelete::cascade).related_name("books");
        m.field(&Book::tags, "tags").related_name("books");
    }
};

// The author's name under either version's field name.
inline const std::string& author_name(const Author& a) {
#if DEMO_VERSION >= 2
    return a.full_name;
#else
    return a.name;
#endif
}
