// The compiler's SQL for issue 17's vocabulary, per dialect, no database: transforms in
// filter / order_by / values (string and typed spellings give the same text), aggregates with
// filter= / distinct / StdDev / Variance, several lookups in one filter(), database functions and
// Case / When, subqueries (__in with a queryset, Exists / Subquery with OuterRef), order_by("?"),
// distinct(fields). Every user value is a parameter.
#include "orm/compiler.hpp"
#include "orm/query.hpp"
#include "tests/orm/models.hpp"

namespace ut_fn {

struct Book;

struct Writer : orm::Model<Writer> {
    std::int64_t id = 0;
    std::string name;
    orm::RelatedSet<Book> books;
    static void describe(orm::Meta<Writer>& m);
};

struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    std::int32_t pages = 0;
    orm::ForeignKey<Writer> writer;
    static void describe(orm::Meta<Book>& m) {
        m.table("f_book");
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(100);
        m.field(&Book::pages, "pages");
        m.field(&Book::writer, "writer").related_name("books");
    }
};

inline void Writer::describe(orm::Meta<Writer>& m) {
    m.table("f_writer");
    m.field(&Writer::id, "id").primary_key();
    m.field(&Writer::name, "name").max_length(40);
    m.field(&Writer::books, "books");
}

}  // namespace ut_fn

using namespace ut;
using orm::Q;
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

// The aggregate statement for these expressions.
orm::detail::Sql aggregate_sql(const orm::detail::Query& q, const orm::db::Dialect& d,
                               std::initializer_list<std::pair<const char*, orm::Expr>> list) {
    std::vector<orm::detail::SelectItem> items;
    orm::detail::Query scratch = q;
    for (const auto& [name, e] : list) items.push_back({name, orm::detail::resolve_expr(scratch, e.node(), true), true});
    return SqlCompiler(d).aggregate(scratch, items);
}

std::string message(auto&& fn) {
    try {
        fn();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no exception)";
}

}  // namespace

TEST_CASE("functions: date transforms in filter, per dialect, string and typed spellings alike") {
    auto year = Book::objects.filter("published__year__gte", 2000);
    CHECK(tail(year, pg()) == " WHERE CAST(EXTRACT(YEAR FROM \"book\".\"published\") AS INTEGER) >= $1");
    CHECK(tail(year, sqlite()) == " WHERE CAST(strftime('%Y', \"book\".\"published\") AS INTEGER) >= ?");
    CHECK(year.sql(pg()).params.at(0).as_int64() == 2000);
    auto typed = Book::objects.filter(orm::col(&Book::published).year() >= 2000);
    for (auto* d : {&pg(), &sqlite()}) CHECK(typed.sql(*d).text == year.sql(*d).text);

    // Timestamps are UTC on PostgreSQL whatever the session's TimeZone.
    CHECK(tail(Book::objects.filter("added__hour", 5), pg()) ==
          " WHERE CAST(EXTRACT(HOUR FROM (\"book\".\"added\" AT TIME ZONE 'UTC')) AS INTEGER) = $1");
    CHECK(tail(Book::objects.filter("added__hour", 5), sqlite()) ==
          " WHERE CAST(strftime('%H', \"book\".\"added\") AS INTEGER) = ?");
    CHECK(tail(Book::objects.filter("published__week_day", 1), pg()) ==
          " WHERE (CAST(EXTRACT(DOW FROM \"book\".\"published\") AS INTEGER) + 1) = $1");
    CHECK(tail(Book::objects.filter("published__week_day", 1), sqlite()) ==
          " WHERE (CAST(strftime('%w', \"book\".\"published\") AS INTEGER) + 1) = ?");
    CHECK(tail(Book::objects.filter("published__iso_week_day", 7), sqlite()) ==
          " WHERE ((CAST(strftime('%w', \"book\".\"published\") AS INTEGER) + 6) % 7 + 1) = ?");
    CHECK(tail(Book::objects.filter("published__week", 53), sqlite()) ==
          " WHERE ((CAST(strftime('%j', date(\"book\".\"published\", '-3 days', 'weekday 4')) AS INTEGER) - 1) / 7 + "
          "1) = ?");
    CHECK(tail(Book::objects.filter("added__date", "2021-03-01"), pg()) ==
          " WHERE CAST(\"book\".\"added\" AT TIME ZONE 'UTC' AS DATE) = $1");
    CHECK(tail(Book::objects.filter("added__date__year", 2021), sqlite()) ==
          " WHERE CAST(strftime('%Y', date(\"book\".\"added\")) AS INTEGER) = ?");
    auto in_years = Book::objects.filter("published__year__in", {1999, 2001});
    CHECK(tail(in_years, pg()) == " WHERE CAST(EXTRACT(YEAR FROM \"book\".\"published\") AS INTEGER) = ANY($1::bigint[])");
}

