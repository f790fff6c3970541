// ORM conformance, eager loading: select_related (one statement with joins, nested, nullable
// foreign keys by LEFT JOIN, no arguments: every non-null foreign key) and prefetch_related (one
// extra statement per level: reverse foreign keys, many-to-many both ways, nested, forward
// foreign keys, through models, and none over an empty result). Statement counts are exact.
#include <fmt/ranges.h>

#include "tests/conformance/test_rel_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::rel_models;

namespace {
using Strings = std::vector<std::string>;

template <class S>
std::vector<std::string> sorted_names(const S& set) {
    auto v = names_of(set.all());
    std::sort(v.begin(), v.end());
    return v;
}
}  // namespace

CONFORMANCE_TEST("orm select_related: one statement, related objects cached, nested, nullable keys kept") {
    Library tables(ctx);
    auto s = seed_library();
    Capture cap;
    auto books = Book::objects.select_related("author").order_by("id").list();
    CT_CHECK_SELECTS(cap, 1);
    CT_REQUIRE(books.size() == 5);
    Strings names;
    for (const auto& b : books) {
        CT_CHECK(b.author.is_loaded());
        names.push_back(b.author->name);
    }
    CT_CHECK_EQ(names, (Strings{"Ann", "Ann", "Bob", "Bob", "Cid"}));
    CT_CHECK_EQ(books[2].author->born, std::int32_t{1980});
    CT_CHECK(books[2].author->publisher.id() == std::optional<std::int64_t>(s.tor.id));
    CT_CHECK(!books[0].editor.is_loaded());  // not asked for
    CT_CHECK_SELECTS(cap, 1);
    CT_CHECK_EQ(cap.sql()[0].find("JOIN") != std::string::npos, true);

    // Nested: author and the author's publisher in the same statement; Cid has none.
    cap.clear();
    Strings pubs;
    for (const auto& b : Book::objects.select_related("author__publisher").order_by("id")) {
        CT_CHECK(b.author.is_loaded());
        const Publisher* p = b.author->publisher.get_or_null();
        pubs.push_back(p ? p->name : "-");
    }
    CT_CHECK_EQ(pubs, (Strings{"Penguin", "Penguin", "Tor", "Tor", "-"}));
    CT_CHECK_SELECTS(cap, 1);

    // A nullable foreign key: LEFT JOIN keeps the books without an editor, their editor stays empty.
    cap.clear();
    auto edited = Book::objects.select_related("editor", "author").order_by("id").list();
    CT_REQUIRE(edited.size() == 5);
    CT_CHECK_EQ(edited[0].editor->name, std::string("Bob"));
    CT_CHECK_EQ(edited[2].editor->name, std::string("Ann"));
    CT_CHECK(!edited[1].editor.has_value());
    CT_CHECK(edited[1].editor.get_or_null() == nullptr);
    CT_CHECK(edited[4].editor.get_or_null() == nullptr);
    CT_CHECK_EQ(edited[4].author->name, std::string("Cid"));
    CT_CHECK_SELECTS(cap, 1);

    // Filters across the same relation, slicing and get() work with it.
    cap.clear();
    auto bobs = Book::objects.select_related("author").filter("author__name", "Bob").order_by("-price").list();
    CT_CHECK_EQ(titles_of(bobs), (Strings{"Bob's Databases", "Async Adventures"}));
    CT_CHECK_EQ(bobs[0].author->name, std::string("Bob"));
    auto one = Book::objects.select_related("author").get("pk", s.b3.id);
    CT_CHECK_EQ(one.author->name, std::string("Bob"));
    auto first = Book::objects.select_related("author").order_by("-pages").first();
    CT_REQUIRE(first.has_value());
    CT_CHECK_EQ(first->author->name, std::string("Ann"));
    auto page = Book::objects.select_related("author").order_by("id").slice(3, 5).list();
    CT_REQUIRE(page.size() == 2);
    CT_CHECK_EQ(page[1].author->name, std::string("Cid"));
    CT_CHECK_SELECTS(cap, 4);

    // One-to-one and self references.
    cap.clear();
    auto prof = Profile::objects.select_related("author__publisher").get("author__name", "Ann");
    CT_CHECK_EQ(prof.author->publisher->name, std::string("Penguin"));
    CT_CHECK_SELECTS(cap, 1);
}

