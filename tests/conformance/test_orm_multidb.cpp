// ORM conformance: several databases. using_db() on querysets, managers and instance operations;
// database routers (db_for_read / db_for_write, first opinion wins, allow_migrate in
// create_tables, allow_relation through detail::check_relation); atomic on one alias; unknown
// aliases. "default" is the runner's database and "other" a second one (Context::second_url():
// --url2, or derived). Routing is checked both in the query log (each statement's alias) and by
// where rows actually land.
#include <algorithm>
#include <stdexcept>

#include "drivers/bridge/join_all.hpp"
#include "tests/conformance/test_orm_models.hpp"
#include "tests/conformance/two_databases.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;

namespace {

struct Boom : std::runtime_error {
    Boom() : std::runtime_error("boom") {}
};

bool has_table(std::string_view alias, const std::string& table) {
    auto conn = orm::database(alias).acquire();
    auto names = conn->backend().introspection().table_names(*conn);
    return std::find(names.begin(), names.end(), table) != names.end();
}

// Books to "other"; no opinion on other models.
struct BooksToOther : Router {
    std::optional<std::string> db_for_read(const ModelInfo& m) const override {
        return m.type_name() == model_info<Book>().type_name() ? std::optional<std::string>("other") : std::nullopt;
    }
    std::optional<std::string> db_for_write(const ModelInfo& m) const override { return db_for_read(m); }
};

// Reads from "other" (a replica), writes to "default" (the primary).
struct PrimaryReplica : Router {
    std::optional<std::string> db_for_read(const ModelInfo&) const override { return "other"; }
    std::optional<std::string> db_for_write(const ModelInfo&) const override { return "default"; }
};

}  // namespace

CONFORMANCE_TEST("orm multidb: using_db() sends querysets and instance operations to the named database") {
    TwoDatabases<Author, Book> dbs(ctx);
    Capture cap;
    auto other = Author::objects.using_db("other");
    auto ann = other.create({.name = "Ann"});
    CT_CHECK(ann.id != 0);
    Author bob{.name = "Bob"};
    bob.save("other");
    CT_CHECK(bob.id != 0);
    bob.email = "bob@example.com";
    bob.save("other");
    auto [cy, created] = Author::objects.using_db("other").get_or_create({{"name", "Cy"}});
    CT_CHECK(created);
    CT_CHECK(!Author::objects.using_db("other").get_or_create({{"name", "Cy"}}).second);
    auto [dee, made] = Author::objects.using_db("other").update_or_create({{"name", "Dee"}}, {{"email", "d@x"}});
    CT_CHECK(made);
    std::vector<Book> books{{.title = "One", .price = 1, .author_id = ann.id}, {.title = "Two", .price = 2, .author_id = ann.id}};
    Book::objects.using_db("other").bulk_create(books);
    CT_CHECK_EQ(Book::objects.using_db("other").filter("price__gt", 1).update({{"price", F("price") * 10}}), std::int64_t{1});

    // Reads on "other" see all of it.
    CT_CHECK_EQ(other.count(), std::int64_t{4});
    CT_CHECK(other.filter("name", "Bob").exists());
    CT_CHECK_EQ(Author::objects.using_db("other").get("pk", bob.id).email, std::optional<std::string>("bob@example.com"));
    CT_CHECK_EQ(Author::objects.using_db("other").get("name", "Dee").email, std::optional<std::string>("d@x"));
    CT_CHECK_EQ(titles(Book::objects.using_db("other").order_by("title")), (std::vector<std::string>{"One", "Two"}));
    CT_CHECK_EQ(Book::objects.using_db("other").aggregate(Sum("price")), Value(21.0));
    CT_CHECK_EQ(Book::objects.using_db("other").values_list("title", orm::flat).size(), std::size_t{2});
    CT_CHECK_EQ(Book::objects.all().values("title").using_db("other").count(), std::int64_t{2});
    CT_CHECK_EQ(other.in_bulk(std::vector<std::int64_t>{ann.id, bob.id}).size(), std::size_t{2});
    CT_CHECK_EQ(Author::objects.raw("SELECT id, name, email FROM weft_ct_orm_author", {}, "other").size(), std::size_t{4});
    std::size_t iterated = 0;
    for (const auto& a : other.iterator(2)) iterated += a.id != 0;
    CT_CHECK_EQ(iterated, std::size_t{4});
    Author again{.id = bob.id};
    again.refresh_from_db("other");
    CT_CHECK_EQ(again.name, std::string("Bob"));
    CT_CHECK(other.db_alias() == "other");

    // Every statement so far went to "other", and "default" holds nothing.
    CT_CHECK(cap.size() > 10);
    CT_CHECK_EQ(on_alias(cap, "other"), cap.size());
    cap.clear();
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{0});
    CT_CHECK_THROWS_AS(Author::objects.get("pk", bob.id), Author::DoesNotExist);
    // A fresh object has no database yet: the routers' choice ("default") has no such row.
    Author fresh{.id = bob.id};
    CT_CHECK(fresh.db().empty());
    CT_CHECK_THROWS_AS(fresh.refresh_from_db(), Author::DoesNotExist);
    CT_CHECK_EQ(on_alias(cap, "default"), cap.size());
    // An object that has been to "other" goes back there (Django's _state.db).
    CT_CHECK(again.db() == "other");
    cap.clear();
    again.name.clear();
    again.refresh_from_db();
    CT_CHECK_EQ(again.name, std::string("Bob"));
    CT_CHECK_EQ(on_alias(cap, "other"), cap.size());
    CT_CHECK(Author::objects.all().db_alias() == "default");

    // Deletes by queryset and by instance, on "other" only.
    Author::objects.create({.name = "Bob"});  // same name on "default": unaffected below
    CT_CHECK_EQ(bob.remove("other"), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.using_db("other").remove(), std::int64_t{2});
    CT_CHECK_EQ(other.count(), std::int64_t{3});
    CT_CHECK_EQ(Author::objects.filter("name", "Bob").count(), std::int64_t{1});
    // An empty alias hands the choice back to the routers (none: "default").
    CT_CHECK_EQ(other.using_db("").count(), std::int64_t{1});
}