TEST_CASE("functions: text transforms chain with lookups; transforms in order_by and values") {
    CHECK(tail(Book::objects.filter("title__lower", "abc"), pg()) == " WHERE LOWER(\"book\".\"title\") = $1");
    auto sw = Book::objects.filter("title__lower__startswith", "ab");
    auto typed = Book::objects.filter(orm::col(&Book::title).lower().startswith("ab"));
    for (auto* d : {&pg(), &sqlite()}) {
        CHECK(typed.sql(*d).text == sw.sql(*d).text);
        CHECK(sw.sql(*d).text.find("LOWER(\"book\".\"title\")") != std::string::npos);
    }
    CHECK(tail(Book::objects.filter("title__length__gt", 3), sqlite()) == " WHERE LENGTH(\"book\".\"title\") > ?");
    CHECK(tail(Book::objects.filter("title__trim__upper", "X"), pg()) == " WHERE UPPER(TRIM(\"book\".\"title\")) = $1");
    CHECK(tail(Book::objects.order_by("-published__month", "title__lower"), pg()) ==
          " ORDER BY CAST(EXTRACT(MONTH FROM \"book\".\"published\") AS INTEGER) DESC, LOWER(\"book\".\"title\") ASC");
    CHECK(Book::objects.values("published__year").sql(sqlite()).text ==
          "SELECT CAST(strftime('%Y', \"book\".\"published\") AS INTEGER) AS \"published__year\" FROM \"book\"");
    CHECK(Book::objects.annotate("y", orm::F("published__year")).values("y").sql(pg()).text ==
          Book::objects.annotate("y", orm::ExtractYear("published")).values("y").sql(pg()).text);
}

TEST_CASE("functions: a transform the field's type lacks is a FieldError listing the valid ones") {
    auto m = message([] { (void)Book::objects.filter("published__hour", 3); });
    CHECK(m.find("Unsupported lookup 'hour'") != std::string::npos);
    CHECK(m.find("transforms: day, iso_week_day, iso_year, month, quarter, week, week_day, year") != std::string::npos);
    m = message([] { (void)Book::objects.filter("price__year", 3); });
    CHECK(m.find("Unsupported lookup 'year'") != std::string::npos);
    m = message([] { (void)Book::objects.filter("title__year__gt", 3); });
    CHECK(m.find("transforms: length, lower, trim, upper") != std::string::npos);
    m = message([] { (void)Book::objects.filter("published__year__lower", "x"); });
    CHECK(m.find("Unsupported lookup 'lower' for ExtractYear(year)") != std::string::npos);
    CHECK_THROWS_AS((void)Book::objects.order_by("published__hour"), orm::FieldError);
    CHECK_THROWS_AS((void)Book::objects.values("title__year"), orm::FieldError);
}

TEST_CASE("functions: aggregates with filter=, distinct, StdDev and Variance") {
    const auto& q = Book::objects.all().query();
    auto s = aggregate_sql(q, pg(),
                           {{"n", orm::Count("id", {.filter = Q("pages__gt", 100)})},
                            {"d", orm::Sum("pages", {.distinct = true})},
                            {"sd", orm::StdDev("price", {.sample = true})},
                            {"v", orm::Variance("price")}});
    CHECK(s.text ==
          "SELECT COUNT(\"book\".\"id\") FILTER (WHERE \"book\".\"pages\" > $1) AS \"n\", SUM(DISTINCT "
          "\"book\".\"pages\") AS \"d\", STDDEV_SAMP(\"book\".\"price\") AS \"sd\", VAR_POP(\"book\".\"price\") AS \"v\" "
          "FROM \"book\"");
    REQUIRE(s.params.size() == 1);
    CHECK(s.params[0].as_int64() == 100);
    auto star = aggregate_sql(q, sqlite(), {{"n", orm::Count("*", {.filter = Q("title__startswith", "F")})}});
    CHECK(star.text == "SELECT COUNT(*) FILTER (WHERE \"book\".\"title\" GLOB ?) AS \"n\" FROM \"book\"");
    CHECK(star.params.at(0).as_text() == "F*");
    CHECK(orm::StdDev("price").default_alias() == "price__stddev");
    CHECK(orm::Variance("price").default_alias() == "price__variance");
    CHECK_THROWS_AS(Book::objects.aggregate(orm::StdDev("title")), orm::FieldError);
}

