// ORM conformance, relations: declarations and DDL (foreign key columns, join tables, dependency
// order), assigning and saving foreign keys, lazy loading (sync, and from many fibers at once in
// async mode), and lookups across relations (forward, reverse, many-to-many, nested) in filter,
// exclude, order_by, values, annotate and aggregate. Sets: test_orm_rel_sets.cpp; eager loading:
// test_orm_rel_eager.cpp; on_delete and bad input: test_orm_rel_delete.cpp.
#include <algorithm>
#include <set>

#include <fmt/ranges.h>

#include "drivers/bridge/bridge.hpp"
#include "drivers/bridge/join_all.hpp"
#include "tests/conformance/test_rel_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::rel_models;

namespace {

using Strings = std::vector<std::string>;

std::int64_t n_of(const Value& v) { return v.as_int64(); }

}  // namespace

CONFORMANCE_TEST("orm relations: metadata of foreign keys, one-to-one, many-to-many and their reverses") {
    const ModelInfo& book = model_info<Book>();
    const FieldInfo& author = book.field("author");
    CT_CHECK_EQ(author.column, std::string("author_id"));
    CT_CHECK(!author.nullable);
    CT_REQUIRE(author.relation != nullptr);
    CT_CHECK(author.relation->kind == RelationKind::foreign_key);
    CT_CHECK(author.relation->on_delete == OnDelete::cascade);
    CT_CHECK(&author.relation->target() == &model_info<Author>());
    CT_CHECK(book.find("author_id") == &author);  // the column name answers too
    CT_CHECK(book.field("editor").nullable);
    CT_CHECK(book.field("editor").relation->on_delete == OnDelete::set_null);
    CT_CHECK_EQ(model_info<Profile>().field("author").unique, true);  // one-to-one: a unique column

    const Relation* books = model_info<Author>().find_relation("books");
    CT_REQUIRE(books != nullptr);
    CT_CHECK(books->kind == RelationKind::reverse_foreign_key);
    CT_CHECK(books->multi_valued());
    CT_CHECK(&books->target() == &book);
    CT_CHECK(model_info<Author>().find_relation("edited") != nullptr);
    const Relation* profile = model_info<Author>().find_relation("profile");
    CT_REQUIRE(profile != nullptr);
    CT_CHECK(profile->kind == RelationKind::reverse_one_to_one);
    CT_CHECK(!profile->multi_valued());
    // No related_name: the pointing model's name in lower case.
    const Relation* review = book.find_relation("review");
    CT_REQUIRE(review != nullptr);
    CT_CHECK(review->kind == RelationKind::reverse_foreign_key);

    const Relation* tags = book.find_relation("tags");
    CT_REQUIRE(tags != nullptr);
    CT_CHECK(tags->kind == RelationKind::many_to_many);
    CT_REQUIRE(tags->through != nullptr);
    CT_CHECK_EQ(tags->through->table(), std::string("weft_ct_rel_book_tags"));
    const Relation* tag_books = model_info<Tag>().find_relation("books");
    CT_REQUIRE(tag_books != nullptr);
    CT_CHECK(tag_books->kind == RelationKind::reverse_many_to_many);
    CT_CHECK(tag_books->through == tags->through);

    const Relation* members = model_info<Club>().find_relation("members");
    CT_REQUIRE(members != nullptr);
    CT_CHECK(members->through == &model_info<Membership>());
    CT_REQUIRE(model_info<Person>().find_relation("clubs") != nullptr);
    CT_CHECK(model_info<Person>().find_relation("memberships") != nullptr);

    const Relation* children = model_info<Category>().find_relation("children");
    CT_REQUIRE(children != nullptr);
    CT_CHECK(&children->target() == &model_info<Category>());
    // Field-error choices name relations beside fields.
    CT_CHECK(book.choices().find("author") != std::string::npos);
    CT_CHECK(book.choices().find("tags") != std::string::npos);
    CT_CHECK(model_info<Author>().choices().find("books") != std::string::npos);
}

