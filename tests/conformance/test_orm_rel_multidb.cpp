// ORM conformance, relations and several databases. The routers' allow_relation guards every
// public way of linking objects: save() / create() of an object holding a related object,
// bulk_create(), and add() / set() / create() on related sets; a refusal is an orm::RouterError
// naming both models and both databases, raised before any SQL. And relation operations on
// objects of "other" (deletes with cascade and protect, set add / remove / clear / set, lazy
// loads) run on "other" and leave "default" alone. "default" is the runner's database, "other"
// a second one (two_databases.hpp).
#include <algorithm>
#include <utility>

#include <fmt/ranges.h>

#include "tests/conformance/test_rel_models.hpp"
#include "tests/conformance/two_databases.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::rel_models;

namespace {
using Strings = std::vector<std::string>;

// Allows every relation, whatever the databases.
struct AllowRelations : Router {
    std::optional<bool> allow_relation(const ModelInfo&, std::string_view, const ModelInfo&,
                                       std::string_view) const override {
        return true;
    }
};

// Refuses every relation, on one database too.
struct RefuseRelations : Router {
    std::optional<bool> allow_relation(const ModelInfo&, std::string_view, const ModelInfo&,
                                       std::string_view) const override {
        return false;
    }
};

template <class QS>
Strings sorted_names(const QS& qs) {
    Strings v = names_of(qs);
    std::sort(v.begin(), v.end());
    return v;
}

template <class QS>
Strings sorted_titles(const QS& qs) {
    Strings v = titles_of(qs);
    std::sort(v.begin(), v.end());
    return v;
}

// The same key names Ann on "default" and Zed on "other" (loaded from there): only the database
// tells the two apart.
std::pair<Author, Author> same_key_authors(Context& ctx) {
    auto ann = Author::objects.create({.name = "Ann"});
    Author::objects.using_db("other").create({.name = "Zed"});
    Author zed = Author::objects.using_db("other").get("name", "Zed");
    CT_REQUIRE(zed.id == ann.id);
    CT_REQUIRE(zed.db() == "other");
    return {ann, zed};
}

}  // namespace

// `expr` must throw orm::RouterError whose message contains each of the strings that follow.
#define CT_CHECK_REFUSED(expr, ...) CT_CHECK_THROWS_WITH(expr, ::orm::RouterError, __VA_ARGS__)

CONFORMANCE_TEST("orm multidb relations: save() and create() of an object holding an object of another database are refused") {
    TwoDatabases<Publisher, Author, Tag, Book> dbs(ctx);
    auto [ann, zed] = same_key_authors(ctx);

    Book crossing{.title = "Crossing", .author = zed};
    Book edited{.title = "Edited", .author = ann, .editor = zed};
    {
        Capture cap;
        CT_CHECK_REFUSED(crossing.save(), "Book (on database 'default') to ", "Author (on database 'other')",
                         "Book.author", "objects on different databases cannot be related");
        CT_CHECK_REFUSED(Book::objects.create({.title = "Crossing", .author = zed}),
                         "Book (on database 'default') to ", "Author (on database 'other')");
        CT_CHECK_REFUSED(edited.save(), "Book (on database 'default') to ", "Author (on database 'other')",
                         "Book.editor");
        // A router that refuses says the same.
        orm::add_router(std::make_shared<RefuseRelations>());
        CT_CHECK_REFUSED(crossing.save(), "Book (on database 'default') to ", "Author (on database 'other')");
        // ... and is asked on one database too.
        Book local{.title = "Local", .author = ann};
        CT_CHECK_REFUSED(local.save(), "Book (on database 'default') to ", "Author (on database 'default')",
                         "a database router does not allow this relation");
        orm::clear_routers();
        CT_CHECK_EQ(cap.size(), std::size_t{0});  // refused before any SQL
    }
    CT_CHECK_EQ(crossing.id, std::int64_t{0});
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Book::objects.using_db("other").count(), std::int64_t{0});

    // On Zed's own database no router needs an opinion.
    Book there{.title = "There", .author = zed};
    there.save("other");
    CT_CHECK(there.db() == "other");
    Book::objects.using_db("other").create({.title = "There too", .author = zed});
    CT_CHECK_EQ(Book::objects.using_db("other").filter("author__name", "Zed").count(), std::int64_t{2});
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{0});

    // A router that allows it lets it through; the key is stored as it is (on "default" it names Ann).
    orm::add_router(std::make_shared<AllowRelations>());
    crossing.save();
    CT_CHECK(crossing.db() == "default");
    Book::objects.create({.title = "Crossing too", .author = zed});
    edited.save();
    CT_CHECK_EQ(Book::objects.get("title", "Crossing").author->name, std::string("Ann"));
    CT_CHECK_EQ(Book::objects.filter("author__name", "Ann").count(), std::int64_t{3});
    CT_CHECK_EQ(Book::objects.using_db("other").count(), std::int64_t{2});
}

