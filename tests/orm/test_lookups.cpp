// Every lookup, rendered per dialect, with its bound parameters; Q combinations; typed columns.
#include "tests/orm/models.hpp"

using namespace ut;
using orm::F;
using orm::Q;
using orm::Value;

namespace {

const std::string book_cols =
    "SELECT \"book\".\"id\", \"book\".\"title\", \"book\".\"price\", \"book\".\"pages\", \"book\".\"available\", "
    "\"book\".\"published\", \"book\".\"isbn\", \"book\".\"added\" FROM \"book\"";

// The WHERE clause (without "WHERE ") of a Book queryset's SELECT.
std::string where(const orm::QuerySet<Book>& qs, const orm::db::Dialect& d) {
    auto sql = qs.sql(d).text;
    REQUIRE(sql.starts_with(book_cols + " WHERE "));
    return sql.substr(book_cols.size() + 7);
}

std::vector<Value> params(const orm::QuerySet<Book>& qs, const orm::db::Dialect& d) { return qs.sql(d).params; }

struct Case {
    const char* lookup;
    Value value;
    const char* sqlite_where;
    const char* sqlite_param;
    const char* pg_where;
    const char* pg_param;
};

}  // namespace

TEST_CASE("lookups: text matching per dialect; %, _ and the escape character are literal") {
    const Case cases[] = {
        {"title", "a%b", "\"book\".\"title\" = ?", "a%b", "\"book\".\"title\" = $1", "a%b"},
        {"title__exact", "a%b", "\"book\".\"title\" = ?", "a%b", "\"book\".\"title\" = $1", "a%b"},
        {"title__iexact", "A_b", "UPPER(\"book\".\"title\") = UPPER(?)", "A_b", "UPPER(\"book\".\"title\") = UPPER($1)",
         "A_b"},
        {"title__contains", "50%_off\\", "\"book\".\"title\" GLOB ?", "*50%_off\\*",
         "\"book\".\"title\" LIKE $1 ESCAPE '\\'", "%50\\%\\_off\\\\%"},
        {"title__icontains", "50%_off", "\"book\".\"title\" LIKE ? ESCAPE '\\'", "%50\\%\\_off%",
         "UPPER(\"book\".\"title\") LIKE UPPER($1) ESCAPE '\\'", "%50\\%\\_off%"},
        {"title__startswith", "a*b?[c", "\"book\".\"title\" GLOB ?", "a[*]b[?][[]c*",
         "\"book\".\"title\" LIKE $1 ESCAPE '\\'", "a*b?[c%"},
        {"title__istartswith", "x_", "\"book\".\"title\" LIKE ? ESCAPE '\\'", "x\\_%",
         "UPPER(\"book\".\"title\") LIKE UPPER($1) ESCAPE '\\'", "x\\_%"},
        {"title__endswith", "%", "\"book\".\"title\" GLOB ?", "*%", "\"book\".\"title\" LIKE $1 ESCAPE '\\'", "%\\%"},
        {"title__iendswith", "Ab", "\"book\".\"title\" LIKE ? ESCAPE '\\'", "%Ab",
         "UPPER(\"book\".\"title\") LIKE UPPER($1) ESCAPE '\\'", "%Ab"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.lookup);
        auto qs = Book::objects.filter(c.lookup, c.value);
        CHECK(where(qs, sqlite()) == c.sqlite_where);
        CHECK(params(qs, sqlite()) == std::vector<Value>{Value(c.sqlite_param)});
        CHECK(where(qs, pg()) == c.pg_where);
        CHECK(params(qs, pg()) == std::vector<Value>{Value(c.pg_param)});
    }
}

