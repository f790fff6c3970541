// The compiler's statements per dialect: ordering, slicing, distinct, values, annotations and
// grouping, count / exists / aggregate, update with F, delete, multi-row insert.
#include "orm/compiler.hpp"
#include "orm/query.hpp"
#include "tests/orm/models.hpp"

using namespace ut;
using orm::Count;
using orm::F;
using orm::Value;
using orm::detail::SqlCompiler;

namespace {

const std::string book_cols =
    "SELECT \"book\".\"id\", \"book\".\"title\", \"book\".\"price\", \"book\".\"pages\", \"book\".\"available\", "
    "\"book\".\"published\", \"book\".\"isbn\", \"book\".\"added\" FROM \"book\"";

std::string tail(const orm::QuerySet<Book>& qs, const orm::db::Dialect& d) {
    auto sql = qs.sql(d).text;
    REQUIRE(sql.starts_with(book_cols));
    return sql.substr(book_cols.size());
}

std::vector<orm::detail::SelectItem> aggs(const orm::detail::Query& q,
                                          std::initializer_list<std::pair<const char*, orm::Expr>> list) {
    std::vector<orm::detail::SelectItem> out;
    orm::detail::Query scratch = q;
    for (const auto& [name, e] : list) out.push_back({name, orm::detail::resolve_expr(scratch, e.node(), true), true});
    return out;
}

}  // namespace

TEST_CASE("compiler: order_by, reverse, default ordering") {
    auto qs = Book::objects.order_by("-price", "title");
    CHECK(tail(qs, pg()) == " ORDER BY \"book\".\"price\" DESC, \"book\".\"title\" ASC");
    CHECK(tail(qs.reverse(), sqlite()) == " ORDER BY \"book\".\"price\" ASC, \"book\".\"title\" DESC");
    CHECK(tail(Book::objects.order_by("pk"), pg()) == " ORDER BY \"book\".\"id\" ASC");
    CHECK(tail(Book::objects.order_by("in_print"), pg()) == " ORDER BY \"book\".\"available\" ASC");
    auto nulls = Book::objects.order_by(orm::desc("price").nulls_last(), orm::asc("title").nulls_first(), "id");
    for (auto* d : {&pg(), &sqlite()})
        CHECK(tail(nulls, *d) ==
              " ORDER BY \"book\".\"price\" DESC NULLS LAST, \"book\".\"title\" ASC NULLS FIRST, \"book\".\"id\" ASC");
    CHECK(tail(nulls.reverse(), pg()) ==
          " ORDER BY \"book\".\"price\" ASC NULLS FIRST, \"book\".\"title\" DESC NULLS LAST, \"book\".\"id\" DESC");
    // The model's default ordering, replaced by order_by(), cleared by order_by() with no names.
    CHECK(Tag::objects.all().sql(pg()).text ==
          "SELECT \"tag\".\"id\", \"tag\".\"label\", \"tag\".\"weight\" FROM \"tag\" ORDER BY \"tag\".\"weight\" DESC, "
          "\"tag\".\"label\" ASC");
    CHECK(Tag::objects.order_by("label").sql(pg()).text.ends_with(" ORDER BY \"tag\".\"label\" ASC"));
    CHECK(Tag::objects.order_by().sql(pg()).text == "SELECT \"tag\".\"id\", \"tag\".\"label\", \"tag\".\"weight\" FROM \"tag\"");
    CHECK_THROWS_WITH_AS(Book::objects.order_by("-titel"),
                         doctest::Contains("Cannot resolve keyword 'titel' into field for order_by. Choices are: "
                                           "added, id, in_print, isbn, pages, price, published, title"),
                         orm::FieldError);
    CHECK_THROWS_AS(Book::objects.order_by("-"), orm::FieldError);
    CHECK_THROWS_AS(Book::objects.order_by(""), orm::FieldError);
}

TEST_CASE("compiler: slicing becomes LIMIT/OFFSET per dialect, and composes") {
    CHECK(tail(Book::objects.all().slice(10, 20), pg()) == " LIMIT 10 OFFSET 10");
    CHECK(tail(Book::objects.all().slice(0, 5), sqlite()) == " LIMIT 5");
    CHECK(tail(Book::objects.all().slice(5), sqlite()) == " LIMIT -1 OFFSET 5");
    CHECK(tail(Book::objects.all().slice(5), pg()) == " OFFSET 5");
    CHECK(tail(Book::objects.all().slice(10, 20).slice(2, 5), pg()) == " LIMIT 3 OFFSET 12");
    CHECK(tail(Book::objects.all().slice(10, 20).slice(5, 50), pg()) == " LIMIT 5 OFFSET 15");
    CHECK(tail(Book::objects.all().slice(3, 1), pg()) == " LIMIT 0 OFFSET 3");
    CHECK(tail(Book::objects.order_by("title").slice(0, 3), pg()) == " ORDER BY \"book\".\"title\" ASC LIMIT 3");
    CHECK_THROWS_AS(Book::objects.all().slice(-1, 2), orm::InterfaceError);
    CHECK_THROWS_WITH_AS(Book::objects.all().slice(0, 2).filter("pages", 1), doctest::Contains("slice"),
                         orm::InterfaceError);
    CHECK_THROWS_AS(Book::objects.all().slice(0, 2).order_by("title"), orm::InterfaceError);
}

