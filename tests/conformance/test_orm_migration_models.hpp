// Sixteen versions of one small schema for the migrations conformance test
// (test_orm_migrations.cpp): each version is a namespace of its own models over the same table
// names, so the autodetector sees one schema change between neighbours. Type names repeat from
// one namespace to the next (Author, Book...) because the automatic join table names its
// columns after them (book_id, tag_id).
//
//   v1  author(name, indexed), book(title, author -> author)
//   v2  + author.email (nullable), + book.pages (default 0)            [+ RunSQL per backend]
//   v3  + book.isbn NOT NULL without default (one-off default)         [+ RunSQL for any backend]
//   v4  + tag(label varchar(30) unique)
//   v5  + book.tags many-to-many (join table book_tags)                [+ C++ data migration]
//   v6  author.name renamed full_name (its index follows under a new name)
//   v7  book.title text -> varchar(200); book.pages int32 default 0 -> int64 default 1
//   v8  author.email becomes NOT NULL (NULLs filled); tag.label max_length 30 -> 60
//   v9  book.isbn unique; book.pages indexed
//   v10 index (title, pages); unique (author, title)
//   v11 + publisher; + book.publisher (nullable, set_null)
//   v12 publisher renamed press
//   v13 - book.pages (with its indexes); tag.label no longer unique; + book.imprint (a NOT NULL
//       foreign key, one-off default)
//   v14 - tag and the many-to-many (two tables deleted)
//   v15 author.email nullable with a default; + author.born (date); + author.nickname (unique,
//       nullable); book.author on_delete restrict
//   v16 - book.publisher (a foreign key), - unique (author, title); book.author renamed writer
//       (a foreign key column: author_id -> writer_id)
#pragma once

#include <optional>
#include <string>

#include "tests/conformance/test_orm_models.hpp"

namespace weft::conformance::mig_models {

inline constexpr const char* author_table = "weft_ct_mig_author";
inline constexpr const char* book_table = "weft_ct_mig_book";
inline constexpr const char* tag_table = "weft_ct_mig_tag";
inline constexpr const char* book_tags_table = "weft_ct_mig_book_tags";
inline constexpr const char* publisher_table = "weft_ct_mig_publisher";
inline constexpr const char* press_table = "weft_ct_mig_press";

namespace v1 {
struct Author : orm::Model<Author> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Author>& m) {
        m.table(author_table);
        m.field(&Author::id, "id").primary_key();
        m.field(&Author::name, "name").max_length(50).index();
    }
};
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title");
        m.field(&Book::author, "author").related_name("books_v1");
    }
};
}  // namespace v1

namespace v2 {
struct Author : orm::Model<Author> {
    std::int64_t id = 0;
    std::string name;
    std::optional<std::string> email;
    static void describe(orm::Meta<Author>& m) {
        m.table(author_table);
        m.field(&Author::id, "id").primary_key();
        m.field(&Author::name, "name").max_length(50).index();
        m.field(&Author::email, "email");
    }
};
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::int32_t pages = 0;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title");
        m.field(&Book::author, "author").related_name("books_v2");
        m.field(&Book::pages, "pages").default_value(std::int32_t{0});
    }
};
}  // namespace v2

namespace v3 {
using v2::Author;
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::int32_t pages = 0;
    std::string isbn;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title");
        m.field(&Book::author, "author").related_name("books_v3");
        m.field(&Book::pages, "pages").default_value(std::int32_t{0});
        m.field(&Book::isbn, "isbn");
    }
};
}  // namespace v3

namespace v4 {
using v3::Author;
using v3::Book;
struct Tag : orm::Model<Tag> {
    std::int64_t id = 0;
    std::string label;
    static void describe(orm::Meta<Tag>& m) {
        m.table(tag_table);
        m.field(&Tag::id, "id").primary_key();
        m.field(&Tag::label, "label").max_length(30).unique();
    }
};
}  // namespace v4

namespace v5 {
using v4::Author;
using v4::Tag;
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::int32_t pages = 0;
    std::string isbn;
    orm::ManyToMany<Tag> tags;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title");
        m.field(&Book::author, "author").related_name("books_v5");
        m.field(&Book::pages, "pages").default_value(std::int32_t{0});
        m.field(&Book::isbn, "isbn");
        m.field(&Book::tags, "tags").related_name("books_v5");
    }
};
}  // namespace v5