CONFORMANCE_TEST("orm multidb: routers choose the database, first opinion wins, using_db() overrides") {
    TwoDatabases<Author, Book> dbs(ctx);
    orm::set_routers({std::make_shared<Silent>(), std::make_shared<BooksToOther>(), std::make_shared<AllTo>("default")});
    CT_CHECK_EQ(orm::routers().size(), std::size_t{3});
    CT_CHECK(orm::db_for_read(model_info<Book>()) == "other");
    CT_CHECK(orm::db_for_write(model_info<Author>()) == "default");
    Capture cap;
    auto ann = Author::objects.create({.name = "Ann"});
    auto book = Book::objects.create({.title = "Routed", .price = 5, .author_id = ann.id});
    std::vector<Book> more{{.title = "Bulk 1", .author_id = ann.id}, {.title = "Bulk 2", .author_id = ann.id}};
    Book::objects.bulk_create(more);
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{3});
    CT_CHECK_EQ(Book::objects.get("pk", book.id).title, std::string("Routed"));  // the get-by-pk fast path
    book.price = 6;
    book.save();
    book.refresh_from_db();
    CT_CHECK_EQ(book.price, 6.0);
    CT_CHECK_EQ(Book::objects.filter("title__startswith", "Bulk").update({{"price", 1.5}}), std::int64_t{2});
    CT_CHECK(Book::objects.all().db_alias() == "other");
    // Where the statements went: books to "other", authors to "default".
    auto sql = cap.sql();
    auto aliases = cap.aliases();
    for (std::size_t i = 0; i < sql.size(); ++i) {
        const bool book_stmt = sql[i].find("weft_ct_orm_book") != std::string::npos;
        const bool author_stmt = sql[i].find("weft_ct_orm_author") != std::string::npos;
        if (book_stmt) CT_CHECK_EQ(aliases[i], std::string("other"));
        if (author_stmt) CT_CHECK_EQ(aliases[i], std::string("default"));
    }
    // Where the rows are.
    orm::clear_routers();
    CT_CHECK_EQ(Book::objects.using_db("other").count(), std::int64_t{3});
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{1});
    CT_CHECK_EQ(Author::objects.using_db("other").count(), std::int64_t{0});
    // An explicit alias beats the routers.
    orm::add_router(std::make_shared<BooksToOther>());
    cap.clear();
    CT_CHECK_EQ(Book::objects.using_db("default").count(), std::int64_t{0});
    Book local{.title = "Local", .author_id = ann.id};
    local.save("default");
    CT_CHECK_EQ(on_alias(cap, "default"), cap.size());
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{3});  // routed to "other" again
    CT_CHECK_EQ(Book::objects.using_db("default").count(), std::int64_t{1});
    CT_CHECK_EQ(local.remove("default"), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.using_db("default").count(), std::int64_t{0});
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{3});
}