TEST_CASE("compiler: distinct, values, values_list") {
    CHECK(Book::objects.all().distinct().sql(pg()).text.starts_with("SELECT DISTINCT \"book\".\"id\""));
    CHECK(Book::objects.values("title", "price").sql(pg()).text ==
          "SELECT \"book\".\"title\", \"book\".\"price\" FROM \"book\"");
    CHECK(Book::objects.values("in_print").sql(pg()).text ==
          "SELECT \"book\".\"available\" AS \"in_print\" FROM \"book\"");
    CHECK(Book::objects.values_list("title").distinct().order_by("title").sql(sqlite()).text ==
          "SELECT DISTINCT \"book\".\"title\" FROM \"book\" ORDER BY \"book\".\"title\" ASC");
    CHECK(Author::objects.values().sql(pg()).text ==
          "SELECT \"author\".\"id\", \"author\".\"name\", \"author\".\"email\" FROM \"author\"");
    CHECK_THROWS_WITH_AS(Book::objects.values("nope"), doctest::Contains("Choices are:"), orm::FieldError);
}

TEST_CASE("compiler: annotate with aggregates groups by the other selected columns; filters go to HAVING") {
    auto qs = Book::objects.values("pages").annotate("n", Count("id")).filter("n__gt", 1).order_by("-n");
    CHECK(qs.sql(pg()).text ==
          "SELECT \"book\".\"pages\", COUNT(\"book\".\"id\") AS \"n\" FROM \"book\" GROUP BY \"book\".\"pages\" "
          "HAVING COUNT(\"book\".\"id\") > $1 ORDER BY \"n\" DESC");
    // Django's default alias.
    auto avg = Book::objects.values("pages").annotate(orm::Avg("price"));
    CHECK(avg.sql(sqlite()).text ==
          "SELECT \"book\".\"pages\", AVG(\"book\".\"price\") AS \"price__avg\" FROM \"book\" GROUP BY \"book\".\"pages\"");
    // A non-aggregate annotation on model rows, usable in filter and order_by.
    auto doubled = Book::objects.annotate("double_price", F("price") * 2).filter("double_price__gt", 10).order_by("double_price");
    CHECK(doubled.sql(pg()).text ==
          book_cols.substr(0, book_cols.size() - 12) +
              ", (\"book\".\"price\" * $1::integer) AS \"double_price\" FROM \"book\" WHERE (\"book\".\"price\" * "
              "$2::integer) > $3 ORDER BY \"double_price\" ASC");
    CHECK_THROWS_WITH_AS(Book::objects.annotate("price", Count("id")), doctest::Contains("conflicts with a field"),
                         orm::FieldError);
    CHECK_THROWS_AS(Book::objects.annotate(F("price") * 2), orm::FieldError);  // needs a name
    CHECK_THROWS_AS(Book::objects.annotate("s", orm::Sum("title")), orm::FieldError);
    CHECK_THROWS_AS(Book::objects.filter("price__gt", Count("id")).annotate("x", Count("id")), orm::FieldError);
}

TEST_CASE("compiler: count, exists and aggregate, with a subquery when sliced, distinct or grouped") {
    const auto& d = pg();
    SqlCompiler c(d);
    auto qs = Book::objects.filter("price__lt", 10);
    CHECK(c.count(qs.query()).text == "SELECT COUNT(*) FROM \"book\" WHERE \"book\".\"price\" < $1");
    CHECK(c.exists(qs.query()).text == "SELECT 1 FROM \"book\" WHERE \"book\".\"price\" < $1 LIMIT 1");
    auto sliced = qs.order_by("title").slice(0, 5);
    CHECK(c.count(sliced.query()).text ==
          "SELECT COUNT(*) FROM (" + book_cols +
              " WHERE \"book\".\"price\" < $1 ORDER BY \"book\".\"title\" ASC LIMIT 5) \"__count\"");
    auto a = c.aggregate(qs.query(), aggs(qs.query(), {{"price__avg", orm::Avg("price")}, {"n", Count()},
                                                       {"hi", orm::Max("price")}, {"s", orm::Sum(F("price") * F("pages"))}}));
    CHECK(a.text ==
          "SELECT AVG(\"book\".\"price\") AS \"price__avg\", COUNT(*) AS \"n\", MAX(\"book\".\"price\") AS \"hi\", "
          "SUM((\"book\".\"price\" * \"book\".\"pages\")) AS \"s\" FROM \"book\" WHERE \"book\".\"price\" < $1");
    auto distinct = Book::objects.values("pages").distinct();
    CHECK(c.aggregate(distinct.query(), aggs(distinct.query(), {{"n", Count("pages")}})).text ==
          "SELECT COUNT(\"__sub\".\"pages\") AS \"n\" FROM (SELECT DISTINCT \"book\".\"pages\" FROM \"book\") \"__sub\"");
    auto grouped = Book::objects.values("pages").annotate("n", Count("id"));
    CHECK(c.aggregate(grouped.query(), aggs(grouped.query(), {{"m", orm::Max("n")}})).text ==
          "SELECT MAX(\"__sub\".\"n\") AS \"m\" FROM (SELECT \"book\".\"pages\", COUNT(\"book\".\"id\") AS \"n\" FROM "
          "\"book\" GROUP BY \"book\".\"pages\") \"__sub\"");
    auto distinct_count = Count("title", true);
    CHECK(c.aggregate(qs.query(), aggs(qs.query(), {{"t", distinct_count}})).text ==
          "SELECT COUNT(DISTINCT \"book\".\"title\") AS \"t\" FROM \"book\" WHERE \"book\".\"price\" < $1");
    CHECK_THROWS_AS(aggs(qs.query(), {{"x", orm::Sum(Count("id"))}}), orm::FieldError);
}