TEST_CASE("functions: several lookups in one filter() are the same Q as their conjunction") {
    auto several = Book::objects.filter("pages__gt", 10, "title__startswith", "F", Q("price__lt", 5));
    auto one = Book::objects.filter(Q("pages__gt", 10) & Q("title__startswith", "F") & Q("price__lt", 5));
    for (auto* d : {&pg(), &sqlite()}) CHECK(several.sql(*d).text == one.sql(*d).text);
    // Across a multi-valued relation: one join, both conditions on it; chained calls: two joins.
    using ut_fn::Writer;
    auto same = Writer::objects.filter("books__title__startswith", "F", "books__pages__gt", 100);
    CHECK(same.sql(pg()).text ==
          "SELECT \"f_writer\".\"id\", \"f_writer\".\"name\" FROM \"f_writer\" LEFT OUTER JOIN \"f_book\" \"T1\" ON "
          "(\"f_writer\".\"id\" = \"T1\".\"writer_id\") WHERE \"T1\".\"title\" LIKE $1 ESCAPE '\\' AND \"T1\".\"pages\" > $2");
    auto chained = Writer::objects.filter("books__title__startswith", "F").filter("books__pages__gt", 100);
    CHECK(chained.sql(pg()).text.find("\"T2\".\"pages\" > $2") != std::string::npos);
}

TEST_CASE("functions: database functions and Case / When bind every value") {
    auto concat = Book::objects.annotate("label", orm::Concat("title", orm::Val(" / "), "isbn")).values("label");
    CHECK(concat.sql(pg()).text ==
          "SELECT (COALESCE(\"book\".\"title\", '') || COALESCE($1::text, '') || COALESCE(\"book\".\"isbn\", '')) AS "
          "\"label\" FROM \"book\"");
    CHECK(concat.sql(pg()).params.at(0).as_text() == " / ");
    auto kase = Book::objects
                    .annotate("size", orm::Case({orm::When(Q("pages__gt", 300), "long"), orm::When("pages__gt", 100, "mid")},
                                                "short"))
                    .values("size");
    CHECK(kase.sql(sqlite()).text ==
          "SELECT CASE WHEN \"book\".\"pages\" > ? THEN ? WHEN \"book\".\"pages\" > ? THEN ? ELSE ? END AS \"size\" "
          "FROM \"book\"");
    auto p = kase.sql(sqlite()).params;
    REQUIRE(p.size() == 5);
    CHECK(p[1].as_text() == "long");
    CHECK(p[4].as_text() == "short");
    CHECK(Book::objects.annotate("c", orm::Coalesce("isbn", "title")).values("c").sql(pg()).text ==
          "SELECT COALESCE(\"book\".\"isbn\", \"book\".\"title\") AS \"c\" FROM \"book\"");
    CHECK(Book::objects.annotate("g", orm::Greatest("pages", orm::Val(10))).values("g").sql(sqlite()).text ==
          "SELECT MAX(\"book\".\"pages\", ?) AS \"g\" FROM \"book\"");
    CHECK(Book::objects.annotate("g", orm::Greatest("pages", orm::Val(10))).values("g").sql(pg()).text ==
          "SELECT GREATEST(\"book\".\"pages\", $1::integer) AS \"g\" FROM \"book\"");
    CHECK(Book::objects.annotate("r", orm::Round("price", 1)).values("r").sql(pg()).text ==
          "SELECT CAST(ROUND(CAST(\"book\".\"price\" AS NUMERIC), $1::integer) AS DOUBLE PRECISION) AS \"r\" FROM "
          "\"book\"");
    CHECK(Book::objects.annotate("s", orm::Substr("title", 2, 3)).values("s").sql(pg()).text ==
          "SELECT SUBSTR(\"book\".\"title\", $1::integer, $2::integer) AS \"s\" FROM \"book\"");
    CHECK(Book::objects.annotate("m", orm::TruncMonth("added")).values("m").sql(pg()).text ==
          "SELECT (DATE_TRUNC('month', \"book\".\"added\" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS \"m\" FROM \"book\"");
    CHECK(Book::objects.annotate("m", orm::TruncMonth("published")).values("m").sql(sqlite()).text ==
          "SELECT strftime('%Y-%m-01', \"book\".\"published\") AS \"m\" FROM \"book\"");
    CHECK(Book::objects.annotate("l", orm::Lower(orm::col(&Book::title))).values("l").sql(pg()).text ==
          Book::objects.annotate("l", orm::Lower("title")).values("l").sql(pg()).text);
    CHECK(Book::objects.annotate("t", orm::Cast("pages", orm::CastType::text)).values("t").sql(pg()).text ==
          "SELECT CAST(\"book\".\"pages\" AS TEXT) AS \"t\" FROM \"book\"");
    // Case in update() and order_by.
    auto upd = SqlCompiler(pg()).update(
        Book::objects.all().query(),
        {{&orm::model_info<Book>().field("pages"),
          orm::detail::resolve_expr(
              *std::make_shared<orm::detail::Query>(Book::objects.all().query()),
              orm::Case({orm::When(Q("title__startswith", "F"), orm::F("pages") + 1)}, orm::F("pages")).node(), false)}});
    CHECK(upd.text == "UPDATE \"book\" SET \"pages\" = CASE WHEN \"book\".\"title\" LIKE $1 ESCAPE '\\' THEN "
                      "(\"book\".\"pages\" + $2::integer) ELSE \"book\".\"pages\" END");
}