CONFORMANCE_TEST("orm select_related() without names follows every non-null foreign key") {
    Library tables(ctx);
    seed_library();
    Capture cap;
    auto books = Book::objects.select_related().order_by("id").list();
    CT_REQUIRE(books.size() == 5);
    for (const auto& b : books) CT_CHECK(b.author.is_loaded());
    CT_CHECK(!books[0].editor.is_loaded());             // nullable: not followed
    CT_CHECK(!books[0].author->publisher.is_loaded());  // nullable: not followed
    CT_CHECK_EQ(books[3].author->name, std::string("Bob"));
    CT_CHECK_SELECTS(cap, 1);
    // Nested non-null hops: review -> book -> author.
    cap.clear();
    auto reviews = Review::objects.select_related().order_by("id").list();
    CT_REQUIRE(reviews.size() == 3);
    CT_CHECK_EQ(reviews[2].book->author->name, std::string("Bob"));
    CT_CHECK_EQ(reviews[0].book->title, std::string("Fibers in Practice"));
    CT_CHECK_SELECTS(cap, 1);
}

CONFORMANCE_TEST("orm prefetch_related: reverse foreign keys and many-to-many in one extra statement each") {
    Library tables(ctx);
    auto s = seed_library();
    Capture cap;
    auto authors = Author::objects.order_by("name").prefetch_related("books").list();
    CT_CHECK_SELECTS(cap, 2);
    CT_REQUIRE(authors.size() == 4);
    std::vector<Strings> per;
    for (const auto& a : authors) {
        CT_CHECK(a.books.is_prefetched());
        per.push_back(titles_of(a.books.all()));
    }
    CT_CHECK_EQ(per[0], (Strings{"Fibers in Practice", "Pools & Deadlines"}));
    CT_CHECK_EQ(per[1], (Strings{"Async Adventures", "Bob's Databases"}));
    CT_CHECK_EQ(per[2], (Strings{"Zero"}));
    CT_CHECK(per[3].empty());
    CT_CHECK_EQ(authors[0].books.count(), std::int64_t{2});
    CT_CHECK(!authors[3].books.exists());
    CT_CHECK(!authors[0].edited.is_prefetched());
    CT_CHECK_SELECTS(cap, 2);
    // Chaining on a prefetched set queries again (like Django).
    CT_CHECK_EQ(authors[0].books.all().filter("price__gt", 20).count(), std::int64_t{1});
    CT_CHECK_SELECTS(cap, 3);

    // Many-to-many, forward and reverse.
    cap.clear();
    auto books = Book::objects.order_by("id").prefetch_related("tags").list();
    CT_CHECK_SELECTS(cap, 2);
    CT_REQUIRE(books.size() == 5);
    CT_CHECK_EQ(sorted_names(books[0].tags), (Strings{"async", "cpp"}));
    CT_CHECK_EQ(sorted_names(books[3].tags), (Strings{"cpp", "db"}));
    CT_CHECK(sorted_names(books[4].tags).empty());
    CT_CHECK_EQ(books[2].tags.count(), std::int64_t{2});
    CT_CHECK_SELECTS(cap, 2);
    cap.clear();
    auto tags = Tag::objects.order_by("name").prefetch_related("books").list();
    CT_CHECK_SELECTS(cap, 2);
    CT_REQUIRE(tags.size() == 4);
    CT_CHECK_EQ(tags[2].books.count(), std::int64_t{3});  // db
    CT_CHECK_EQ(tags[3].books.count(), std::int64_t{0});  // unused
    auto db_titles = titles_of(tags[2].books.all());
    std::sort(db_titles.begin(), db_titles.end());
    CT_CHECK_EQ(db_titles, (Strings{"Async Adventures", "Bob's Databases", "Pools & Deadlines"}));
    CT_CHECK_SELECTS(cap, 2);

    // Several names at once: one statement each.
    cap.clear();
    auto both = Author::objects.order_by("name").prefetch_related("books", "edited").list();
    CT_CHECK_SELECTS(cap, 3);
    CT_CHECK_EQ(titles_of(both[1].edited.all()), (Strings{"Fibers in Practice"}));  // Bob edits b1
    CT_CHECK_EQ(both[1].books.count(), std::int64_t{2});
    CT_CHECK_SELECTS(cap, 3);
    (void)s;
}

