// Models of the relation conformance tests (test_orm_rel_*.cpp): foreign keys (nullable or
// not, to self, one-to-one), many-to-many (automatic and through a model), reverse sets, and one
// small group of models per on_delete behaviour. Every table is prefixed weft_ct_rel_.
//
// Publisher <- Author <- Book -> Tag (many-to-many), Book -> Author (editor, nullable),
// Review -> Book (default related_name "review"), Profile -> Author (one-to-one; Author holds
// the reverse side in an orm::RelatedOne),
// Category -> Category (self), Club <-> Person through Membership,
// Country <- Region <- City (cascade chain) <- Monument (protect), Genre <- Novel (protect),
// Artist <- Album <- Song (restrict, satisfied by a cascade from Artist), Shelf <- Slot (do_nothing).
#pragma once

#include <string>
#include <vector>

#include "tests/conformance/test_orm_models.hpp"

namespace weft::conformance::rel_models {

using orm_models::Capture;
using orm_models::Tables;

struct Author;
struct Book;
struct Tag;
struct Profile;

struct Publisher : orm::Model<Publisher> {
    std::int64_t id = 0;
    std::string name;
    orm::RelatedSet<Author> authors;

    static void describe(orm::Meta<Publisher>& m);
};

struct Author : orm::Model<Author> {
    std::int64_t id = 0;
    std::string name;
    std::int32_t born = 0;
    orm::ForeignKey<Publisher> publisher;  // nullable, set_null, related_name "authors"
    orm::RelatedSet<Book> books;           // Book::author
    orm::RelatedSet<Book> edited;          // Book::editor (nullable: remove() and clear() allowed)
    orm::RelatedOne<Profile> profile;      // Profile::author (one-to-one): one object or none

    static void describe(orm::Meta<Author>& m);
};

struct Tag : orm::Model<Tag> {
    std::int64_t id = 0;
    std::string name;
    orm::RelatedSet<Book> books;  // the reverse of Book::tags

    static void describe(orm::Meta<Tag>& m);
};

struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    double price = 0;
    std::int32_t pages = 0;
    orm::ForeignKey<Author> author;  // not null, cascade, related_name "books"
    orm::ForeignKey<Author> editor;  // nullable, set_null, related_name "edited"
    orm::ManyToMany<Tag> tags;       // automatic join table weft_ct_rel_book_tags

    static void describe(orm::Meta<Book>& m);
};

// No related_name: the reverse relation on Book is "review".
struct Review : orm::Model<Review> {
    std::int64_t id = 0;
    orm::ForeignKey<Book> book;
    std::int32_t stars = 0;

    static void describe(orm::Meta<Review>& m) {
        m.table("weft_ct_rel_review");
        m.field(&Review::id, "id").primary_key();
        m.field(&Review::book, "book");
        m.field(&Review::stars, "stars");
    }
};

struct Profile : orm::Model<Profile> {
    std::int64_t id = 0;
    orm::OneToOne<Author> author;
    std::string bio;

    static void describe(orm::Meta<Profile>& m) {
        m.table("weft_ct_rel_profile");
        m.field(&Profile::id, "id").primary_key();
        m.field(&Profile::author, "author").on_delete(orm::OnDelete::cascade).related_name("profile");
        m.field(&Profile::bio, "bio");
    }
};

// A self-reference: a tree of categories (deleting a node deletes its subtree).
struct Category : orm::Model<Category> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<Category> parent;
    orm::RelatedSet<Category> children;

    static void describe(orm::Meta<Category>& m) {
        m.table("weft_ct_rel_category");
        m.field(&Category::id, "id").primary_key();
        m.field(&Category::name, "name").max_length(40);
        m.field(&Category::parent, "parent").null().on_delete(orm::OnDelete::cascade).related_name("children");
        m.field(&Category::children, "children");
    }
};

// Many-to-many through an explicit model carrying its own field.
struct Club;
struct Person : orm::Model<Person> {
    std::int64_t id = 0;
    std::string name;
    orm::RelatedSet<Club> clubs;

    static void describe(orm::Meta<Person>& m);
};

struct Membership;
struct Club : orm::Model<Club> {
    std::int64_t id = 0;
    std::string name;
    orm::ManyToMany<Person> members;

    static void describe(orm::Meta<Club>& m);
};

struct Membership : orm::Model<Membership> {
    std::int64_t id = 0;
    orm::ForeignKey<Club> club;
    orm::ForeignKey<Person> person;
    std::string role;

    static void describe(orm::Meta<Membership>& m) {
        m.table("weft_ct_rel_membership");
        m.field(&Membership::id, "id").primary_key();
        m.field(&Membership::club, "club").related_name("memberships");
        m.field(&Membership::person, "person").related_name("memberships");
        m.field(&Membership::role, "role").max_length(20).default_value("member");
    }
};

inline void Person::describe(orm::Meta<Person>& m) {
    m.table("weft_ct_rel_person");
    m.field(&Person::id, "id").primary_key();
    m.field(&Person::name, "name").max_length(40);
    m.field(&Person::clubs, "clubs");
}