CONFORMANCE_TEST("orm multidb relations: set add(), set() and create() with objects of another database are refused") {
    TwoDatabases<Publisher, Author, Tag, Book> dbs(ctx);
    auto ann = Author::objects.create({.name = "Ann"});
    auto async = Tag::objects.create({.name = "async"});
    auto cpp = Tag::objects.create({.name = "cpp"});
    auto db = Tag::objects.create({.name = "db"});
    auto book = Book::objects.create({.title = "Fibers", .author = ann});
    book.tags.add(std::vector<Tag>{async, cpp});
    // On "other": Zed, his book, and tags whose keys name other tags on "default".
    auto zed = Author::objects.using_db("other").create({.name = "Zed"});
    auto far = Book::objects.using_db("other").create({.title = "Far", .author = zed});
    auto x = Tag::objects.using_db("other").create({.name = "x"});
    Tag::objects.using_db("other").create({.name = "y"});
    Tag::objects.using_db("other").create({.name = "remote"});
    Tag remote = Tag::objects.using_db("other").get("name", "remote");
    CT_REQUIRE(remote.id == db.id);
    CT_REQUIRE(zed.id == ann.id);

    {
        Capture cap;
        CT_CHECK_REFUSED(book.tags.add(remote), "Book (on database 'default') to ", "Tag (on database 'other')",
                         "Book.tags", "add()");
        CT_CHECK_REFUSED(book.tags.add(std::vector<Tag>{db, remote}), "Book (on database 'default') to ",
                         "Tag (on database 'other')");
        CT_CHECK_REFUSED(book.tags.set(std::vector<Tag>{remote}), "Book (on database 'default') to ",
                         "Tag (on database 'other')", "Book.tags", "set()");
        CT_CHECK_REFUSED(book.tags.set(std::vector<Tag>{cpp, remote}), "Tag (on database 'other')");
        CT_CHECK_REFUSED(remote.books.add(book), "Tag (on database 'other') to ", "Book (on database 'default')",
                         "Tag.books");
        CT_CHECK_REFUSED(remote.books.set(std::vector<Book>{book}), "Tag (on database 'other') to ",
                         "Book (on database 'default')", "set()");
        CT_CHECK_REFUSED(ann.books.add(far), "Author (on database 'default') to ", "Book (on database 'other')",
                         "Author.books");
        CT_CHECK_REFUSED(ann.edited.set(std::vector<Book>{far}), "Author (on database 'default') to ",
                         "Book (on database 'other')", "Author.edited", "set()");
        // create() through a set of "other": the new book would hold Ann of "default".
        CT_CHECK_REFUSED(zed.books.create(Book{.title = "Mixed", .editor = ann}), "Book (on database 'other') to ",
                         "Author (on database 'default')", "Book.editor");
        CT_CHECK_REFUSED(remote.books.create(Book{.title = "Mixed", .author = ann}), "Book (on database 'other') to ",
                         "Author (on database 'default')", "Book.author");
        CT_CHECK_EQ(cap.size(), std::size_t{0});  // refused before any SQL
    }
    // Nothing changed on either database.
    CT_CHECK_EQ(sorted_names(book.tags.all()), (Strings{"async", "cpp"}));
    CT_CHECK_EQ(remote.books.count(), std::int64_t{0});
    CT_CHECK_EQ(titles_of(ann.books.all()), (Strings{"Fibers"}));
    CT_CHECK_EQ(ann.edited.count(), std::int64_t{0});
    CT_CHECK_EQ(titles_of(zed.books.all()), (Strings{"Far"}));
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.using_db("other").count(), std::int64_t{1});

    // Objects of the set's own database: no router needs an opinion.
    Tag here = Tag::objects.get("name", "db");
    book.tags.add(here);
    CT_CHECK_EQ(sorted_names(book.tags.all()), (Strings{"async", "cpp", "db"}));
    book.tags.set(std::vector<Tag>{here, cpp});
    CT_CHECK_EQ(sorted_names(book.tags.all()), (Strings{"cpp", "db"}));
    remote.books.add(far);
    CT_CHECK_EQ(titles_of(remote.books.all()), (Strings{"Far"}));
    // create() makes the new book the owner's, whatever it held before: Ann (same key, other
    // database) is replaced by Zed, not kept in the book's cache.
    auto mine = zed.books.create(Book{.title = "Mine", .author = ann});
    CT_CHECK(mine.db() == "other");
    CT_CHECK_EQ(mine.author->name, std::string("Zed"));
    CT_CHECK_EQ(Book::objects.using_db("other").get("title", "Mine").author->name, std::string("Zed"));
    CT_CHECK_EQ(Book::objects.filter("title", "Mine").count(), std::int64_t{0});

    // A router refusing relations is asked on one database too.
    orm::add_router(std::make_shared<RefuseRelations>());
    CT_CHECK_REFUSED(book.tags.add(async), "Book (on database 'default') to ", "Tag (on database 'default')",
                     "a database router does not allow this relation");
    CT_CHECK_REFUSED(book.tags.set(std::vector<Tag>{async}), "Tag (on database 'default')");
    orm::clear_routers();
    CT_CHECK_EQ(sorted_names(book.tags.all()), (Strings{"cpp", "db"}));

    // A router allowing them: the keys are linked as they are (on "default", remote's names db, x's async).
    orm::add_router(std::make_shared<AllowRelations>());
    book.tags.set(std::vector<Tag>{remote});
    CT_CHECK_EQ(sorted_names(book.tags.all()), (Strings{"db"}));
    book.tags.add(x);
    CT_CHECK_EQ(sorted_names(book.tags.all()), (Strings{"async", "db"}));
    orm::clear_routers();
    CT_CHECK_EQ(titles_of(remote.books.all()), (Strings{"Far"}));  // "other" untouched
}