CONFORMANCE_TEST("orm prefetch_related: nested levels, forward keys, with select_related, empty results") {
    Library tables(ctx);
    auto s = seed_library();
    Capture cap;
    // authors, their books, those books' tags: three statements.
    auto authors = Author::objects.order_by("name").prefetch_related("books__tags").list();
    CT_CHECK_SELECTS(cap, 3);
    CT_REQUIRE(authors.size() == 4);
    Strings ann_tags;
    for (const auto& b : authors[0].books.all()) {
        CT_CHECK(b.tags.is_prefetched());
        for (const auto& t : b.tags.all()) ann_tags.push_back(t.name);
    }
    std::sort(ann_tags.begin(), ann_tags.end());
    CT_CHECK_EQ(ann_tags, (Strings{"async", "cpp", "db"}));
    std::int64_t total = 0;
    for (const auto& a : authors)
        for (const auto& b : a.books.all()) total += b.tags.count();
    CT_CHECK_EQ(total, std::int64_t{7});
    CT_CHECK_SELECTS(cap, 3);
    // The same spelled out level by level.
    cap.clear();
    auto again = Author::objects.prefetch_related("books", "books__tags").list();
    CT_CHECK_EQ(again.size(), std::size_t{4});
    CT_CHECK_SELECTS(cap, 3);

    // Forward foreign keys: one statement for all the authors.
    cap.clear();
    auto books = Book::objects.order_by("id").prefetch_related("author").list();
    CT_CHECK_SELECTS(cap, 2);
    Strings names;
    for (const auto& b : books) {
        CT_CHECK(b.author.is_loaded());
        names.push_back(b.author->name);
    }
    CT_CHECK_EQ(names, (Strings{"Ann", "Ann", "Bob", "Bob", "Cid"}));
    // A nullable forward key: NULL stays empty.
    cap.clear();
    auto with_editors = Book::objects.order_by("id").prefetch_related("editor").list();
    CT_CHECK_EQ(with_editors[0].editor->name, std::string("Bob"));
    CT_CHECK(with_editors[1].editor.get_or_null() == nullptr);
    CT_CHECK_SELECTS(cap, 2);
    // Through a forward key to a reverse set: reviews -> book -> the book's tags.
    cap.clear();
    auto reviews = Review::objects.order_by("id").prefetch_related("book__tags").list();
    CT_CHECK_SELECTS(cap, 3);
    CT_CHECK_EQ(sorted_names(reviews[2].book->tags), (Strings{"async", "db"}));
    CT_CHECK_SELECTS(cap, 3);

    // Combined with select_related: the join and one prefetch statement.
    cap.clear();
    auto mixed = Book::objects.select_related("author").prefetch_related("tags").filter("author__name", "Bob").order_by("id").list();
    CT_REQUIRE(mixed.size() == 2);
    CT_CHECK_EQ(mixed[0].author->name, std::string("Bob"));
    CT_CHECK_EQ(sorted_names(mixed[0].tags), (Strings{"async", "db"}));
    CT_CHECK_SELECTS(cap, 2);

    // get() and first() prefetch too (get by primary key included).
    cap.clear();
    auto ann = Author::objects.prefetch_related("books").get("pk", s.ann.id);
    CT_CHECK(ann.books.is_prefetched());
    CT_CHECK_EQ(ann.books.count(), std::int64_t{2});
    auto bob = Author::objects.prefetch_related("books").get("name", "Bob");
    CT_CHECK_EQ(titles_of(bob.books.all()), (Strings{"Async Adventures", "Bob's Databases"}));
    auto first = Author::objects.order_by("name").prefetch_related("books").first();
    CT_REQUIRE(first.has_value());
    CT_CHECK(first->books.is_prefetched());
    CT_CHECK_SELECTS(cap, 6);

    // An empty result: no extra statement at all.
    cap.clear();
    auto none = Author::objects.filter("name", "nobody").prefetch_related("books", "books__tags").list();
    CT_CHECK(none.empty());
    CT_CHECK_SELECTS(cap, 1);
    cap.clear();
    CT_CHECK(Book::objects.none().prefetch_related("tags").list().empty());
    CT_CHECK_SELECTS(cap, 0);
    // Owners without related rows get empty sets (and their next levels are not queried).
    cap.clear();
    auto dee = Author::objects.filter("name", "Dee").prefetch_related("books__tags").list();
    CT_REQUIRE(dee.size() == 1);
    CT_CHECK(dee[0].books.is_prefetched());
    CT_CHECK_EQ(dee[0].books.count(), std::int64_t{0});
    CT_CHECK_SELECTS(cap, 2);
    (void)s;
}

