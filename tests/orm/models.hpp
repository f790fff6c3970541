// Models shared by the ORM unit tests (no database: SQL text per dialect).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <doctest/doctest.h>

#include "orm/orm.hpp"

namespace ut {

struct Author : orm::Model<Author> {
    std::int64_t id = 0;
    std::string name;
    std::optional<std::string> email;

    static void describe(orm::Meta<Author>& m) {
        m.table("author");
        m.field(&Author::id, "id").primary_key();
        m.field(&Author::name, "name").max_length(100).unique();
        m.field(&Author::email, "email");
    }
};

struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    double price = 0;
    std::int32_t pages = 0;
    bool in_print = true;
    std::optional<orm::Date> published;
    std::optional<std::string> isbn;
    std::chrono::system_clock::time_point added{};

    static void describe(orm::Meta<Book>& m) {
        m.table("book");
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200).index();
        m.field(&Book::price, "price").default_value(0.0);
        m.field(&Book::pages, "pages");
        m.field(&Book::in_print, "in_print").column("available");
        m.field(&Book::published, "published");
        m.field(&Book::isbn, "isbn").max_length(13).unique();
        m.field(&Book::added, "added");
    }
};

// Default ordering and a composite index.
struct Tag : orm::Model<Tag> {
    std::int64_t id = 0;
    std::string label;
    std::int32_t weight = 0;

    static void describe(orm::Meta<Tag>& m) {
        m.field(&Tag::id, "id");  // no primary_key(): an integer 'id' becomes the auto key
        m.field(&Tag::label, "label");
        m.field(&Tag::weight, "weight");
        m.ordering({"-weight", "label"});
        m.index({"label", "weight"}, true);
    }
};

inline const orm::db::Dialect& sqlite() { return orm::db::backend_for_url("sqlite::memory:").dialect(); }
inline const orm::db::Dialect& pg() { return orm::db::backend_for_url("postgresql://localhost/x").dialect(); }

// SQL of a queryset's SELECT on a dialect.
template <class QS>
std::string select_sql(const QS& qs, const orm::db::Dialect& d) {
    return qs.sql(d).text;
}

}  // namespace ut