CONFORMANCE_TEST("orm multidb relations: bulk_create() of objects holding objects of another database is refused before any SQL") {
    TwoDatabases<Publisher, Author, Tag, Book> dbs(ctx);
    auto [ann, zed] = same_key_authors(ctx);
    std::vector<Book> books{{.title = "fine", .author = ann},
                            {.title = "crossing", .author = zed},
                            {.title = "fine too", .author = ann.id}};
    {
        Capture cap;
        CT_CHECK_REFUSED(Book::objects.bulk_create(books), "Book (on database 'default') to ",
                         "Author (on database 'other')", "Book.author", "bulk_create()", "[1]");
        CT_CHECK_EQ(cap.size(), std::size_t{0});  // not even BEGIN
        // On Zed's database, Ann is the one refused.
        CT_CHECK_REFUSED(Book::objects.using_db("other").bulk_create(books), "Book (on database 'other') to ",
                         "Author (on database 'default')", "[0]");
        CT_CHECK_EQ(cap.size(), std::size_t{0});
    }
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Book::objects.using_db("other").count(), std::int64_t{0});
    for (const Book& b : books) CT_CHECK_EQ(b.id, std::int64_t{0});  // no keys handed out

    // Objects of one database go there.
    std::vector<Book> there{{.title = "there", .author = zed}, {.title = "there too", .author = zed}};
    Book::objects.using_db("other").bulk_create(there);
    CT_CHECK_EQ(titles_of(Book::objects.using_db("other").filter("author__name", "Zed").order_by("title")),
                (Strings{"there", "there too"}));
    // A router refusing relations is asked on one database too.
    orm::add_router(std::make_shared<RefuseRelations>());
    std::vector<Book> local{{.title = "local", .author = ann}};
    CT_CHECK_REFUSED(Book::objects.bulk_create(local), "Author (on database 'default')",
                     "a database router does not allow this relation");
    orm::clear_routers();
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{0});
    // A router allowing it: all three go to "default", where Zed's key names Ann.
    orm::add_router(std::make_shared<AllowRelations>());
    Book::objects.bulk_create(books);
    CT_CHECK_EQ(sorted_titles(Book::objects.filter("author__name", "Ann")), (Strings{"crossing", "fine", "fine too"}));
    CT_CHECK_EQ(Book::objects.using_db("other").count(), std::int64_t{2});
}

