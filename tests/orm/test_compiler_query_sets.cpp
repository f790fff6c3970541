// The compiler's SQL for only() / defer() and union / intersection / difference, per dialect,
// no database: deferred columns are left out of the SELECT, string and member-pointer
// spellings give the same query, combined querysets render their parts with the dialect's
// operator and order by result positions; bad names and mismatched columns are FieldErrors
// listing the choices.
#include "orm/compiler.hpp"
#include "orm/query.hpp"
#include "tests/orm/models.hpp"

using namespace ut;

namespace {

std::string message(auto&& fn) {
    try {
        fn();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no exception)";
}

}  // namespace

TEST_CASE("query sets: only() and defer() leave columns out; typed and string spellings agree") {
    auto only = Book::objects.only("title", "price");
    CHECK(only.sql(pg()).text == "SELECT \"book\".\"id\", \"book\".\"title\", \"book\".\"price\" FROM \"book\"");
    auto typed = Book::objects.only(&Book::title, &Book::price);
    for (auto* d : {&pg(), &sqlite()}) CHECK(typed.sql(*d).text == only.sql(*d).text);
    CHECK(typed.query().deferred == only.query().deferred);

    auto defer = Book::objects.defer("isbn", "added", "published");
    CHECK(defer.sql(sqlite()).text ==
          "SELECT \"book\".\"id\", \"book\".\"title\", \"book\".\"price\", \"book\".\"pages\", \"book\".\"available\" "
          "FROM \"book\"");
    CHECK(Book::objects.defer(&Book::isbn, &Book::added, &Book::published).sql(sqlite()).text ==
          defer.sql(sqlite()).text);
    // The primary key is always selected; defer() with no names undoes the deferral; only()
    // replaces an earlier only(); defer() adds to it.
    CHECK(Book::objects.defer("id").sql(pg()).text == Book::objects.all().sql(pg()).text);
    CHECK(Book::objects.only("title").defer().sql(pg()).text == Book::objects.all().sql(pg()).text);
    CHECK(Book::objects.only("title").only("pages").sql(pg()).text ==
          "SELECT \"book\".\"id\", \"book\".\"pages\" FROM \"book\"");
    CHECK(Book::objects.only("title", "pages").defer("pages").sql(pg()).text ==
          "SELECT \"book\".\"id\", \"book\".\"title\" FROM \"book\"");
    // Filters and ordering still see every field.
    CHECK(Book::objects.only("title").filter("pages__gt", 10).order_by("-price").sql(pg()).text ==
          "SELECT \"book\".\"id\", \"book\".\"title\" FROM \"book\" WHERE \"book\".\"pages\" > $1 ORDER BY "
          "\"book\".\"price\" DESC");
}

TEST_CASE("query sets: only() / defer() of an unknown field is a FieldError listing the fields") {
    const std::string m = message([] { (void)Book::objects.only("titel"); });
    CHECK(m.find("Book has no field named 'titel' for only()") != std::string::npos);
    CHECK(m.find("Choices are: id, title, price, pages, in_print, published, isbn, added") != std::string::npos);
    CHECK_THROWS_AS((void)Book::objects.defer("nope"), orm::FieldError);
    CHECK_THROWS_AS((void)Book::objects.only("author__name"), orm::FieldError);
}