CONFORMANCE_TEST("orm relations: create_tables makes foreign key columns, join tables and constraints in dependency order") {
    // Listed against their dependencies: the tables must still be created targets first.
    orm::connect(ctx.url(), "default");
    orm::drop_tables<Publisher, Author, Tag, Book>();
    orm::create_tables<Book, Tag, Author, Publisher>();
    {
        auto conn = orm::database().acquire();
        const auto& intro = conn->backend().introspection();
        for (const char* t : {"weft_ct_rel_publisher", "weft_ct_rel_author", "weft_ct_rel_tag", "weft_ct_rel_book",
                              "weft_ct_rel_book_tags"})
            CT_CHECK(intro.table_exists(*conn, t));
        auto cols = intro.columns(*conn, "weft_ct_rel_book");
        auto col = [&](std::string_view name) -> const db::ColumnInfo* {
            for (const auto& c : cols)
                if (c.name == name) return &c;
            return nullptr;
        };
        CT_REQUIRE(col("author_id") != nullptr);
        CT_CHECK(!col("author_id")->nullable);
        CT_REQUIRE(col("editor_id") != nullptr);
        CT_CHECK(col("editor_id")->nullable);
        CT_CHECK(col("author") == nullptr);
        CT_CHECK(col("tags") == nullptr);  // many-to-many: no column
        auto join_cols = intro.columns(*conn, "weft_ct_rel_book_tags");
        CT_CHECK_EQ(join_cols.size(), std::size_t{3});
        // The join table has a unique index over its two keys.
        bool unique_pair = false;
        for (const auto& ix : intro.indexes(*conn, "weft_ct_rel_book_tags"))
            unique_pair = unique_pair || (ix.unique && ix.columns.size() == 2);
        CT_CHECK(unique_pair);
        // The constraint is in the database, not only in the ORM.
        CT_CHECK_THROWS_AS(conn->execute(fmt::format("INSERT INTO weft_ct_rel_book (title, price, pages, author_id) "
                                                     "VALUES ({}, {}, {}, {})",
                                                     conn->dialect().placeholder(1), conn->dialect().placeholder(2),
                                                     conn->dialect().placeholder(3), conn->dialect().placeholder(4)),
                                         {"ghost", 1.0, 1, std::int64_t{424242}}),
                           ForeignKeyViolation);
    }
    // Dropping in any order works too (referencing tables and join tables first).
    orm::drop_tables<Publisher, Author, Tag, Book>();
    {
        auto conn = orm::database().acquire();
        const auto& intro = conn->backend().introspection();
        CT_CHECK(!intro.table_exists(*conn, "weft_ct_rel_book"));
        CT_CHECK(!intro.table_exists(*conn, "weft_ct_rel_book_tags"));
        CT_CHECK(!intro.table_exists(*conn, "weft_ct_rel_author"));
    }
    orm::disconnect("default");
}

