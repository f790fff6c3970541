// ORM conformance: what refresh_from_db() and loading an object again do to cached related
// objects and prefetched rows (as in Django: a refresh reads them again on next access; a load
// of the same object from another database does not keep the first database's answers).
#include <cstdint>

#include "tests/conformance/test_rel_models.hpp"
#include "tests/conformance/two_databases.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::rel_models;
using weft::conformance::orm_models::Capture;

CONFORMANCE_TEST("orm relations: refresh_from_db forgets cached reverse one-to-one answers and prefetched sets") {
    Library tables(ctx);
    auto ann = Author::objects.create({.name = "Ann", .born = 1970});
    Book::objects.create({.title = "First", .pages = 10, .author = ann});

    auto a = Author::objects.prefetch_related("books", "profile").get("pk", ann.id);
    CT_REQUIRE(a.books.is_prefetched());
    CT_REQUIRE(a.profile.is_loaded());
    CT_CHECK(!a.profile.exists());  // "none", cached
    CT_CHECK_EQ(a.books.count(), std::int64_t{1});

    // Changes made elsewhere: a profile now points at Ann, and she has a second book.
    Profile::objects.create({.author = ann, .bio = "writes"});
    Book::objects.create({.title = "Second", .pages = 20, .author = ann});
    CT_CHECK(!a.profile.exists());                  // still the cached answer
    CT_CHECK_EQ(a.books.count(), std::int64_t{1});  // still the prefetched rows

    {
        Capture log;
        a.refresh_from_db();
        CT_CHECK_EQ(log.size(), std::size_t{1});  // the author's own row only
    }
    CT_CHECK(!a.books.is_prefetched());
    CT_CHECK(!a.profile.is_loaded());
    CT_CHECK(a.profile.exists());
    CT_CHECK_EQ(a.profile->bio, std::string("writes"));
    CT_CHECK_EQ(a.books.count(), std::int64_t{2});

    // A cached object (not only "none") is read again too.
    Profile::objects.filter("author", ann.id).update({{"bio", "rewrites"}});
    CT_CHECK_EQ(a.profile->bio, std::string("writes"));
    a.refresh_from_db();
    CT_CHECK_EQ(a.profile->bio, std::string("rewrites"));

    // Loading over an object with the same key keeps nothing it had not loaded itself:
    // get() builds a fresh object, so its sets start unprefetched.
    auto again = Author::objects.get("pk", ann.id);
    CT_CHECK(!again.books.is_prefetched());
    CT_CHECK(!again.profile.is_loaded());
}

CONFORMANCE_TEST("orm relations: an object saved to another database drops what it cached from the first") {
    TwoDatabases<Publisher, Author, Tag, Book, Review, Profile> dbs(ctx);
    auto ann = Author::objects.create({.name = "Ann", .born = 1970});
    Book::objects.create({.title = "On default", .pages = 10, .author = ann});
    Profile::objects.create({.author = ann, .bio = "default bio"});
    auto a = Author::objects.prefetch_related("books", "profile").get("pk", ann.id);
    CT_REQUIRE(a.books.is_prefetched());
    CT_REQUIRE(a.profile.is_loaded());

    // The same key on "other", where Ann has no books and no profile: what came from "default"
    // must not answer for her there.
    a.save("other");
    CT_CHECK_EQ(a.db(), std::string("other"));
    CT_CHECK(!a.books.is_prefetched());
    CT_CHECK(!a.profile.is_loaded());
    CT_CHECK_EQ(a.books.count(), std::int64_t{0});
    CT_CHECK(!a.profile.exists());
    // "default" is unchanged.
    CT_CHECK_EQ(Book::objects.filter("author", ann.id).count(), std::int64_t{1});
}
