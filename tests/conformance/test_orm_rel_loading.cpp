// ORM conformance, relations: loading rows over objects that already hold related objects.
// A reload (refresh_from_db, a get into a reused object) replaces every foreign key and drops
// the objects cached for the old keys; the database an object came from stays with its foreign
// keys, so lazy loads go there.
#include <fmt/format.h>

#include "tests/conformance/test_orm_models.hpp"
#include "tests/conformance/test_rel_models.hpp"
#include "tests/conformance/two_databases.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::rel_models;

CONFORMANCE_TEST("orm relations: reloading replaces foreign keys and drops the objects cached for the old ones") {
    Tables<Publisher, Author, Tag, Book, Review> tables(ctx);
    auto ann = Author::objects.create({.name = "Ann"});
    auto bob = Author::objects.create({.name = "Bob"});
    auto fibers = Book::objects.create({.title = "Fibers", .author = ann});
    auto loops = Book::objects.create({.title = "Loops", .author = bob, .editor = ann});
    auto r = Review::objects.create({.book = fibers, .stars = 4});

    // A model whose only relation members are foreign keys (Review), and one with sets too (Book).
    Review got = Review::objects.select_related("book").get("pk", r.id);
    CT_REQUIRE(got.book.is_loaded());
    CT_CHECK_EQ(got.book->title, std::string("Fibers"));
    Book b = Book::objects.select_related("author", "editor").get("pk", loops.id);
    CT_REQUIRE(b.author.is_loaded());
    CT_REQUIRE(b.editor.is_loaded());

    CT_CHECK_EQ(Review::objects.filter("pk", r.id).update({{"book", loops.id}, {"stars", 2}}), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.filter("pk", loops.id).update({{"author", ann.id}, {"editor", nullptr}}), std::int64_t{1});
    {
        Capture cap;
        got.refresh_from_db();
        b.refresh_from_db();
        CT_CHECK_EQ(cap.size(), std::size_t{2});  // one SELECT each: nothing related is loaded yet
    }
    CT_CHECK_EQ(got.stars, 2);
    CT_CHECK(got.book.id() == std::optional<std::int64_t>(loops.id));
    CT_CHECK(!got.book.is_loaded());  // the cached "Fibers" is gone with its key
    CT_CHECK(b.author.id() == std::optional<std::int64_t>(ann.id));
    CT_CHECK(!b.author.is_loaded());
    CT_CHECK(!b.editor.has_value());
    CT_CHECK(b.editor.get_or_null() == nullptr);
    {
        Capture cap;
        CT_CHECK_EQ(got.book->title, std::string("Loops"));  // loads the new key's row
        CT_CHECK_EQ(b.author->name, std::string("Ann"));
        CT_CHECK_EQ(cap.size(), std::size_t{2});
        CT_CHECK_EQ(got.book->title, std::string("Loops"));  // cached now
        CT_CHECK_EQ(cap.size(), std::size_t{2});
    }

    // A get into an object that held another row's related object: the same.
    got = Review::objects.select_related("book").get("pk", r.id);
    CT_REQUIRE(got.book.is_loaded());
    auto r2 = Review::objects.create({.book = fibers, .stars = 5});
    got = Review::objects.get("pk", r2.id);
    CT_CHECK(!got.book.is_loaded());
    CT_CHECK_EQ(got.book->title, std::string("Fibers"));
}

CONFORMANCE_TEST("orm relations: foreign keys of loaded objects lazily load from the database the object came from") {
    TwoDatabases<Publisher, Author, Tag, Book, Review> dbs(ctx);
    // The same keys name different rows on the two databases.
    auto here = Book::objects.create({.title = "here", .author = Author::objects.create({.name = "Ann"})});
    Author there_author{.name = "Zed"};
    there_author.save("other");
    Book there_book{.title = "there", .author = there_author};
    there_book.save("other");
    CT_REQUIRE(here.id == there_book.id);
    Review on_default{.book = here, .stars = 1};
    on_default.save();
    Review on_other{.book = there_book, .stars = 2};
    on_other.save("other");
    CT_REQUIRE(on_default.id == on_other.id);

    Capture cap;
    Review a = Review::objects.get("pk", on_default.id);
    Review b = Review::objects.using_db("other").get("pk", on_other.id);
    CT_CHECK_EQ(a.book->title, std::string("here"));
    CT_CHECK_EQ(b.book->title, std::string("there"));
    CT_CHECK_EQ(b.book->author->name, std::string("Zed"));
    auto aliases = cap.aliases();
    CT_REQUIRE(aliases.size() == 5);
    CT_CHECK_EQ(aliases[0], std::string("default"));
    CT_CHECK_EQ(aliases[1], std::string("other"));
    CT_CHECK_EQ(aliases[2], std::string("default"));  // a.book
    CT_CHECK_EQ(aliases[3], std::string("other"));    // b.book
    CT_CHECK_EQ(aliases[4], std::string("other"));    // b.book->author
}
