// Multiple databases and row locking without a database: using_db() and routers choosing the
// alias, relation checks, select_for_update's SQL per dialect and its checks.
#include "orm/compiler.hpp"
#include "orm/query.hpp"
#include "tests/orm/models.hpp"

using namespace ut;
using orm::detail::Access;
using orm::detail::RoutedAlias;
using orm::detail::SqlCompiler;

namespace {

struct Fixed : orm::Router {
    Fixed(std::optional<std::string> r, std::optional<std::string> w) : read(std::move(r)), write(std::move(w)) {}
    std::optional<std::string> db_for_read(const orm::ModelInfo&) const override { return read; }
    std::optional<std::string> db_for_write(const orm::ModelInfo&) const override { return write; }
    std::optional<std::string> read, write;
};

// Clears the routers when the test ends, whatever happens.
struct RouterReset {
    RouterReset() { orm::clear_routers(); }
    ~RouterReset() { orm::clear_routers(); }
};

}  // namespace

TEST_CASE("routing: using_db() names the alias; a fresh queryset leaves it to the routers") {
    RouterReset reset;
    const auto& m = orm::model_info<Book>();
    CHECK(Book::objects.all().query().alias.empty());
    CHECK(Book::objects.using_db("replica").query().alias == "replica");
    CHECK(Book::objects.using_db("replica").filter("pages__gt", 1).order_by("title").query().alias == "replica");
    CHECK(Book::objects.using_db("replica").using_db("").query().alias.empty());
    CHECK(Book::objects.values("title").using_db("x").query().alias == "x");
    // The alias changes where a query runs, never its SQL.
    CHECK(Book::objects.using_db("replica").filter("pages__gt", 1).sql(pg()).text ==
          Book::objects.filter("pages__gt", 1).sql(pg()).text);

    CHECK_FALSE(orm::detail::routers_on());
    CHECK(Book::objects.all().db_alias() == "default");
    CHECK(RoutedAlias(Access::write, m, "").get() == "default");
    CHECK(RoutedAlias(Access::write, m, "x").get() == "x");

    orm::set_routers({std::make_shared<Fixed>(std::nullopt, std::nullopt), std::make_shared<Fixed>("r1", std::nullopt),
                      std::make_shared<Fixed>("r2", "w2")});
    CHECK(orm::detail::routers_on());
    CHECK(RoutedAlias(Access::read, m, "").get() == "r1");  // the first opinion wins
    CHECK(RoutedAlias(Access::write, m, "").get() == "w2");
    CHECK(RoutedAlias(Access::read, m, "mine").get() == "mine");  // an explicit alias beats the routers
    CHECK(Book::objects.all().db_alias() == "r1");
    CHECK(Book::objects.using_db("mine").db_alias() == "mine");
    CHECK(orm::db_for_write(m) == "w2");
    orm::add_router(std::make_shared<Fixed>("r3", "w3"));
    CHECK(orm::routers().size() == 4);
    CHECK(orm::db_for_read(m) == "r1");
    orm::clear_routers();
    CHECK_FALSE(orm::detail::routers_on());
    CHECK(orm::db_for_read(m) == "default");
    orm::set_routers({nullptr});  // null routers are dropped
    CHECK(orm::routers().empty());
    CHECK_FALSE(orm::detail::routers_on());
}

TEST_CASE("routing: relations are allowed on one alias unless a router decides otherwise") {
    RouterReset reset;
    const auto& a = orm::model_info<Author>();
    const auto& b = orm::model_info<Book>();
    CHECK(orm::detail::relation_allowed(b, "default", a, "default"));
    CHECK_FALSE(orm::detail::relation_allowed(b, "x", a, "default"));
    CHECK(orm::detail::relation_allowed(b, "", a, "default"));
    CHECK_THROWS_WITH_AS(orm::detail::check_relation(b, "x", a, "default"),
                         doctest::Contains("Cannot relate ut::Book (on database 'x') to ut::Author (on database "
                                           "'default')"),
                         orm::RouterError);
    struct Yes : orm::Router {
        std::optional<bool> allow_relation(const orm::ModelInfo&, std::string_view, const orm::ModelInfo&,
                                           std::string_view) const override {
            return true;
        }
        std::optional<bool> allow_migrate(std::string_view alias, const orm::ModelInfo&) const override {
            return alias == "default";
        }
    };
    orm::add_router(std::make_shared<Yes>());
    CHECK(orm::detail::relation_allowed(b, "x", a, "default"));
    CHECK_NOTHROW(orm::detail::check_relation(b, "x", a, "default"));
    CHECK(orm::allow_migrate("default", b));
    CHECK_FALSE(orm::allow_migrate("x", b));
}