CONFORMANCE_TEST("orm relations: assigning a foreign key (object, key, nothing), saving and reading it back") {
    Library tables(ctx);
    auto ann = Author::objects.create({.name = "Ann", .born = 1970});
    auto bob = Author::objects.create({.name = "Bob", .born = 1980});
    Book b{.title = "Fibers", .price = 10, .author = ann};
    CT_CHECK(b.author.id() == std::optional<std::int64_t>(ann.id));
    CT_CHECK(b.author.is_loaded());  // assigned from an object: a copy is cached
    CT_CHECK_EQ(b.author->name, std::string("Ann"));
    CT_CHECK(!b.editor.has_value());
    CT_CHECK(!b.editor);
    b.save();
    CT_CHECK(b.id > 0);

    auto got = Book::objects.get("pk", b.id);
    CT_CHECK(got.author.id() == std::optional<std::int64_t>(ann.id));
    CT_CHECK_EQ(got.author.pk(), Value(ann.id));
    CT_CHECK(!got.author.is_loaded());
    CT_CHECK(got.editor.pk().is_null());
    CT_CHECK(got.editor.get_or_null() == nullptr);
    CT_CHECK_THROWS_AS(got.editor.get(), Author::DoesNotExist);
    CT_CHECK_THROWS_AS(got.editor.get(), ObjectDoesNotExist);

    // By key; the cached object is dropped when the key changes.
    got.author = bob.id;
    CT_CHECK(got.author.id() == std::optional<std::int64_t>(bob.id));
    CT_CHECK(!got.author.is_loaded());
    got.editor = ann;
    got.save();
    auto again = Book::objects.get("pk", b.id);
    CT_CHECK_EQ(again.author->name, std::string("Bob"));
    CT_CHECK_EQ(again.editor->name, std::string("Ann"));
    CT_CHECK(again.author == bob.id);

    // Clearing a nullable key saves NULL.
    again.editor = std::nullopt;
    again.save();
    CT_CHECK(!Book::objects.get("pk", b.id).editor.has_value());
    again.editor = ann;
    again.save();
    again.editor.reset();
    CT_CHECK(!again.editor.is_loaded());
    again.save();
    CT_CHECK_EQ(Book::objects.filter("editor__isnull", true).count(), std::int64_t{1});

    // create() with objects, update() by key, refresh_from_db() reloads the key.
    auto c = Book::objects.create({.title = "Second", .author = bob, .editor = bob});
    CT_CHECK_EQ(Book::objects.filter("author", bob).count(), std::int64_t{2});
    CT_CHECK_EQ(Book::objects.filter("pk", c.id).update({{"author", ann.id}}), std::int64_t{1});
    c.refresh_from_db();
    CT_CHECK(c.author.id() == std::optional<std::int64_t>(ann.id));
    CT_CHECK_EQ(c.author->name, std::string("Ann"));
    CT_CHECK_EQ(Book::objects.filter("pk", c.id).update({{"editor", nullptr}}), std::int64_t{1});
    c.refresh_from_db();
    CT_CHECK(!c.editor.has_value());

    // One-to-one and self references.
    auto p = Profile::objects.create({.author = ann, .bio = "hi"});
    CT_CHECK_EQ(Profile::objects.get("pk", p.id).author->name, std::string("Ann"));
    CT_CHECK_THROWS_AS(Profile::objects.create({.author = ann, .bio = "twice"}), UniqueViolation);
}

CONFORMANCE_TEST("orm relations: self-referencing foreign keys") {
    Tables<Category> tables(ctx);
    auto root = Category::objects.create({.name = "root"});
    auto a = Category::objects.create({.name = "a", .parent = root});
    auto a1 = Category::objects.create({.name = "a1", .parent = a});
    Category::objects.create({.name = "b", .parent = root});
    CT_CHECK(!Category::objects.get("pk", root.id).parent.has_value());
    CT_CHECK_EQ(Category::objects.get("pk", a1.id).parent->parent->name, std::string("root"));
    CT_CHECK_EQ(names_of(Category::objects.filter("parent__name", "root").order_by("name")), (Strings{"a", "b"}));
    CT_CHECK_EQ(names_of(Category::objects.filter("parent__parent__name", "root")), (Strings{"a1"}));
    CT_CHECK_EQ(names_of(Category::objects.filter("children__name", "a1")), (Strings{"a"}));
    CT_CHECK_EQ(names_of(Category::objects.filter("parent__isnull", true)), (Strings{"root"}));
    CT_CHECK_EQ(names_of(Category::objects.filter("children__isnull", true).order_by("name")), (Strings{"a1", "b"}));
    CT_CHECK_EQ(root.children.count(), std::int64_t{2});
    CT_CHECK_EQ(names_of(root.children.all().order_by("name")), (Strings{"a", "b"}));
}