TEST_CASE("functions: user values reaching Cast, Round, When and Concat are parameters") {
    const std::string hostile = "1'); DROP TABLE book; --";
    auto qs = Book::objects
                  .annotate("c", orm::Cast(orm::Val(hostile), orm::CastType::int64))
                  .annotate("r", orm::Round(orm::Val(2.5), 3))
                  .annotate("w", orm::Case({orm::When(Q("title", hostile), orm::Concat(orm::Val(hostile), "title"))}))
                  .values("c", "r", "w");
    for (auto* d : {&pg(), &sqlite()}) {
        auto s = qs.sql(*d);
        CHECK(s.text.find("DROP") == std::string::npos);
        REQUIRE(s.params.size() == 6);  // the last: the Case's default, NULL
        CHECK(s.params[0].as_text() == hostile);
        CHECK(s.params[1].as_double() == 2.5);
        CHECK(s.params[2].as_int64() == 3);
        CHECK(s.params[3].as_text() == hostile);
        CHECK(s.params[4].as_text() == hostile);
        CHECK(s.params[5].is_null());
    }
}

TEST_CASE("functions: expressions as order_by terms") {
    auto kase = Book::objects.order_by(orm::Case({orm::When(Q("pages__gt", 300), 1)}, 2), orm::Lower("title").desc(), "id");
    CHECK(tail(kase, pg()) == " ORDER BY CASE WHEN \"book\".\"pages\" > $1 THEN $2::integer ELSE $3::integer END ASC, "
                              "LOWER(\"book\".\"title\") DESC, \"book\".\"id\" ASC");
    CHECK(tail(kase.reverse(), sqlite()) ==
          " ORDER BY CASE WHEN \"book\".\"pages\" > ? THEN ? ELSE ? END DESC, LOWER(\"book\".\"title\") ASC, "
          "\"book\".\"id\" DESC");
    CHECK(tail(Book::objects.order_by(orm::F("published__year").desc().nulls_last()), pg()) ==
          " ORDER BY CAST(EXTRACT(YEAR FROM \"book\".\"published\") AS INTEGER) DESC NULLS LAST");
    CHECK_THROWS_AS((void)Book::objects.order_by(orm::Lower("pages")), orm::FieldError);
}

TEST_CASE("functions: wrong argument types and a Case without When are FieldErrors") {
    auto m = message([] { (void)Book::objects.annotate("x", orm::Lower("price")); });
    CHECK(m.find("Lower() needs text operands, but 'price' is") != std::string::npos);
    m = message([] { (void)Book::objects.annotate("x", orm::ExtractHour("published")); });
    CHECK(m.find("ExtractHour() needs a timestamp") != std::string::npos);
    m = message([] { (void)Book::objects.annotate("x", orm::Coalesce("title", "pages")); });
    CHECK(m.find("mixed types") != std::string::npos);
    m = message([] { (void)orm::Case({}, 1); });
    CHECK(m.find("Case() needs at least one When") != std::string::npos);
    m = message([] { (void)Book::objects.annotate("x", orm::Case({orm::When(Q("pages__gt", 1), "a")}, 2)); });
    CHECK(m.find("mixed types") != std::string::npos);
    CHECK_THROWS_AS(orm::Extract("published", "fortnight"), orm::FieldError);
}