CONFORMANCE_TEST("orm multidb: a primary/replica router reads from one database and writes to the other") {
    TwoDatabases<Author> dbs(ctx);
    orm::add_router(std::make_shared<PrimaryReplica>());
    Capture cap;
    auto ann = Author::objects.create({.name = "Ann"});
    CT_CHECK_EQ(cap.aliases(), (std::vector<std::string>{"default"}));
    // The "replica" here is a separate database that nothing replicates to: reads find nothing.
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{0});
    CT_CHECK_THROWS_AS(Author::objects.get("pk", ann.id), Author::DoesNotExist);
    CT_CHECK(Author::objects.all().db_alias() == "other");
    // Writes by queryset go to the primary, where the row is.
    CT_CHECK_EQ(Author::objects.filter("name", "Ann").update({{"email", "ann@x"}}), std::int64_t{1});
    // get_or_create and update_or_create read from the write database (a replica may lag).
    auto [found, created] = Author::objects.get_or_create({{"name", "Ann"}});
    CT_CHECK(!created);
    CT_CHECK_EQ(found.email, std::optional<std::string>("ann@x"));
    CT_CHECK(!Author::objects.update_or_create({{"name", "Ann"}}, {{"email", "new@x"}}).second);
    CT_CHECK_EQ(Author::objects.using_db("default").get("name", "Ann").email, std::optional<std::string>("new@x"));
    CT_CHECK_EQ(Author::objects.filter("name", "Ann").remove(), std::int64_t{1});
    CT_CHECK_EQ(Author::objects.using_db("default").count(), std::int64_t{0});
    CT_CHECK_EQ(on_alias(cap, "other"), std::size_t{2});
    CT_CHECK(on_alias(cap, "default") >= 5);
}

CONFORMANCE_TEST("orm multidb: create_tables and drop_tables follow the routers' allow_migrate") {
    TwoDatabases<Author, Book> dbs(ctx, false);
    struct Split : Router {
        std::optional<bool> allow_migrate(std::string_view alias, const ModelInfo& m) const override {
            if (m.type_name() == model_info<Book>().type_name()) return alias == "other";
            return std::nullopt;  // Authors everywhere (the default)
        }
    };
    orm::add_router(std::make_shared<Split>());
    CT_CHECK(!orm::allow_migrate("default", model_info<Book>()));
    CT_CHECK(orm::allow_migrate("default", model_info<Author>()));
    orm::create_tables<Author, Book>("default");
    orm::create_tables<Author, Book>("other");
    CT_CHECK(has_table("default", "weft_ct_orm_author"));
    CT_CHECK(!has_table("default", "weft_ct_orm_book"));
    CT_CHECK(has_table("other", "weft_ct_orm_author"));
    CT_CHECK(has_table("other", "weft_ct_orm_book"));
    orm::drop_tables<Author, Book>("other");
    CT_CHECK(!has_table("other", "weft_ct_orm_book"));
}

CONFORMANCE_TEST("orm multidb: relations across databases need a router's allow_relation") {
    const ModelInfo& author = model_info<Author>();
    const ModelInfo& book = model_info<Book>();
    orm::clear_routers();
    CT_CHECK(detail::relation_allowed(book, "default", author, "default"));
    CT_CHECK(!detail::relation_allowed(book, "other", author, "default"));
    CT_CHECK(detail::relation_allowed(book, "", author, "default"));  // unsaved: its db_for_write
    // The message names both models (type names, namespaces included) and both aliases.
    CT_CHECK_THROWS_WITH(detail::check_relation(book, "other", author, "default"), RouterError,
                         "Book (on database 'other') to ");
    CT_CHECK_THROWS_WITH(detail::check_relation(book, "other", author, "default"), RouterError,
                         "Author (on database 'default'): objects on different databases cannot be related");
    CT_CHECK_THROWS_AS(detail::check_relation(book, "other", author, "default"), InterfaceError);
    detail::check_relation(book, "default", author, "default");

    struct Permissive : Router {
        std::optional<bool> allow_relation(const ModelInfo&, std::string_view, const ModelInfo&,
                                           std::string_view) const override {
            return true;
        }
    };
    struct NoBooks : Router {
        std::optional<bool> allow_relation(const ModelInfo& a, std::string_view, const ModelInfo& b,
                                           std::string_view) const override {
            if (a.type_name() == model_info<Book>().type_name() || b.type_name() == model_info<Book>().type_name())
                return false;
            return std::nullopt;
        }
    };
    orm::set_routers({std::make_shared<NoBooks>(), std::make_shared<Permissive>()});
    CT_CHECK(detail::relation_allowed(author, "other", author, "default"));  // NoBooks silent, Permissive allows
    CT_CHECK(!orm::allow_relation(book, "default", author, "default"));     // NoBooks answers first
    CT_CHECK_THROWS_WITH(detail::check_relation(book, "default", author, "default"), RouterError,
                         "a database router does not allow this relation");
    orm::clear_routers();
    CT_CHECK(orm::routers().empty());
}