CONFORMANCE_TEST("orm relations: lazy loading runs one SELECT on first access and caches the object") {
    Library tables(ctx);
    auto s = seed_library();
    Capture cap;
    auto books = Book::objects.order_by("id").list();
    CT_CHECK_SELECTS(cap, 1);
    CT_REQUIRE(books.size() == 5);
    for (const auto& b : books) CT_CHECK(!b.author.is_loaded());
    Strings names;
    for (const auto& b : books) names.push_back(b.author->name);  // N+1: one query per book
    CT_CHECK_EQ(names, (Strings{"Ann", "Ann", "Bob", "Bob", "Cid"}));
    CT_CHECK_SELECTS(cap, 6);
    for (const auto& b : books) {
        CT_CHECK(b.author.is_loaded());
        CT_CHECK_EQ(b.author.get().born, b.author->born);  // cached: no more queries
    }
    CT_CHECK_SELECTS(cap, 6);
    // id() and pk() never query; a NULL key never queries either.
    CT_CHECK(books[1].editor.get_or_null() == nullptr);
    CT_CHECK(books[0].editor.id() == std::optional<std::int64_t>(s.bob.id));
    CT_CHECK_SELECTS(cap, 6);
    // Nested: book -> author -> publisher, one query per hop.
    CT_CHECK_EQ(books[0].author->publisher->name, std::string("Penguin"));
    CT_CHECK_SELECTS(cap, 7);
    CT_CHECK(books[4].author->publisher.get_or_null() == nullptr);  // Cid has no publisher
    CT_CHECK_SELECTS(cap, 7);
    // A copy taken after loading shares the cached object.
    Book copy = books[2];
    CT_CHECK(copy.author.is_loaded());
    CT_CHECK_EQ(copy.author->name, std::string("Bob"));
    CT_CHECK_SELECTS(cap, 7);
    // The key's row gone: the load raises the target's DoesNotExist.
    Book stale = Book::objects.get("pk", s.b1.id);  // editor: Bob, not loaded
    Author::objects.filter("pk", s.bob.id).remove();
    CT_CHECK(stale.editor.has_value());
    CT_CHECK_THROWS_AS(stale.editor.get(), Author::DoesNotExist);
}

CONFORMANCE_TEST("orm relations: lazy loading from 32 concurrent fibers in async mode") {
    require_async();
    Library tables(ctx);
    std::vector<Author> authors;
    for (int i = 0; i < 8; ++i)
        authors.push_back(Author::objects.create({.name = fmt::format("author {}", i), .born = 1900 + i}));
    std::vector<Book> made;
    for (int i = 0; i < 32; ++i)
        made.push_back(Book::objects.create(
            {.title = fmt::format("book {:02}", i), .pages = i, .author = authors[static_cast<std::size_t>(i % 8)].id}));

    Capture cap;
    // Each fiber loads its own book, then touches book.author (a lazy load inside the fiber).
    std::vector<Task<std::string>> tasks;
    for (int i = 0; i < 32; ++i) {
        tasks.push_back(orm::spawn(fmt::format("lazy-{}", i), [id = made[static_cast<std::size_t>(i)].id] {
            Book b = Book::objects.get("pk", id);
            if (b.author.is_loaded()) throw std::runtime_error("loaded before access");
            std::string name = b.author->name;
            orm::yield_now();
            return fmt::format("{}:{}:{}", b.title, name, b.author->born);  // cached: no second query
        }));
    }
    for (int i = 0; i < 32; ++i)
        CT_CHECK_EQ(tasks[static_cast<std::size_t>(i)].get(),
                    fmt::format("book {:02}:author {}:{}", i, i % 8, 1900 + i % 8));
    CT_CHECK_SELECTS(cap, 64);

    // Shared objects loaded once, touched from 32 fibers: each fiber's first access loads its own book's author.
    cap.clear();
    auto books = Book::objects.order_by("id").list();
    std::vector<Task<std::int64_t>> t2;
    for (std::size_t i = 0; i < books.size(); ++i)
        t2.push_back(orm::spawn([&books, i] { return static_cast<std::int64_t>(books[i].author->born); }));
    std::int64_t sum = 0;
    for (auto n : orm::join_all(t2)) sum += n;
    std::int64_t expected = 0;
    for (int i = 0; i < 32; ++i) expected += 1900 + i % 8;
    CT_CHECK_EQ(sum, expected);
    CT_CHECK_SELECTS(cap, 33);
    for (const auto& b : books) CT_CHECK(b.author.is_loaded());
}