namespace v6 {
using v5::Tag;
struct Author : orm::Model<Author> {
    std::int64_t id = 0;
    std::string full_name;
    std::optional<std::string> email;
    static void describe(orm::Meta<Author>& m) {
        m.table(author_table);
        m.field(&Author::id, "id").primary_key();
        m.field(&Author::full_name, "full_name").max_length(50).index();
        m.field(&Author::email, "email");
    }
};
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::int32_t pages = 0;
    std::string isbn;
    orm::ManyToMany<Tag> tags;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title");
        m.field(&Book::author, "author").related_name("books_v6");
        m.field(&Book::pages, "pages").default_value(std::int32_t{0});
        m.field(&Book::isbn, "isbn");
        m.field(&Book::tags, "tags").related_name("books_v6");
    }
};
}  // namespace v6

namespace v7 {
using v6::Author;
using v6::Tag;
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::int64_t pages = 0;
    std::string isbn;
    orm::ManyToMany<Tag> tags;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200);
        m.field(&Book::author, "author").related_name("books_v7");
        m.field(&Book::pages, "pages").default_value(std::int64_t{1});
        m.field(&Book::isbn, "isbn");
        m.field(&Book::tags, "tags").related_name("books_v7");
    }
};
}  // namespace v7

namespace v8 {
struct Author : orm::Model<Author> {
    std::int64_t id = 0;
    std::string full_name;
    std::string email;
    static void describe(orm::Meta<Author>& m) {
        m.table(author_table);
        m.field(&Author::id, "id").primary_key();
        m.field(&Author::full_name, "full_name").max_length(50).index();
        m.field(&Author::email, "email");
    }
};
struct Tag : orm::Model<Tag> {
    std::int64_t id = 0;
    std::string label;
    static void describe(orm::Meta<Tag>& m) {
        m.table(tag_table);
        m.field(&Tag::id, "id").primary_key();
        m.field(&Tag::label, "label").max_length(60).unique();
    }
};
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::int64_t pages = 0;
    std::string isbn;
    orm::ManyToMany<Tag> tags;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200);
        m.field(&Book::author, "author").related_name("books_v8");
        m.field(&Book::pages, "pages").default_value(std::int64_t{1});
        m.field(&Book::isbn, "isbn");
        m.field(&Book::tags, "tags").related_name("books_v8");
    }
};
}  // namespace v8

namespace v9 {
using v8::Author;
using v8::Tag;
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::int64_t pages = 0;
    std::string isbn;
    orm::ManyToMany<Tag> tags;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200);
        m.field(&Book::author, "author").related_name("books_v9");
        m.field(&Book::pages, "pages").default_value(std::int64_t{1}).index();
        m.field(&Book::isbn, "isbn").unique();
        m.field(&Book::tags, "tags").related_name("books_v9");
    }
};
}  // namespace v9

namespace v10 {
using v9::Author;
using v9::Tag;
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::int64_t pages = 0;
    std::string isbn;
    orm::ManyToMany<Tag> tags;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200);
        m.field(&Book::author, "author").related_name("books_v10");
        m.field(&Book::pages, "pages").default_value(std::int64_t{1}).index();
        m.field(&Book::isbn, "isbn").unique();
        m.field(&Book::tags, "tags").related_name("books_v10");
        m.index({"title", "pages"});
        m.unique_together({"author", "title"});
    }
};
}  // namespace v10

namespace v11 {
using v10::Author;
using v10::Tag;
struct Publisher : orm::Model<Publisher> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Publisher>& m) {
        m.table(publisher_table);
        m.field(&Publisher::id, "id").primary_key();
        m.field(&Publisher::name, "name").max_length(80);
    }
};
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::int64_t pages = 0;
    std::string isbn;
    orm::ManyToMany<Tag> tags;
    orm::ForeignKey<Publisher> publisher;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200);
        m.field(&Book::author, "author").related_name("books_v11");
        m.field(&Book::pages, "pages").default_value(std::int64_t{1}).index();
        m.field(&Book::isbn, "isbn").unique();
        m.field(&Book::tags, "tags").related_name("books_v11");
        m.field(&Book::publisher, "publisher").related_name("books_v11").null().on_delete(orm::OnDelete::set_null);
        m.index({"title", "pages"});
        m.unique_together({"author", "title"});
    }
};
}  // namespace v11