CONFORMANCE_TEST("orm multidb relations: deleting on \"other\" cascades down a chain there and leaves \"default\" alone") {
    TwoDatabases<Country, Region, City, Monument> dbs(ctx);
    for (const char* alias : {"default", "other"}) {  // the same rows on both
        auto a = Country::objects.using_db(alias).create({.name = "A"});
        auto b = Country::objects.using_db(alias).create({.name = "B"});
        auto r1 = Region::objects.using_db(alias).create({.name = "r1", .country = a});
        auto r2 = Region::objects.using_db(alias).create({.name = "r2", .country = a});
        auto r3 = Region::objects.using_db(alias).create({.name = "r3", .country = b});
        City::objects.using_db(alias).create({.name = "x1", .region = r1});
        City::objects.using_db(alias).create({.name = "x2", .region = r1});
        City::objects.using_db(alias).create({.name = "x3", .region = r2});
        City::objects.using_db(alias).create({.name = "x4", .region = r3});
    }
    auto unchanged_default = [&] {
        CT_CHECK_EQ(sorted_names(Country::objects.all()), (Strings{"A", "B"}));
        CT_CHECK_EQ(sorted_names(Region::objects.all()), (Strings{"r1", "r2", "r3"}));
        CT_CHECK_EQ(sorted_names(City::objects.all()), (Strings{"x1", "x2", "x3", "x4"}));
    };
    Capture cap;
    Country a = Country::objects.using_db("other").get("name", "A");
    CT_CHECK(a.remove() >= 1);  // goes back to "other", where it came from
    CT_CHECK(cap.count("DELETE") >= 3);
    CT_CHECK_EQ(on_alias(cap, "other"), cap.size());
    CT_CHECK_EQ(names_of(Country::objects.using_db("other")), (Strings{"B"}));
    CT_CHECK_EQ(names_of(Region::objects.using_db("other")), (Strings{"r3"}));
    CT_CHECK_EQ(names_of(City::objects.using_db("other")), (Strings{"x4"}));
    unchanged_default();
    // By queryset, from the middle of the chain.
    cap.clear();
    CT_CHECK(Region::objects.using_db("other").filter("cities__name", "x4").remove() >= 1);
    CT_CHECK_EQ(on_alias(cap, "other"), cap.size());
    CT_CHECK_EQ(Region::objects.using_db("other").count(), std::int64_t{0});
    CT_CHECK_EQ(City::objects.using_db("other").count(), std::int64_t{0});
    CT_CHECK_EQ(names_of(Country::objects.using_db("other")), (Strings{"B"}));
    unchanged_default();
}