TEST_CASE("compiler: update with values and F expressions; delete") {
    auto qs = Book::objects.filter("pages__lt", 100);
    const auto& m = orm::model_info<Book>();
    orm::detail::SetClause set;
    orm::detail::Query scratch = qs.query();
    set.emplace_back(&m.field("price"), orm::detail::resolve_expr(scratch, (F("price") * 1.1).node(), false));
    orm::detail::ExprNode v;
    v.kind = orm::detail::ExprKind::value;
    v.value = Value("x");
    set.emplace_back(&m.field("title"), std::make_shared<const orm::detail::ExprNode>(v));
    auto s = SqlCompiler(pg()).update(qs.query(), set);
    CHECK(s.text == "UPDATE \"book\" SET \"price\" = (\"book\".\"price\" * $1::double precision), \"title\" = $2 WHERE "
                    "\"book\".\"pages\" < $3");
    CHECK(s.params == std::vector<Value>{Value(1.1), Value("x"), Value(std::int32_t{100})});
    CHECK(SqlCompiler(sqlite()).update(qs.query(), set).text ==
          "UPDATE \"book\" SET \"price\" = (\"book\".\"price\" * ?), \"title\" = ? WHERE \"book\".\"pages\" < ?");
    CHECK(SqlCompiler(sqlite()).delete_rows(qs.query()).text == "DELETE FROM \"book\" WHERE \"book\".\"pages\" < ?");
    CHECK(SqlCompiler(pg()).delete_rows(Book::objects.all().query()).text == "DELETE FROM \"book\"");
    CHECK_THROWS_AS(SqlCompiler(pg()).delete_rows(qs.slice(0, 1).query()), orm::InterfaceError);
    CHECK_THROWS_AS(SqlCompiler(pg()).update(qs.slice(0, 1).query(), set), orm::InterfaceError);
}

TEST_CASE("compiler: single and multi-row INSERT, with RETURNING") {
    const auto& m = orm::model_info<Author>();
    std::vector<const orm::FieldInfo*> cols{&m.field("name"), &m.field("email")};
    CHECK(SqlCompiler(sqlite()).insert(m, cols, 1, true) ==
          "INSERT INTO \"author\" (\"name\", \"email\") VALUES (?, ?) RETURNING \"id\"");
    CHECK(SqlCompiler(pg()).insert(m, cols, 3, true) ==
          "INSERT INTO \"author\" (\"name\", \"email\") VALUES ($1, $2), ($3, $4), ($5, $6) RETURNING \"id\"");
    CHECK(SqlCompiler(pg()).insert(m, cols, 2, false) ==
          "INSERT INTO \"author\" (\"name\", \"email\") VALUES ($1, $2), ($3, $4)");
    CHECK(SqlCompiler(pg()).insert(m, {}, 1, true) == "INSERT INTO \"author\" DEFAULT VALUES RETURNING \"id\"");
}

TEST_CASE("querysets: chaining clones and leaves the original alone") {
    auto base = Book::objects.filter("pages__gt", 1);
    auto more = base.filter("price__lt", 5).order_by("title");
    CHECK(tail(base, pg()) == " WHERE \"book\".\"pages\" > $1");
    CHECK(tail(more, pg()) == " WHERE \"book\".\"pages\" > $1 AND \"book\".\"price\" < $2 ORDER BY \"book\".\"title\" ASC");
    CHECK(&base.query() != &more.query());
    // none() never needs SQL.
    CHECK(Book::objects.none().count() == 0);
    CHECK_FALSE(Book::objects.none().exists());
    CHECK(Book::objects.none().list().empty());
    CHECK(Book::objects.none().update({{"price", 1}}) == 0);
    CHECK(Book::objects.none().aggregate(Count("id")) == Value(std::int64_t{0}));
    CHECK(Book::objects.none().aggregate(orm::Avg("price")).is_null());
}