TEST_CASE("lookups: comparisons, in, range, isnull") {
    auto qs = Book::objects.filter("price__gt", 10);
    CHECK(where(qs, sqlite()) == "\"book\".\"price\" > ?");
    CHECK(where(qs, pg()) == "\"book\".\"price\" > $1");
    CHECK(params(qs, pg()) == std::vector<Value>{Value(10.0)});  // normalized to the field's type
    CHECK(where(Book::objects.filter("price__gte", 1.5), pg()) == "\"book\".\"price\" >= $1");
    CHECK(where(Book::objects.filter("pages__lt", 100), pg()) == "\"book\".\"pages\" < $1");
    CHECK(where(Book::objects.filter("pages__lte", 100), sqlite()) == "\"book\".\"pages\" <= ?");
    // A fractional bound on an integer column compares as a number (typed on PostgreSQL).
    CHECK(where(Book::objects.filter("pages__lt", 9.5), pg()) == "\"book\".\"pages\" < $1::double precision");
    CHECK(where(Book::objects.filter("pages__lt", 9.5), sqlite()) == "\"book\".\"pages\" < ?");

    // An IN list is one parameter whatever its length: an array on PostgreSQL, a JSON array on
    // SQLite; the statement text is the same for every length.
    auto in = Book::objects.filter("id__in", {1, 2, 3});
    CHECK(where(in, sqlite()) == "\"book\".\"id\" IN (SELECT value FROM json_each(?))");
    CHECK(where(in, pg()) == "\"book\".\"id\" = ANY($1::bigint[])");
    CHECK(params(in, pg()) == std::vector<Value>{Value("{1,2,3}")});
    CHECK(params(in, sqlite()) == std::vector<Value>{Value("[1,2,3]")});
    CHECK(where(Book::objects.filter("id__in", {4}), pg()) == where(in, pg()));
    std::vector<std::string> titles{"a", "b\"c\\", "{x,y}"};
    CHECK(where(Book::objects.filter("title__in", titles), pg()) == "\"book\".\"title\" = ANY($1::text[])");
    CHECK(params(Book::objects.filter("title__in", titles), pg()) == std::vector<Value>{Value("{\"a\",\"b\\\"c\\\\\",\"{x,y}\"}")});
    CHECK(params(Book::objects.filter("title__in", titles), sqlite()) == std::vector<Value>{Value("[\"a\",\"b\\\"c\\\\\",\"{x,y}\"]")});
    // A fractional value against an integer column: the list compares as numbers.
    CHECK(where(Book::objects.filter("pages__in", {1, 2.5}), pg()) == "\"book\".\"pages\" = ANY($1::double precision[])");
    CHECK(params(Book::objects.filter("pages__in", {1, 2.5}), sqlite()) == std::vector<Value>{Value("[1.0,2.5]")});
    // NULLs never match IN and are dropped; an empty list matches nothing.
    CHECK(params(Book::objects.filter("isbn__in", {Value("x"), Value()}), pg()) == std::vector<Value>{Value("{\"x\"}")});
    CHECK(where(Book::objects.filter("id__in", std::vector<int>{}), pg()) == "1 = 0");
    CHECK(where(Book::objects.exclude("id__in", std::vector<int>{}), pg()) == "NOT (1 = 0)");

    auto range = Book::objects.filter("pages__range", std::pair(10, 20));
    CHECK(where(range, sqlite()) == "\"book\".\"pages\" BETWEEN ? AND ?");
    CHECK(where(range, pg()) == "\"book\".\"pages\" BETWEEN $1 AND $2");
    using namespace std::chrono;
    auto dates = Book::objects.filter("published__range", {orm::Date(year(2020) / 1 / 1), orm::Date(year(2020) / 12 / 31)});
    CHECK(where(dates, pg()) == "\"book\".\"published\" BETWEEN $1 AND $2");

    CHECK(where(Book::objects.filter("published__isnull", true), pg()) == "\"book\".\"published\" IS NULL");
    CHECK(where(Book::objects.filter("published__isnull", false), pg()) == "\"book\".\"published\" IS NOT NULL");
    // exact NULL means IS NULL, as in Django.
    CHECK(where(Book::objects.filter("isbn", nullptr), sqlite()) == "\"book\".\"isbn\" IS NULL");
    CHECK(where(Book::objects.filter("in_print", true), sqlite()) == "\"book\".\"available\" = ?");
}

TEST_CASE("lookups: regex per dialect; a clear error where a dialect has none") {
    CHECK(where(Book::objects.filter("title__regex", "^F.*s$"), pg()) == "\"book\".\"title\" ~ $1");
    CHECK(where(Book::objects.filter("title__iregex", "^f"), pg()) == "\"book\".\"title\" ~* $1");
    CHECK(where(Book::objects.filter("title__regex", "^F"), sqlite()) == "weft_regexp(\"book\".\"title\", ?)");
    CHECK(where(Book::objects.filter("title__iregex", "^F"), sqlite()) == "weft_iregexp(\"book\".\"title\", ?)");
    struct Plain final : orm::db::Dialect {
        std::string_view name() const override { return "plain"; }
        std::string placeholder(std::size_t) const override { return "?"; }
    } plain;
    CHECK_THROWS_WITH_AS(Book::objects.filter("title__regex", "^F").sql(plain),
                         doctest::Contains("no regular expression lookups"), orm::NotSupportedError);
}