TEST_CASE("query sets: union, intersection and difference per dialect") {
    auto cheap = Book::objects.filter("price__lt", 10).values("title");
    auto long_ = Book::objects.filter("pages__gt", 500).values("title");
    auto u = cheap.union_(long_);
    CHECK(u.sql(pg()).text ==
          "SELECT \"book\".\"title\" FROM \"book\" WHERE \"book\".\"price\" < $1 UNION SELECT \"book\".\"title\" "
          "FROM \"book\" WHERE \"book\".\"pages\" > $2");
    CHECK(u.sql(pg()).params.size() == 2);
    CHECK(cheap.union_(long_, true).sql(sqlite()).text ==
          "SELECT \"book\".\"title\" FROM \"book\" WHERE \"book\".\"price\" < ? UNION ALL SELECT \"book\".\"title\" "
          "FROM \"book\" WHERE \"book\".\"pages\" > ?");
    CHECK(cheap.intersection(long_).sql(sqlite()).text.find(" INTERSECT SELECT") != std::string::npos);
    CHECK(cheap.difference(long_).sql(pg()).text.find(" EXCEPT SELECT") != std::string::npos);
    CHECK(cheap.intersection(long_, true).sql(pg()).text.find(" INTERSECT ALL SELECT") != std::string::npos);
    // SQLite has no INTERSECT ALL / EXCEPT ALL (Features::supports_intersect_except_all).
    CHECK_THROWS_AS((void)cheap.difference(long_, true).sql(sqlite()), orm::NotSupportedError);

    // Several at once; ordering by a column (its position) and a slice apply to the whole.
    auto three = cheap.union_({long_, Book::objects.filter("title__startswith", "A").values("title")});
    auto ordered = three.order_by("-title").slice(0, 5);
    const std::string text = ordered.sql(sqlite()).text;
    CHECK(text.ends_with(" UNION SELECT \"book\".\"title\" FROM \"book\" WHERE \"book\".\"title\" GLOB ? ORDER BY 1 "
                         "DESC LIMIT 5"));
    CHECK(ordered.sql(sqlite()).params.size() == 3);

    // Model querysets: the model's columns, ordered by field position; the parts' default
    // ordering (Tag has one) is left out.
    auto tags = Tag::objects.filter("weight__gt", 3).union_(Tag::objects.filter("label", "x")).order_by("label");
    CHECK(tags.sql(pg()).text ==
          "SELECT \"tag\".\"id\", \"tag\".\"label\", \"tag\".\"weight\" FROM \"tag\" WHERE \"tag\".\"weight\" > $1 "
          "UNION SELECT \"tag\".\"id\", \"tag\".\"label\", \"tag\".\"weight\" FROM \"tag\" WHERE \"tag\".\"label\" = "
          "$2 ORDER BY 2 ASC");
    // values() after union() selects the columns in every part.
    CHECK(Book::objects.filter("pages", 1).union_(Book::objects.filter("pages", 2)).values("title").sql(pg()).text ==
          "SELECT \"book\".\"title\" FROM \"book\" WHERE \"book\".\"pages\" = $1 UNION SELECT \"book\".\"title\" FROM "
          "\"book\" WHERE \"book\".\"pages\" = $2");
    // A part with its own ordering or slice is parenthesized (PostgreSQL); count() wraps the compound.
    auto sliced = Book::objects.order_by("price").slice(0, 2).values("title").union_(long_);
    CHECK(sliced.sql(pg()).text.starts_with("(SELECT \"book\".\"title\" FROM \"book\" ORDER BY \"book\".\"price\" ASC "
                                            "LIMIT 2) UNION SELECT"));
    CHECK(orm::detail::SqlCompiler(pg()).count(u.query()).text.starts_with("SELECT COUNT(*) FROM (SELECT"));
}

TEST_CASE("query sets: combined querysets refuse what Django refuses, naming the choices") {
    auto a = Book::objects.values("title");
    auto b = Book::objects.values("title", "price");
    const std::string m = message([&] { (void)a.union_(b); });
    CHECK(m.find("union(): the querysets select different columns") != std::string::npos);
    CHECK(m.find("queryset 1 selects 1 (title), queryset 2 selects 2 (title, price)") != std::string::npos);
    CHECK_THROWS_AS((void)Book::objects.all().union_(Author::objects.all()), orm::FieldError);
    CHECK_THROWS_AS((void)Book::objects.only("title").union_(Book::objects.all()), orm::FieldError);
    auto u = Book::objects.all().union_(Book::objects.all());
    CHECK(message([&] { (void)u.filter("pages", 1); }) == "Calling QuerySet.filter() after union() is not supported");
    CHECK_THROWS_AS((void)u.annotate("n", orm::F("pages")), orm::NotSupportedError);
    CHECK_THROWS_AS((void)u.only("title"), orm::NotSupportedError);
    const std::string bad_order = message([&] { (void)u.order_by("author_x").sql(pg()); });
    CHECK(bad_order.find("author_x") != std::string::npos);
    const std::string not_column = message([&] { (void)a.union_(a).order_by("price").sql(pg()); });
    CHECK(not_column.find("order by one of: title") != std::string::npos);
}