CONFORMANCE_TEST("orm relations: forward lookups, nested lookups and model objects as values") {
    Library tables(ctx);
    auto s = seed_library();
    auto n = [](const char* lookup, Operand v) { return Book::objects.filter(lookup, std::move(v)).count(); };
    CT_CHECK_EQ(n("author__name", "Ann"), std::int64_t{2});
    CT_CHECK_EQ(n("author__name__icontains", "B"), std::int64_t{2});
    CT_CHECK_EQ(n("author__born__gte", 1980), std::int64_t{3});
    CT_CHECK_EQ(n("author__publisher__name", "Penguin"), std::int64_t{2});
    CT_CHECK_EQ(n("author__publisher__isnull", true), std::int64_t{1});  // through a nullable hop
    CT_CHECK_EQ(n("author__publisher", s.tor), std::int64_t{2});
    CT_CHECK_EQ(n("author", s.ann), std::int64_t{2});
    CT_CHECK_EQ(n("author", s.dee), std::int64_t{0});
    CT_CHECK_EQ(n("author__in", std::vector<Author>{s.ann, s.cid}), std::int64_t{3});
    CT_CHECK_EQ(n("author_id", s.bob.id), std::int64_t{2});
    CT_CHECK_EQ(n("author__id", s.bob.id), std::int64_t{2});
    CT_CHECK_EQ(n("author__pk", s.bob.id), std::int64_t{2});
    CT_CHECK_EQ(n("author__in", {s.bob.id, s.cid.id}), std::int64_t{3});
    CT_CHECK_EQ(n("author__isnull", true), std::int64_t{0});
    CT_CHECK_EQ(n("editor__isnull", true), std::int64_t{3});
    CT_CHECK_EQ(n("editor", nullptr), std::int64_t{3});
    CT_CHECK_EQ(n("editor__name", "Bob"), std::int64_t{1});
    CT_CHECK_EQ(n("editor__publisher__name", "Tor"), std::int64_t{1});
    // Two relations to the same model are two joins.
    CT_CHECK_EQ(Book::objects.filter("author__name", "Bob").filter("editor__name", "Ann").count(), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.filter(Q("author__name", "Ann") | Q("editor__name", "Ann")).count(), std::int64_t{3});
    // F across a relation.
    CT_CHECK_EQ(Book::objects.filter("pages__gt", F("author__born") / 10).count(), std::int64_t{2});  // b1, b4
    // One-to-one, both directions.
    CT_CHECK_EQ(Profile::objects.filter("author__name", "Ann").count(), std::int64_t{1});
    CT_CHECK_EQ(names_of(Author::objects.filter("profile__bio__contains", "fibers")), (Strings{"Ann"}));
    CT_CHECK_EQ(Author::objects.filter("profile__isnull", true).count(), std::int64_t{3});
    // Typed columns and string lookups combine with relation lookups.
    CT_CHECK_EQ(Book::objects.filter(col(&Book::price) > 10).filter("author__name", "Ann").count(), std::int64_t{2});
    // The SQL joins the author's table.
    CT_CHECK(Book::objects.filter("author__name", "Ann").sql().text.find("weft_ct_rel_author") != std::string::npos);
}