CONFORMANCE_TEST("orm prefetch_related over a through model and a self reference") {
    Tables<Person, Club, Membership, Category> tables(ctx);
    auto pat = Person::objects.create({.name = "Pat"});
    auto sam = Person::objects.create({.name = "Sam"});
    auto chess = Club::objects.create({.name = "chess"});
    auto go = Club::objects.create({.name = "go"});
    Club::objects.create({.name = "empty"});
    Membership::objects.create({.club = chess, .person = pat, .role = "chair"});
    Membership::objects.create({.club = go, .person = pat});
    Membership::objects.create({.club = go, .person = sam});
    Capture cap;
    auto clubs = Club::objects.order_by("name").prefetch_related("members").list();
    CT_CHECK_SELECTS(cap, 2);
    CT_REQUIRE(clubs.size() == 3);
    CT_CHECK_EQ(sorted_names(clubs[0].members), (Strings{"Pat"}));
    CT_CHECK(sorted_names(clubs[1].members).empty());
    CT_CHECK_EQ(sorted_names(clubs[2].members), (Strings{"Pat", "Sam"}));
    auto people = Person::objects.order_by("name").prefetch_related("clubs").list();
    CT_CHECK_EQ(sorted_names(people[0].clubs), (Strings{"chess", "go"}));
    CT_CHECK_EQ(sorted_names(people[1].clubs), (Strings{"go"}));
    CT_CHECK_SELECTS(cap, 4);

    auto root = Category::objects.create({.name = "root"});
    auto a = Category::objects.create({.name = "a", .parent = root});
    Category::objects.create({.name = "a1", .parent = a});
    Category::objects.create({.name = "a2", .parent = a});
    Category::objects.create({.name = "b", .parent = root});
    cap.clear();
    auto tree = Category::objects.filter("parent__isnull", true).prefetch_related("children__children").list();
    CT_CHECK_SELECTS(cap, 3);
    CT_REQUIRE(tree.size() == 1);
    Strings leaves;
    for (const auto& c : tree[0].children.all())
        for (const auto& g : c.children.all()) leaves.push_back(g.name);
    std::sort(leaves.begin(), leaves.end());
    CT_CHECK_EQ(leaves, (Strings{"a1", "a2"}));
    CT_CHECK_SELECTS(cap, 3);
}

CONFORMANCE_TEST("orm select_related / prefetch_related: unknown or wrong names are FieldErrors") {
    Library tables(ctx);
    seed_library();
    CT_CHECK_THROWS_AS(Book::objects.select_related("title").list(), FieldError);    // not a relation
    CT_CHECK_THROWS_AS(Book::objects.select_related("tags").list(), FieldError);     // many-to-many
    CT_CHECK_THROWS_AS(Author::objects.select_related("books").list(), FieldError);  // reverse, many rows
    CT_CHECK_THROWS_WITH(Book::objects.select_related("auther").list(), FieldError, "author");  // choices listed
    CT_CHECK_THROWS_AS(Book::objects.select_related("author__nope").list(), FieldError);
    CT_CHECK_THROWS_WITH(Author::objects.prefetch_related("bookz").list(), FieldError, "books");
    CT_CHECK_THROWS_AS(Author::objects.prefetch_related("name").list(), FieldError);
    CT_CHECK_THROWS_AS(Author::objects.prefetch_related("books__nope").list(), FieldError);
    // The database is still usable.
    CT_CHECK_EQ(Book::objects.select_related("author").count(), std::int64_t{5});
}

CONFORMANCE_TEST("orm select_for_update with select_related: outer joins lock only the model's rows") {
    Library tables(ctx);
    auto s = seed_library();
    orm::atomic([&] {
        auto books = Book::objects.select_related("author", "editor").order_by("id").select_for_update().list();
        CT_REQUIRE(books.size() == 5);
        CT_CHECK(books[0].editor.is_loaded());
        CT_CHECK_EQ(books[0].editor->name, std::string("Bob"));
        CT_CHECK(!books[1].editor.is_loaded());  // NULL editor: nothing to load
    });
    if (ctx.features().supports_select_for_update) {
        Capture cap;
        orm::atomic([&] { (void)Book::objects.select_related("editor").select_for_update().list(); });
        bool locked_own = false;
        for (const auto& sql : cap.sql())
            locked_own = locked_own || sql.find("FOR UPDATE OF ") != std::string::npos;
        CT_CHECK(locked_own);
    }
}