TEST_CASE("lookups: bad names and values are reported when the queryset is built") {
    CHECK_THROWS_WITH_AS(Book::objects.filter("titel", "x"),
                         doctest::Contains("Cannot resolve keyword 'titel' into field. Choices are: added, id, "
                                           "in_print, isbn, pages, price, published, title"),
                         orm::FieldError);
    CHECK_THROWS_WITH_AS(Book::objects.filter("title__foo", "x"), doctest::Contains("Unsupported lookup 'foo'"),
                         orm::FieldError);
    CHECK_THROWS_WITH_AS(Book::objects.filter("title__foo", "x"),
                         doctest::Contains("Choices are: contains, endswith, exact, gt, gte, icontains, iendswith, "
                                           "iexact, in, iregex, isnull, istartswith, lt, lte, range, regex, "
                                           "startswith"),
                         orm::FieldError);
    // Text lookups are not offered on numbers.
    CHECK_THROWS_WITH_AS(Book::objects.filter("price__contains", "1"),
                         doctest::Contains("Choices are: exact, gt, gte, in, isnull, lt, lte, range"), orm::FieldError);
    CHECK_THROWS_WITH_AS(Book::objects.filter("title__name__exact", "x"), doctest::Contains("is not a relation"),
                         orm::FieldError);
    CHECK_THROWS_WITH_AS(Book::objects.filter("price__lt", "cheap"), doctest::Contains("expected a number"),
                         orm::ValidationError);
    CHECK_THROWS_AS(Book::objects.filter("price__in", 3), orm::ValidationError);
    CHECK_THROWS_AS(Book::objects.filter("price__range", {1}), orm::ValidationError);
    CHECK_THROWS_AS(Book::objects.filter("published__isnull", 1), orm::ValidationError);
    CHECK_THROWS_AS(Book::objects.filter("title__contains", 5), orm::ValidationError);
    CHECK_THROWS_AS(Book::objects.filter("title__contains", nullptr), orm::ValidationError);
}

TEST_CASE("Q: &, |, ~ and exclude, with Django's NULL handling under negation") {
    auto qs = Book::objects.filter(Q("price__lt", 10) | Q("title__startswith", "F"));
    CHECK(where(qs, sqlite()) == "\"book\".\"price\" < ? OR \"book\".\"title\" GLOB ?");
    auto both = qs.filter("pages__gt", 100);
    CHECK(where(both, pg()) == "(\"book\".\"price\" < $1 OR \"book\".\"title\" LIKE $2 ESCAPE '\\') AND \"book\".\"pages\" > $3");
    auto neg = Book::objects.filter(~Q("title", "x") & Q("pages", 1));
    CHECK(where(neg, pg()) == "NOT (\"book\".\"title\" = $1) AND \"book\".\"pages\" = $2");
    // exclude() on a nullable column keeps its NULL rows.
    CHECK(where(Book::objects.exclude("isbn", "123"), pg()) ==
          "NOT (\"book\".\"isbn\" = $1 AND \"book\".\"isbn\" IS NOT NULL)");
    CHECK(where(Book::objects.exclude("isbn__isnull", true), pg()) == "NOT (\"book\".\"isbn\" IS NULL)");
    CHECK(where(Book::objects.exclude(Q("isbn", "1") | Q("pages", 2)), pg()) ==
          "NOT ((\"book\".\"isbn\" = $1 AND \"book\".\"isbn\" IS NOT NULL) OR \"book\".\"pages\" = $2)");
    // ~~q is q; & flattens; an empty Q is neutral.
    CHECK(where(Book::objects.filter(~~Q("pages", 1)), pg()) == "\"book\".\"pages\" = $1");
    auto flat = Book::objects.filter(Q("pages", 1) & (Q("pages", 2) & Q("pages", 3)));
    CHECK(where(flat, pg()) == "\"book\".\"pages\" = $1 AND \"book\".\"pages\" = $2 AND \"book\".\"pages\" = $3");
    CHECK(Book::objects.filter(Q() & Q()).sql(pg()).text == book_cols);
    CHECK(where(Book::objects.filter(Q() | Q("pages", 1)), pg()) == "\"book\".\"pages\" = $1");
}