CONFORMANCE_TEST("orm relations: reverse and many-to-many lookups; one filter() shares a join, two do not") {
    Library tables(ctx);
    auto s = seed_library();
    CT_CHECK_EQ(names_of(Author::objects.filter("books__title__startswith", "Async")), (Strings{"Bob"}));
    CT_CHECK_EQ(names_of(Author::objects.filter("books__price__gt", 10).distinct().order_by("name")),
                (Strings{"Ann", "Bob"}));
    // Django: a multi-valued join repeats the row per match unless distinct().
    CT_CHECK_EQ(Author::objects.filter("books__price__gt", 10).count(), std::int64_t{3});
    CT_CHECK_EQ(names_of(Author::objects.filter("books__isnull", true)), (Strings{"Dee"}));
    CT_CHECK_EQ(names_of(Author::objects.filter("books", s.b5)), (Strings{"Cid"}));
    CT_CHECK_EQ(names_of(Author::objects.filter("edited__title", "Async Adventures")), (Strings{"Ann"}));
    CT_CHECK_EQ(names_of(Publisher::objects.filter("authors__books__title__contains", "Zero")), Strings{});
    CT_CHECK_EQ(names_of(Publisher::objects.filter("authors__books__title", "Bob's Databases")), (Strings{"Tor"}));
    // Default related_name: "review".
    CT_CHECK_EQ(titles_of(Book::objects.filter("review__stars__gte", 4).order_by("id")),
                (Strings{"Fibers in Practice", "Async Adventures"}));
    // Many-to-many, both directions.
    CT_CHECK_EQ(titles_of(Book::objects.filter("tags__name", "db").order_by("id")),
                (Strings{"Pools & Deadlines", "Async Adventures", "Bob's Databases"}));
    CT_CHECK_EQ(titles_of(Book::objects.filter("tags", s.cpp).order_by("id")),
                (Strings{"Fibers in Practice", "Bob's Databases"}));
    CT_CHECK_EQ(names_of(Tag::objects.filter("books__author__name", "Ann").distinct().order_by("name")),
                (Strings{"async", "cpp", "db"}));
    CT_CHECK_EQ(names_of(Author::objects.filter("books__tags__name", "cpp").distinct().order_by("name")),
                (Strings{"Ann", "Bob"}));
    CT_CHECK_EQ(names_of(Tag::objects.filter("books__isnull", true)), (Strings{"unused"}));
    // Conditions in one filter() must hold for the same book: Bob has a book starting with
    // "Async" (8.75) and another over 15 (20.00), but no single book with both.
    CT_CHECK_EQ(Author::objects.filter(Q("books__title__startswith", "Async") & Q("books__price__gt", 15)).count(),
                std::int64_t{0});
    CT_CHECK_EQ(names_of(Author::objects.filter("books__title__startswith", "Async").filter("books__price__gt", 15)),
                (Strings{"Bob"}));
    CT_CHECK_EQ(Book::objects.filter(Q("tags__name", "async") & Q("tags__name", "cpp")).count(), std::int64_t{0});
    CT_CHECK_EQ(titles_of(Book::objects.filter("tags__name", "async").filter("tags__name", "cpp")),
                (Strings{"Fibers in Practice"}));
}