CONFORMANCE_TEST("orm multidb relations: protect on \"other\" refuses and deletes nothing there or on \"default\"") {
    TwoDatabases<Genre, Novel, Country, Region, City, Monument> dbs(ctx);
    for (const char* alias : {"default", "other"}) {
        auto sf = Genre::objects.using_db(alias).create({.name = "sf"});
        Novel::objects.using_db(alias).create({.title = "Dune", .genre = sf});
        auto a = Country::objects.using_db(alias).create({.name = "A"});
        auto r = Region::objects.using_db(alias).create({.name = "r", .country = a});
        auto x = City::objects.using_db(alias).create({.name = "x", .region = r});
        Monument::objects.using_db(alias).create({.name = "tower", .city = x});
    }
    auto counts = [](std::string_view alias) {
        return std::vector<std::int64_t>{
            Genre::objects.using_db(alias).count(),  Novel::objects.using_db(alias).count(),
            Country::objects.using_db(alias).count(), Region::objects.using_db(alias).count(),
            City::objects.using_db(alias).count(),   Monument::objects.using_db(alias).count()};
    };
    const std::vector<std::int64_t> all_there{1, 1, 1, 1, 1, 1};
    Capture cap;
    Genre sf = Genre::objects.using_db("other").get("name", "sf");
    try {
        sf.remove();
        CT_FAIL_AT("removing a protected genre on \"other\" did not throw");
    } catch (const ProtectedError& e) {
        CT_CHECK_EQ(e.objects().size(), std::size_t{1});
        CT_CHECK(std::string_view(e.what()).find("Novel(id=") != std::string_view::npos);
    }
    CT_CHECK_THROWS_AS(Genre::objects.using_db("other").all().remove(), ProtectedError);
    // Reached through a cascade: the whole delete is refused.
    CT_CHECK_THROWS_AS(Country::objects.using_db("other").get("name", "A").remove(), ProtectedError);
    CT_CHECK(cap.size() > 0);
    CT_CHECK_EQ(on_alias(cap, "other"), cap.size());
    CT_CHECK_EQ(counts("other"), all_there);
    CT_CHECK_EQ(counts("default"), all_there);
    CT_CHECK(!orm::in_atomic("other"));
    // The rows of "default" are deleted on their own terms: without its novel, its genre goes.
    Novel::objects.filter("genre__name", "sf").remove();
    CT_CHECK(Genre::objects.get("name", "sf").remove() >= 1);
    CT_CHECK_EQ(counts("default"), (std::vector<std::int64_t>{0, 0, 1, 1, 1, 1}));
    CT_CHECK_EQ(counts("other"), all_there);
}