TEST_CASE("select_for_update: FOR UPDATE [NOWAIT | SKIP LOCKED] after LIMIT, per dialect") {
    const auto q = Book::objects.filter("pages__gt", 1).order_by("title").slice(0, 1);
    const std::string base = q.sql(pg()).text;
    CHECK(SqlCompiler(pg()).select_for_update(q.query(), {}).text == base + " FOR UPDATE");
    CHECK(SqlCompiler(pg()).select_for_update(q.query(), {.nowait = true}).text == base + " FOR UPDATE NOWAIT");
    CHECK(SqlCompiler(pg()).select_for_update(q.query(), {.skip_locked = true}).text ==
          base + " FOR UPDATE SKIP LOCKED");
    CHECK(base.ends_with(" ORDER BY \"book\".\"title\" ASC LIMIT 1"));
    CHECK(SqlCompiler(sqlite()).select_for_update(q.query(), {}).text == q.sql(sqlite()).text + " FOR UPDATE");
    CHECK(SqlCompiler(pg()).select_for_update(q.query(), {}).params.size() == 1);
}

TEST_CASE("select_for_update: chaining keeps the lock; contradictory options are refused") {
    auto locked = Book::objects.select_for_update({.skip_locked = true});
    REQUIRE(locked.for_update() != nullptr);
    CHECK(locked.for_update()->skip_locked);
    CHECK(locked.filter("pages__gt", 1).order_by("title").reverse().slice(0, 3).for_update() != nullptr);
    CHECK(locked.using_db("x").distinct().for_update() != nullptr);
    CHECK(locked.values("title").filter("pages", 2).for_update() != nullptr);
    CHECK(Book::objects.values("title").select_for_update().for_update() != nullptr);
    CHECK(Book::objects.filter("pages", 1).for_update() == nullptr);
    CHECK_THROWS_AS(Book::objects.select_for_update({.nowait = true, .skip_locked = true}), orm::InterfaceError);
    // No SQL for none(): no transaction needed either.
    CHECK(locked.none().list().empty());
}

TEST_CASE("select_for_update: needs a transaction, and features for its options") {
    using orm::detail::lock_clause_needed;
    orm::db::Features none, all;
    all.supports_select_for_update = all.supports_select_for_update_nowait = all.supports_select_for_update_skip_locked =
        true;
    CHECK_THROWS_WITH_AS(lock_clause_needed({}, false, all, "pg"),
                         doctest::Contains("select_for_update cannot be used outside of a transaction"),
                         orm::TransactionManagementError);
    CHECK_THROWS_AS(lock_clause_needed({}, false, none, "x"), orm::TransactionManagementError);
    CHECK(lock_clause_needed({}, true, all, "pg"));
    CHECK(lock_clause_needed({.nowait = true}, true, all, "pg"));
    CHECK_FALSE(lock_clause_needed({}, true, none, "sqlite"));  // a no-op there
    CHECK_THROWS_WITH_AS(lock_clause_needed({.nowait = true}, true, none, "sqlite"),
                         doctest::Contains("select_for_update(nowait) is not supported on the sqlite backend"),
                         orm::NotSupportedError);
    CHECK_THROWS_WITH_AS(lock_clause_needed({.skip_locked = true}, true, none, "sqlite"),
                         doctest::Contains("select_for_update(skip_locked) is not supported on the sqlite backend"),
                         orm::NotSupportedError);
}