TEST_CASE("functions: querysets as __in values, Exists and Subquery with OuterRef") {
    using ut_fn::Writer;
    using BookF = ut_fn::Book;
    auto in = BookF::objects.filter("writer__in", Writer::objects.filter("name__startswith", "A"));
    CHECK(in.sql(pg()).text ==
          "SELECT \"f_book\".\"id\", \"f_book\".\"title\", \"f_book\".\"pages\", \"f_book\".\"writer_id\" FROM "
          "\"f_book\" WHERE \"f_book\".\"writer_id\" IN (SELECT \"f_writer\".\"id\" FROM \"f_writer\" WHERE "
          "\"f_writer\".\"name\" LIKE $1 ESCAPE '\\')");
    auto in_values = BookF::objects.filter("title__in", BookF::objects.filter("pages__gt", 9).values("title"));
    CHECK(in_values.sql(sqlite()).text.ends_with(
        "WHERE \"f_book\".\"title\" IN (SELECT \"f_book\".\"title\" FROM \"f_book\" WHERE \"f_book\".\"pages\" > ?)"));
    CHECK_THROWS_AS((void)BookF::objects.filter("title__in", BookF::objects.values("title", "pages")), orm::FieldError);

    auto ex = Writer::objects.filter(orm::Exists(BookF::objects.filter("writer", orm::OuterRef("pk"), "pages__gt", 100)));
    CHECK(ex.sql(pg()).text ==
          "SELECT \"f_writer\".\"id\", \"f_writer\".\"name\" FROM \"f_writer\" WHERE EXISTS(SELECT \"U1\".\"id\" FROM "
          "\"f_book\" \"U1\" WHERE \"U1\".\"writer_id\" = \"f_writer\".\"id\" AND \"U1\".\"pages\" > $1)");
    auto not_ex = Writer::objects.exclude(orm::Exists(BookF::objects.filter("writer", orm::OuterRef("pk"))));
    CHECK(not_ex.sql(sqlite()).text.ends_with(
        "WHERE NOT (EXISTS(SELECT \"U1\".\"id\" FROM \"f_book\" \"U1\" WHERE \"U1\".\"writer_id\" = \"f_writer\".\"id\"))"));
    auto newest = Writer::objects.annotate(
        "longest", orm::Subquery(BookF::objects.filter("writer", orm::OuterRef("pk")).order_by("-pages").values("title").slice(0, 1)));
    CHECK(newest.values("longest").sql(pg()).text ==
          "SELECT (SELECT \"U1\".\"title\" FROM \"f_book\" \"U1\" WHERE \"U1\".\"writer_id\" = \"f_writer\".\"id\" ORDER "
          "BY \"U1\".\"pages\" DESC LIMIT 1) AS \"longest\" FROM \"f_writer\"");
    // OuterRef outside a subquery.
    auto m = message([] { (void)BookF::objects.filter("writer", orm::OuterRef("pk")).sql(pg()); });
    CHECK(m.find("OuterRef('pk')") != std::string::npos);
    CHECK_THROWS_AS((void)BookF::objects.filter("writer", orm::OuterRef("pk")).sql(sqlite()), orm::FieldError);
    CHECK_THROWS_AS((void)Writer::objects.filter(orm::Exists(BookF::objects.filter("writer", orm::OuterRef("nope")))),
                    orm::FieldError);
}

TEST_CASE("functions: order_by(\"?\"), distinct(fields)") {
    CHECK(tail(Book::objects.order_by("?"), pg()) == " ORDER BY RANDOM() ASC");
    CHECK(Book::objects.distinct("title").sql(pg()).text ==
          "SELECT DISTINCT ON (\"book\".\"title\") \"book\".\"id\", \"book\".\"title\", \"book\".\"price\", "
          "\"book\".\"pages\", \"book\".\"available\", \"book\".\"published\", \"book\".\"isbn\", \"book\".\"added\" "
          "FROM \"book\" ORDER BY \"book\".\"title\" ASC");
    CHECK_THROWS_AS((void)Book::objects.distinct("title").sql(sqlite()), orm::NotSupportedError);
    auto m = message([] { (void)Book::objects.distinct("title").sql(sqlite()); });
    CHECK(m.find("sqlite") != std::string::npos);
}