inline void Club::describe(orm::Meta<Club>& m) {
    m.table("weft_ct_rel_club");
    m.field(&Club::id, "id").primary_key();
    m.field(&Club::name, "name").max_length(40);
    m.field(&Club::members, "members").through<Membership>("club", "person").related_name("clubs");
}

// on_delete: a cascade chain of three models.
struct Country : orm::Model<Country> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Country>& m) {
        m.table("weft_ct_rel_country");
        m.field(&Country::id, "id").primary_key();
        m.field(&Country::name, "name").max_length(40);
    }
};
struct Region : orm::Model<Region> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<Country> country;
    static void describe(orm::Meta<Region>& m) {
        m.table("weft_ct_rel_region");
        m.field(&Region::id, "id").primary_key();
        m.field(&Region::name, "name").max_length(40);
        m.field(&Region::country, "country").on_delete(orm::OnDelete::cascade).related_name("regions");
    }
};
struct City : orm::Model<City> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<Region> region;
    static void describe(orm::Meta<City>& m) {
        m.table("weft_ct_rel_city");
        m.field(&City::id, "id").primary_key();
        m.field(&City::name, "name").max_length(40);
        m.field(&City::region, "region").on_delete(orm::OnDelete::cascade).related_name("cities");
    }
};

// on_delete: protect, reached through the cascade above (deleting a country whose city has a
// monument is refused).
struct Monument : orm::Model<Monument> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<City> city;
    static void describe(orm::Meta<Monument>& m) {
        m.table("weft_ct_rel_monument");
        m.field(&Monument::id, "id").primary_key();
        m.field(&Monument::name, "name").max_length(40);
        m.field(&Monument::city, "city").on_delete(orm::OnDelete::protect).related_name("monuments");
    }
};

// on_delete: protect.
struct Genre : orm::Model<Genre> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Genre>& m) {
        m.table("weft_ct_rel_genre");
        m.field(&Genre::id, "id").primary_key();
        m.field(&Genre::name, "name").max_length(40);
    }
};
struct Novel : orm::Model<Novel> {
    std::int64_t id = 0;
    std::string title;
    orm::ForeignKey<Genre> genre;
    static void describe(orm::Meta<Novel>& m) {
        m.table("weft_ct_rel_novel");
        m.field(&Novel::id, "id").primary_key();
        m.field(&Novel::title, "title").max_length(40);
        m.field(&Novel::genre, "genre").on_delete(orm::OnDelete::protect).related_name("novels");
    }
};

// on_delete: restrict (Django's example: deleting an artist deletes its albums and songs; deleting
// an album that songs refer to is refused).
struct Artist : orm::Model<Artist> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Artist>& m) {
        m.table("weft_ct_rel_artist");
        m.field(&Artist::id, "id").primary_key();
        m.field(&Artist::name, "name").max_length(40);
    }
};
struct Album : orm::Model<Album> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<Artist> artist;
    static void describe(orm::Meta<Album>& m) {
        m.table("weft_ct_rel_album");
        m.field(&Album::id, "id").primary_key();
        m.field(&Album::name, "name").max_length(40);
        m.field(&Album::artist, "artist").on_delete(orm::OnDelete::cascade).related_name("albums");
    }
};
struct Song : orm::Model<Song> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<Artist> artist;
    orm::ForeignKey<Album> album;
    static void describe(orm::Meta<Song>& m) {
        m.table("weft_ct_rel_song");
        m.field(&Song::id, "id").primary_key();
        m.field(&Song::name, "name").max_length(40);
        m.field(&Song::artist, "artist").on_delete(orm::OnDelete::cascade).related_name("songs");
        m.field(&Song::album, "album").on_delete(orm::OnDelete::restrict).related_name("songs");
    }
};

// on_delete: do_nothing (the database's constraint decides).
struct Shelf : orm::Model<Shelf> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Shelf>& m) {
        m.table("weft_ct_rel_shelf");
        m.field(&Shelf::id, "id").primary_key();
        m.field(&Shelf::name, "name").max_length(40);
    }
};
struct Slot : orm::Model<Slot> {
    std::int64_t id = 0;
    std::int32_t position = 0;
    orm::ForeignKey<Shelf> shelf;
    static void describe(orm::Meta<Slot>& m) {
        m.table("weft_ct_rel_slot");
        m.field(&Slot::id, "id").primary_key();
        m.field(&Slot::position, "position");
        m.field(&Slot::shelf, "shelf").on_delete(orm::OnDelete::do_nothing).related_name("slots");
    }
};

inline void Publisher::describe(orm::Meta<Publisher>& m) {
    m.table("weft_ct_rel_publisher");
    m.field(&Publisher::id, "id").primary_key();
    m.field(&Publisher::name, "name").max_length(40).unique();
    m.field(&Publisher::authors, "authors");
}

inline void Author::describe(orm::Meta<Author>& m) {
    m.table("weft_ct_rel_author");
    m.field(&Author::id, "id").primary_key();
    m.field(&Author::name, "name").max_length(40).unique();
    m.field(&Author::born, "born");
    m.field(&Author::publisher, "publisher").null().on_delete(orm::OnDelete::set_null).related_name("authors");
    m.field(&Author::books, "books");
    m.field(&Author::edited, "edited");
    m.field(&Author::profile, "profile");
}