CONFORMANCE_TEST("orm relations: exclude across relations has Django's semantics") {
    Library tables(ctx);
    auto s = seed_library();
    // Forward: NULL keys are kept (not "editor.name <> 'Bob'" alone, which drops them).
    CT_CHECK_EQ(titles_of(Book::objects.exclude("author__name", "Ann").order_by("id")),
                (Strings{"Async Adventures", "Bob's Databases", "Zero"}));
    CT_CHECK_EQ(Book::objects.exclude("editor__name", "Bob").count(), std::int64_t{4});
    CT_CHECK_EQ(Book::objects.exclude("author__publisher__name", "Penguin").count(), std::int64_t{3});
    // Multi-valued: drop the authors having ANY book starting with "A". A naive join would keep
    // Bob (his "Bob's Databases" does not match) and drop Dee (no books, no joined row).
    CT_CHECK_EQ(names_of(Author::objects.exclude("books__title__startswith", "A").order_by("name")),
                (Strings{"Ann", "Cid", "Dee"}));
    CT_CHECK_EQ(names_of(Author::objects.exclude("books__price__gte", 0).order_by("name")), (Strings{"Dee"}));
    CT_CHECK_EQ(names_of(Author::objects.filter("born__lt", 2000).exclude("books__tags__name", "db").order_by("name")),
                (Strings{"Cid"}));
    // Many-to-many: books without the tag, including books without any tag.
    CT_CHECK_EQ(titles_of(Book::objects.exclude("tags__name", "db").order_by("id")),
                (Strings{"Fibers in Practice", "Zero"}));
    CT_CHECK_EQ(names_of(Tag::objects.exclude("books__author", s.bob).order_by("name")), (Strings{"unused"}));
    // ~Q inside filter() behaves like exclude().
    CT_CHECK_EQ(names_of(Author::objects.filter(~Q("books__title__startswith", "A")).order_by("name")),
                (Strings{"Ann", "Cid", "Dee"}));
    // Combined with a plain condition.
    CT_CHECK_EQ(names_of(Author::objects.exclude("books__title__startswith", "A").filter("publisher__name", "Penguin")
                             .order_by("name")),
                (Strings{"Ann", "Dee"}));
}

CONFORMANCE_TEST("orm relations: order_by and values across relations") {
    Library tables(ctx);
    seed_library();
    CT_CHECK_EQ(titles_of(Book::objects.order_by("author__name", "-price")),
                (Strings{"Pools & Deadlines", "Fibers in Practice", "Bob's Databases", "Async Adventures", "Zero"}));
    CT_CHECK_EQ(titles_of(Book::objects.order_by("-author__born", "title")),
                (Strings{"Zero", "Async Adventures", "Bob's Databases", "Fibers in Practice", "Pools & Deadlines"}));
    CT_CHECK_EQ(titles_of(Book::objects.filter("author__publisher__isnull", false).order_by("-author__publisher__name", "id")),
                (Strings{"Async Adventures", "Bob's Databases", "Fibers in Practice", "Pools & Deadlines"}));
    // A nullable foreign key in order_by keeps every row.
    CT_CHECK_EQ(Book::objects.order_by("editor__name").count(), std::int64_t{5});
    CT_CHECK_EQ(Book::objects.order_by("editor__name").size(), std::size_t{5});

    auto rows = Book::objects.order_by("id").values("title", "author__name", "author__publisher__name");
    CT_REQUIRE(rows.size() == 5);
    CT_CHECK_EQ(rows.list()[0]["author__name"], Value("Ann"));
    CT_CHECK_EQ(rows.list()[0]["author__publisher__name"], Value("Penguin"));
    CT_CHECK_EQ(rows.list()[2]["author__name"], Value("Bob"));
    CT_CHECK_EQ(rows.list()[4]["author__name"], Value("Cid"));
    CT_CHECK(rows.list()[4]["author__publisher__name"].is_null());  // LEFT JOIN through the nullable hop
    CT_CHECK_EQ(rows.list()[1].names(), (Strings{"title", "author__name", "author__publisher__name"}));
    auto ed = Book::objects.order_by("id").values("editor__name");
    CT_REQUIRE(ed.size() == 5);
    CT_CHECK_EQ(ed.list()[0][0], Value("Bob"));
    CT_CHECK(ed.list()[1][0].is_null());
    // The key column itself.
    auto keys = Book::objects.order_by("id").values_list("author", orm::flat);
    CT_REQUIRE(keys.size() == 5);
    CT_CHECK_EQ(n_of(keys[0]), Author::objects.get("name", "Ann").id);
    auto typed = Book::objects.filter("author__name", "Bob").order_by("id").values_as<std::string, std::int32_t>(
        "title", "author__born");
    CT_REQUIRE(typed.size() == 2);
    CT_CHECK_EQ(std::get<1>(typed[0]), std::int32_t{1980});
    // Reverse and many-to-many in values: one row per related row.
    auto per_tag = Tag::objects.filter("name", "db").order_by("books__id").values("name", "books__title");
    CT_REQUIRE(per_tag.size() == 3);
    CT_CHECK_EQ(per_tag.list()[0]["books__title"], Value("Pools & Deadlines"));
    CT_CHECK_EQ(per_tag.list()[2]["books__title"], Value("Bob's Databases"));
    auto dee = Author::objects.filter("name", "Dee").values("name", "books__title");
    CT_REQUIRE(dee.size() == 1);
    CT_CHECK(dee.list()[0]["books__title"].is_null());
}