CONFORMANCE_TEST("orm multidb relations: sets of objects of \"other\" change \"other\" only; lazy loads go there") {
    TwoDatabases<Publisher, Author, Tag, Book, Review, Profile> dbs(ctx);
    const Seed here = seed_library();
    orm::add_router(std::make_shared<AllTo>("other"));  // the same library on "other"
    Seed there = seed_library();
    orm::clear_routers();
    CT_REQUIRE(there.b5.id == here.b5.id);
    CT_REQUIRE(there.unused.id == here.unused.id);
    CT_REQUIRE(there.b5.db() == "other");
    // Tells the databases apart: on "other", Ann is Anna.
    CT_REQUIRE(Author::objects.using_db("other").filter("pk", there.ann.id).update({{"name", "Anna"}}) == 1);

    Capture cap;
    there.b5.tags.add(there.unused);
    there.b5.tags.add(std::vector<Tag>{there.async, there.db});
    there.b1.tags.remove(there.async);
    there.b3.tags.clear();
    there.b4.tags.set(std::vector<Tag>{there.unused});
    there.unused.books.add(there.b2);
    there.bob.edited.set(std::vector<Book>{there.b2, there.b4});
    there.bob.edited.remove(there.b2);
    there.ann.edited.clear();
    there.dee.books.add(there.b5);
    Book loaded = Book::objects.using_db("other").get("pk", there.b2.id);  // loaded, not created, there
    loaded.tags.add(there.cpp);
    Author xia{.name = "Xia"};
    xia.save("other");
    xia.books.create(Book{.title = "Xia's"});
    CT_CHECK(cap.size() > 20);
    CT_CHECK_EQ(on_alias(cap, "other"), cap.size());

    auto tags_of = [](const Book& b) { return sorted_names(b.tags.all()); };
    CT_CHECK_EQ(tags_of(there.b1), (Strings{"cpp"}));
    CT_CHECK_EQ(tags_of(there.b2), (Strings{"cpp", "db", "unused"}));
    CT_CHECK_EQ(tags_of(there.b3), (Strings{}));
    CT_CHECK_EQ(tags_of(there.b4), (Strings{"unused"}));
    CT_CHECK_EQ(tags_of(there.b5), (Strings{"async", "db", "unused"}));
    CT_CHECK_EQ(titles_of(there.bob.edited.all()), (Strings{"Bob's Databases"}));
    CT_CHECK_EQ(there.ann.edited.count(), std::int64_t{0});
    CT_CHECK_EQ(titles_of(there.dee.books.all()), (Strings{"Zero"}));
    CT_CHECK_EQ(there.cid.books.count(), std::int64_t{0});
    CT_CHECK_EQ(Book::objects.using_db("other").get("title", "Xia's").author->name, std::string("Xia"));
    // "default" is as seeded.
    CT_CHECK_EQ(tags_of(here.b1), (Strings{"async", "cpp"}));
    CT_CHECK_EQ(tags_of(here.b2), (Strings{"db"}));
    CT_CHECK_EQ(tags_of(here.b3), (Strings{"async", "db"}));
    CT_CHECK_EQ(tags_of(here.b4), (Strings{"cpp", "db"}));
    CT_CHECK_EQ(tags_of(here.b5), (Strings{}));
    CT_CHECK_EQ(titles_of(here.bob.edited.all()), (Strings{"Fibers in Practice"}));
    CT_CHECK_EQ(titles_of(here.ann.edited.all()), (Strings{"Async Adventures"}));
    CT_CHECK_EQ(here.dee.books.count(), std::int64_t{0});
    CT_CHECK_EQ(titles_of(here.cid.books.all()), (Strings{"Zero"}));
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{5});
    CT_CHECK_EQ(Author::objects.filter("name", "Xia").count(), std::int64_t{0});

    // Lazy loads of books loaded from "other" go to "other" (one query each).
    cap.clear();
    Strings authors, editors;
    const auto three = Operand({"Fibers in Practice", "Bob's Databases", "Zero"});
    for (const Book& b : Book::objects.using_db("other").filter("title__in", three)) {
        authors.push_back(b.author->name);
        editors.push_back(b.editor ? b.editor->name : "-");
    }
    CT_CHECK_EQ(authors, (Strings{"Anna", "Bob", "Dee"}));
    CT_CHECK_EQ(editors, (Strings{"-", "Bob", "-"}));
    CT_CHECK_EQ(cap.size(), std::size_t{5});  // the books, three authors, one editor
    CT_CHECK_EQ(on_alias(cap, "other"), cap.size());
    // And the same from "default".
    cap.clear();
    for (const Book& b : Book::objects.filter("title__in", three))
        authors.push_back(b.author->name);
    CT_CHECK_EQ(authors, (Strings{"Anna", "Bob", "Dee", "Ann", "Bob", "Cid"}));
    CT_CHECK_EQ(on_alias(cap, "default"), std::size_t{4});
    // A set of an author loaded from "other" reads "other".
    Author anna = Author::objects.using_db("other").get("name", "Anna");
    CT_CHECK_EQ(titles_of(anna.books.all()), (Strings{"Fibers in Practice", "Pools & Deadlines"}));
    CT_CHECK_EQ(sorted_names(anna.books.all().order_by("id").list().at(0).tags.all()), (Strings{"cpp"}));
    CT_CHECK_EQ(on_alias(cap, "default"), std::size_t{4});
}