inline void Tag::describe(orm::Meta<Tag>& m) {
    m.table("weft_ct_rel_tag");
    m.field(&Tag::id, "id").primary_key();
    m.field(&Tag::name, "name").max_length(40).unique();
    m.field(&Tag::books, "books");
}

inline void Book::describe(orm::Meta<Book>& m) {
    m.table("weft_ct_rel_book");
    m.field(&Book::id, "id").primary_key();
    m.field(&Book::title, "title").max_length(60);
    m.field(&Book::price, "price").default_value(0.0);
    m.field(&Book::pages, "pages");
    m.field(&Book::author, "author").on_delete(orm::OnDelete::cascade).related_name("books");
    m.field(&Book::editor, "editor").null().on_delete(orm::OnDelete::set_null).related_name("edited");
    m.field(&Book::tags, "tags").related_name("books");
    m.ordering({"id"});
}

// The tables of the library models, in dependency order.
using Library = Tables<Publisher, Author, Tag, Book, Review, Profile>;

// A small library. Authors: Ann (Penguin, 1970), Bob (Tor, 1980), Cid (no publisher, 1990),
// Dee (Penguin, 2000, no books). Tags: async, cpp, db, unused.
//   b1 "Fibers in Practice"  Ann  12.50 320  async, cpp  editor Bob
//   b2 "Pools & Deadlines"   Ann  30.00 150  db          -
//   b3 "Async Adventures"    Bob   8.75  90  async, db   editor Ann
//   b4 "Bob's Databases"     Bob  20.00 200  cpp, db     -
//   b5 "Zero"                Cid   0.00   0  -           -
// Reviews: b1 5 stars, b1 3 stars, b3 4 stars. Profiles: Ann "writes about fibers".
struct Seed {
    Publisher penguin, tor;
    Author ann, bob, cid, dee;
    Tag async, cpp, db, unused;
    Book b1, b2, b3, b4, b5;
};

inline Seed seed_library() {
    Seed s;
    s.penguin = Publisher::objects.create({.name = "Penguin"});
    s.tor = Publisher::objects.create({.name = "Tor"});
    s.ann = Author::objects.create({.name = "Ann", .born = 1970, .publisher = s.penguin});
    s.bob = Author::objects.create({.name = "Bob", .born = 1980, .publisher = s.tor});
    s.cid = Author::objects.create({.name = "Cid", .born = 1990});
    s.dee = Author::objects.create({.name = "Dee", .born = 2000, .publisher = s.penguin});
    s.async = Tag::objects.create({.name = "async"});
    s.cpp = Tag::objects.create({.name = "cpp"});
    s.db = Tag::objects.create({.name = "db"});
    s.unused = Tag::objects.create({.name = "unused"});
    s.b1 = Book::objects.create({.title = "Fibers in Practice", .price = 12.5, .pages = 320, .author = s.ann,
                                 .editor = s.bob});
    s.b2 = Book::objects.create({.title = "Pools & Deadlines", .price = 30.0, .pages = 150, .author = s.ann});
    s.b3 = Book::objects.create({.title = "Async Adventures", .price = 8.75, .pages = 90, .author = s.bob,
                                 .editor = s.ann});
    s.b4 = Book::objects.create({.title = "Bob's Databases", .price = 20.0, .pages = 200, .author = s.bob});
    s.b5 = Book::objects.create({.title = "Zero", .price = 0.0, .pages = 0, .author = s.cid});
    s.b1.tags.add(std::vector<Tag>{s.async, s.cpp});
    s.b2.tags.add(s.db);
    s.b3.tags.add(std::vector<Tag>{s.async, s.db});
    s.b4.tags.add(std::vector<Tag>{s.cpp, s.db});
    Review::objects.create({.book = s.b1, .stars = 5});
    Review::objects.create({.book = s.b1, .stars = 3});
    Review::objects.create({.book = s.b3, .stars = 4});
    Profile::objects.create({.author = s.ann, .bio = "writes about fibers"});
    return s;
}

template <class QS>
std::vector<std::string> names_of(const QS& qs) {
    std::vector<std::string> out;
    for (const auto& x : qs) out.push_back(x.name);
    return out;
}

template <class QS>
std::vector<std::string> titles_of(const QS& qs) {
    std::vector<std::string> out;
    for (const auto& x : qs) out.push_back(x.title);
    return out;
}

}  // namespace weft::conformance::rel_models

// The number of SELECT statements a Capture saw; a mismatch shows the statements.
#define CT_CHECK_SELECTS(cap, n)                                                                                  \
    do {                                                                                                          \
        const std::size_t ct_n_ = (cap).count("SELECT");                                                          \
        if (ct_n_ != std::size_t(n))                                                                              \
            CT_FAIL_AT(fmt::format("{} SELECT statements, expected {}:\n        {}", ct_n_, std::size_t(n),       \
                                   fmt::join((cap).sql(), "\n        ")));                                       \
    } while (0)