CONFORMANCE_TEST("orm relations: annotate Count per author (zero included) and aggregates over relations") {
    Library tables(ctx);
    seed_library();
    auto rows = Author::objects.annotate("n", Count("books")).order_by("name").values("name", "n");
    CT_REQUIRE(rows.size() == 4);
    std::vector<std::int64_t> counts;
    for (const auto& r : rows) counts.push_back(n_of(r["n"]));
    CT_CHECK(counts == (std::vector<std::int64_t>{2, 2, 1, 0}));
    // On objects: filter and order by the annotation.
    CT_CHECK_EQ(names_of(Author::objects.annotate("n", Count("books")).filter("n__gte", 2).order_by("name")),
                (Strings{"Ann", "Bob"}));
    CT_CHECK_EQ(names_of(Author::objects.annotate("n", Count("books")).order_by("n", "name")),
                (Strings{"Dee", "Cid", "Ann", "Bob"}));
    // Many-to-many, reverse side.
    auto tags = Tag::objects.annotate("n", Count("books")).order_by("name").values("name", "n");
    CT_REQUIRE(tags.size() == 4);
    std::vector<std::int64_t> tag_counts;
    for (const auto& r : tags) tag_counts.push_back(n_of(r["n"]));
    CT_CHECK(tag_counts == (std::vector<std::int64_t>{2, 2, 3, 0}));
    // Books per publisher through two hops, distinct authors per publisher.
    auto pubs = Publisher::objects.annotate("nbooks", Count("authors__books"))
                    .annotate("writers", Count("authors", true))
                    .order_by("name")
                    .values("name", "nbooks", "writers");
    CT_REQUIRE(pubs.size() == 2);
    CT_CHECK_EQ(n_of(pubs.list()[0]["nbooks"]), std::int64_t{2});    // Penguin: Ann's two, Dee none
    CT_CHECK_EQ(n_of(pubs.list()[0]["writers"]), std::int64_t{2});  // Ann, Dee
    CT_CHECK_EQ(n_of(pubs.list()[1]["nbooks"]), std::int64_t{2});    // Tor: Bob's two
    // Sum over a relation per row.
    auto totals = Author::objects.annotate("total", Sum("books__price")).filter("name__in", {"Ann", "Bob"})
                      .order_by("name").values_as<double>("total");
    CT_REQUIRE(totals.size() == 2);
    CT_CHECK_EQ(totals[0], 42.5);
    CT_CHECK_EQ(totals[1], 28.75);
    // Aggregates across relations.
    CT_CHECK_EQ(Author::objects.aggregate(Sum("books__price")), Value(71.25));
    CT_CHECK_EQ(Author::objects.filter("name", "Ann").aggregate(Avg("books__price")), Value(21.25));
    CT_CHECK_EQ(n_of(Book::objects.aggregate(Max("author__born"))), std::int64_t{1990});
    CT_CHECK_EQ(n_of(Book::objects.filter("tags__name", "db").aggregate(Count())), std::int64_t{3});
    CT_CHECK_EQ(n_of(Book::objects.aggregate(Count("tags"))), std::int64_t{7});
    CT_CHECK_EQ(n_of(Tag::objects.aggregate(Count("books__author", true))), std::int64_t{2});
}