namespace v12 {
using v11::Author;
using v11::Tag;
struct Press : orm::Model<Press> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Press>& m) {
        m.table(press_table);
        m.field(&Press::id, "id").primary_key();
        m.field(&Press::name, "name").max_length(80);
    }
};
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::int64_t pages = 0;
    std::string isbn;
    orm::ManyToMany<Tag> tags;
    orm::ForeignKey<Press> publisher;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200);
        m.field(&Book::author, "author").related_name("books_v12");
        m.field(&Book::pages, "pages").default_value(std::int64_t{1}).index();
        m.field(&Book::isbn, "isbn").unique();
        m.field(&Book::tags, "tags").related_name("books_v12");
        m.field(&Book::publisher, "publisher").related_name("books_v12").null().on_delete(orm::OnDelete::set_null);
        m.index({"title", "pages"});
        m.unique_together({"author", "title"});
    }
};
}  // namespace v12

namespace v13 {
using v12::Author;
using v12::Press;
struct Tag : orm::Model<Tag> {
    std::int64_t id = 0;
    std::string label;
    static void describe(orm::Meta<Tag>& m) {
        m.table(tag_table);
        m.field(&Tag::id, "id").primary_key();
        m.field(&Tag::label, "label").max_length(60);
    }
};
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::string isbn;
    orm::ForeignKey<Press> imprint;
    orm::ManyToMany<Tag> tags;
    orm::ForeignKey<Press> publisher;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200);
        m.field(&Book::author, "author").related_name("books_v13");
        m.field(&Book::isbn, "isbn").unique();
        m.field(&Book::imprint, "imprint").related_name("imprints_v13");
        m.field(&Book::tags, "tags").related_name("books_v13");
        m.field(&Book::publisher, "publisher").related_name("books_v13").null().on_delete(orm::OnDelete::set_null);
        m.unique_together({"author", "title"});
    }
};
}  // namespace v13

namespace v14 {
using v13::Author;
using v13::Press;
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::string isbn;
    orm::ForeignKey<Press> imprint;
    orm::ForeignKey<Press> publisher;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200);
        m.field(&Book::author, "author").related_name("books_v14");
        m.field(&Book::isbn, "isbn").unique();
        m.field(&Book::imprint, "imprint").related_name("imprints_v14");
        m.field(&Book::publisher, "publisher").related_name("books_v14").null().on_delete(orm::OnDelete::set_null);
        m.unique_together({"author", "title"});
    }
};
}  // namespace v14

namespace v15 {
using v14::Press;
struct Author : orm::Model<Author> {
    std::int64_t id = 0;
    std::string full_name;
    std::optional<std::string> email;
    std::optional<orm::Date> born;
    std::optional<std::string> nickname;
    static void describe(orm::Meta<Author>& m) {
        m.table(author_table);
        m.field(&Author::id, "id").primary_key();
        m.field(&Author::full_name, "full_name").max_length(50).index();
        m.field(&Author::email, "email").default_value("n/a");
        m.field(&Author::born, "born");
        m.field(&Author::nickname, "nickname").max_length(20).unique();
    }
};
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> author;
    std::string isbn;
    orm::ForeignKey<Press> imprint;
    orm::ForeignKey<Press> publisher;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200);
        m.field(&Book::author, "author").related_name("books_v15").on_delete(orm::OnDelete::restrict);
        m.field(&Book::isbn, "isbn").unique();
        m.field(&Book::imprint, "imprint").related_name("imprints_v15");
        m.field(&Book::publisher, "publisher").related_name("books_v15").null().on_delete(orm::OnDelete::set_null);
        m.unique_together({"author", "title"});
    }
};
}  // namespace v15

namespace v16 {
using v15::Author;
using v15::Press;
struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Author> writer;
    std::string isbn;
    orm::ForeignKey<Press> imprint;
    static void describe(orm::Meta<Book>& m) {
        m.table(book_table);
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200);
        m.field(&Book::writer, "writer").related_name("books_v16").on_delete(orm::OnDelete::restrict);
        m.field(&Book::isbn, "isbn").unique();
        m.field(&Book::imprint, "imprint").related_name("imprints_v16");
    }
};
}  // namespace v16

}  // namespace weft::conformance::mig_models