CONFORMANCE_TEST("orm multidb: an unknown alias lists the configured ones, from using_db and from a router") {
    TwoDatabases<Author> dbs(ctx);
    auto qs = Author::objects.using_db("nope");  // lazy: nothing checked yet
    CT_CHECK_THROWS_WITH(qs.count(), InterfaceError, "no database 'nope' is configured; configured aliases: default, other");
    Author a{.name = "Ann"};
    CT_CHECK_THROWS_WITH(a.save("nope"), InterfaceError, "configured aliases: default, other");
    CT_CHECK_THROWS_WITH(Author::objects.using_db("nope").get("pk", 1), InterfaceError, "configured aliases");
    orm::add_router(std::make_shared<AllTo>("nope"));
    CT_CHECK_THROWS_WITH(Author::objects.count(), InterfaceError, "no database 'nope'");
    CT_CHECK_THROWS_WITH(Author::objects.get("pk", 1), InterfaceError, "no database 'nope'");
    orm::set_routers({std::make_shared<AllTo>("")});
    CT_CHECK_THROWS_WITH(Author::objects.count(), RouterError, "returned an empty alias");
    orm::clear_routers();
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{0});
}

CONFORMANCE_TEST("orm multidb: atomic on one alias covers that database only") {
    TwoDatabases<Author, Book> dbs(ctx);
    CT_CHECK_THROWS_AS(atomic("other",
                              [&] {
                                  Author::objects.using_db("other").create({.name = "rolled back"});
                                  Author::objects.create({.name = "kept"});  // "default": no transaction
                                  CT_CHECK(in_atomic("other"));
                                  CT_CHECK(!in_atomic());
                                  throw Boom();
                              }),
                       Boom);
    CT_CHECK_EQ(Author::objects.using_db("other").count(), std::int64_t{0});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{1});
    // Routed writes use the transaction of the alias they are routed to.
    orm::add_router(std::make_shared<BooksToOther>());
    CT_CHECK_THROWS_AS(atomic("other",
                              [&] {
                                  Book::objects.create({.title = "gone"});
                                  CT_CHECK_EQ(Book::objects.count(), std::int64_t{1});  // sees its own row
                                  throw Boom();
                              }),
                       Boom);
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{0});
    atomic("other", [&] { Book::objects.create({.title = "kept"}); });
    CT_CHECK_EQ(Book::objects.using_db("other").count(), std::int64_t{1});
}

CONFORMANCE_TEST("orm multidb: fibers read and write through the routers concurrently") {
    TwoDatabases<Author, Book> dbs(ctx);
    orm::add_router(std::make_shared<BooksToOther>());
    constexpr int n = 16;
    std::vector<Task<std::int64_t>> tasks;
    for (int i = 0; i < n; ++i) {
        tasks.push_back(orm::spawn(fmt::format("multidb-{}", i), [i] {
            if (i % 2) {
                Book::objects.create({.title = fmt::format("b{}", i)});
                return Book::objects.filter("title", fmt::format("b{}", i)).count();
            }
            Author::objects.create({.name = fmt::format("a{}", i)});
            return Author::objects.filter("name", fmt::format("a{}", i)).count();
        }));
    }
    std::int64_t found = 0;
    for (auto n : orm::join_all(tasks)) found += n;
    CT_CHECK_EQ(found, std::int64_t{n});
    orm::clear_routers();
    CT_CHECK_EQ(Book::objects.using_db("other").count(), std::int64_t{n / 2});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{n / 2});
    CT_CHECK_EQ(Book::objects.count() + Author::objects.using_db("other").count(), std::int64_t{0});
}