TEST_CASE("F: expressions in filters, with + - * /") {
    auto qs = Book::objects.filter("price__gt", F("pages") * 2);
    CHECK(where(qs, sqlite()) == "\"book\".\"price\" > (\"book\".\"pages\" * ?)");
    CHECK(where(qs, pg()) == "\"book\".\"price\" > (\"book\".\"pages\" * $1::integer)");
    auto nested = Book::objects.filter("price", (F("price") + F("pages")) / 2.0 - 1);
    CHECK(where(nested, pg()) ==
          "\"book\".\"price\" = (((\"book\".\"price\" + \"book\".\"pages\") / $1::double precision) - $2::integer)");
    CHECK_THROWS_AS(Book::objects.filter("price__gt", F("nope")), orm::FieldError);
    CHECK_THROWS_WITH_AS(Book::objects.filter("title__contains", F("isbn")), doctest::Contains("takes a value"),
                         orm::FieldError);
}

TEST_CASE("typed columns compile to the same query as string lookups") {
    using orm::col;
    auto same = [](const orm::QuerySet<Book>& a, const orm::QuerySet<Book>& b) {
        CHECK(a.sql(pg()).text == b.sql(pg()).text);
        CHECK(a.sql(pg()).params == b.sql(pg()).params);
        CHECK(a.sql(sqlite()).text == b.sql(sqlite()).text);
    };
    same(Book::objects.filter(col(&Book::price) < 10), Book::objects.filter("price__lt", 10));
    same(Book::objects.filter(col(&Book::price) >= 10.5), Book::objects.filter("price__gte", 10.5));
    same(Book::objects.filter(col(&Book::title).icontains("x")), Book::objects.filter("title__icontains", "x"));
    same(Book::objects.filter(col(&Book::title) == "x"), Book::objects.filter("title", "x"));
    same(Book::objects.filter(col(&Book::title) != "x"), Book::objects.exclude("title", "x"));
    same(Book::objects.filter(col(&Book::pages).in({1, 2})), Book::objects.filter("pages__in", {1, 2}));
    same(Book::objects.filter(col(&Book::pages).range(1, 5)), Book::objects.filter("pages__range", {1, 5}));
    same(Book::objects.filter(col(&Book::isbn).isnull()), Book::objects.filter("isbn__isnull", true));
    same(Book::objects.filter(col(&Book::price) > col(&Book::pages) * 2), Book::objects.filter("price__gt", F("pages") * 2));
    same(Book::objects.filter((col(&Book::price) < 5) | col(&Book::title).startswith("F")),
         Book::objects.filter(Q("price__lt", 5) | Q("title__startswith", "F")));
    // Used on another model's query, a typed column is refused.
    CHECK_THROWS_WITH_AS(Author::objects.filter(col(&Book::title) == "x"), doctest::Contains("belongs to model"),
                         orm::FieldError);
    // These do not compile (the point of typed columns):
    //   col(&Book::price).icontains("x");   col(&Book::price) < "abc";   col(&Book::pages) == std::string("1");
}

TEST_CASE("same shape, same SQL text: prepared statements are reused") {
    auto a = Book::objects.filter("price__lt", 10).filter("title__icontains", "x").order_by("-price").slice(0, 10);
    auto b = Book::objects.filter("price__lt", 99).filter("title__icontains", "yy").order_by("-price").slice(0, 10);
    for (const auto* d : {&sqlite(), &pg()}) {
        CHECK(a.sql(*d).text == b.sql(*d).text);
        CHECK(a.sql(*d).params != b.sql(*d).params);
    }
}

TEST_CASE("injection-shaped values are bound parameters, never SQL text") {
    const std::string evil = "x'); DROP TABLE book; --";
    for (const char* lookup : {"title", "title__iexact", "title__contains", "title__icontains", "title__startswith",
                               "title__istartswith", "title__endswith", "title__iendswith", "title__gt"}) {
        auto s = Book::objects.filter(lookup, evil).sql(pg());
        CHECK(s.text.find("DROP") == std::string::npos);
        CHECK(s.params.size() == 1);
    }
    CHECK_THROWS_AS(Book::objects.order_by("title; DROP TABLE book"), orm::FieldError);
    CHECK_THROWS_AS(Book::objects.order_by("title\" DESC, (SELECT 1)--"), orm::FieldError);
    CHECK_THROWS_AS(Book::objects.values("title FROM book; --"), orm::FieldError);
}
