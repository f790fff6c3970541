// ORM conformance: lookups (same results on every backend), Q and F, ordering, slicing, values,
// aggregates and annotations, update / remove, laziness and caching, chunked iteration, none().
#include <fmt/ranges.h>

#include "tests/conformance/test_orm_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;

namespace {

using Strings = std::vector<std::string>;

}  // namespace

CONFORMANCE_TEST("orm: lookups give the same rows on every backend; %, _ and \\ match literally") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    auto n = [](const char* lookup, Operand v) { return Book::objects.filter(lookup, std::move(v)).count(); };
    CT_CHECK_EQ(n("title", "Zero"), std::int64_t{1});
    CT_CHECK_EQ(n("title", "zero"), std::int64_t{0});
    CT_CHECK_EQ(n("title__iexact", "zERO"), std::int64_t{1});
    CT_CHECK_EQ(n("title__contains", "ibers"), std::int64_t{2});
    CT_CHECK_EQ(n("title__contains", "Fibers"), std::int64_t{1});  // case-sensitive, also on SQLite
    CT_CHECK_EQ(n("title__icontains", "FIBERS"), std::int64_t{2});
    CT_CHECK_EQ(n("title__startswith", "f"), std::int64_t{1});
    CT_CHECK_EQ(n("title__istartswith", "f"), std::int64_t{2});
    CT_CHECK_EQ(n("title__endswith", "Practice"), std::int64_t{1});
    CT_CHECK_EQ(n("title__endswith", "practice"), std::int64_t{0});
    CT_CHECK_EQ(n("title__iendswith", "PRACTICE"), std::int64_t{1});
    // Wildcards and the escape character in user text are literal.
    CT_CHECK_EQ(n("title__contains", "%"), std::int64_t{1});
    CT_CHECK_EQ(n("title__contains", "_"), std::int64_t{1});
    CT_CHECK_EQ(n("title__contains", "0%_d"), std::int64_t{1});
    CT_CHECK_EQ(n("title__contains", "%x"), std::int64_t{0});
    CT_CHECK_EQ(n("title__icontains", "100%_DONE"), std::int64_t{1});
    CT_CHECK_EQ(n("title__endswith", "\\"), std::int64_t{1});
    CT_CHECK_EQ(n("title__iendswith", "DONE\\"), std::int64_t{1});
    CT_CHECK_EQ(n("title__startswith", "_"), std::int64_t{0});
    CT_CHECK_EQ(n("title__istartswith", "%"), std::int64_t{0});
    CT_CHECK_EQ(n("title__contains", "*"), std::int64_t{0});  // GLOB's wildcards are literal too
    CT_CHECK_EQ(n("title__contains", "?"), std::int64_t{0});
    CT_CHECK_EQ(n("title__contains", "["), std::int64_t{0});
    CT_CHECK_EQ(n("title__contains", "&"), std::int64_t{1});
    CT_CHECK_EQ(n("title__contains", ""), std::int64_t{5});
    CT_CHECK_EQ(n("price__gt", 12.5), std::int64_t{2});
    CT_CHECK_EQ(n("price__gte", 12.5), std::int64_t{3});
    CT_CHECK_EQ(n("price__lt", 8.75), std::int64_t{1});
    CT_CHECK_EQ(n("price__lte", 8.75), std::int64_t{2});
    CT_CHECK_EQ(n("pages__lt", 90.5), std::int64_t{2});  // a fractional bound on an integer column
    CT_CHECK_EQ(n("pages__in", {90, 150, 7}), std::int64_t{2});
    CT_CHECK_EQ(n("title__in", Strings{"Zero", "zero"}), std::int64_t{1});
    CT_CHECK_EQ(n("id__in", std::vector<std::int64_t>{}), std::int64_t{0});
    CT_CHECK_EQ(n("pages__range", std::pair(90, 200)), std::int64_t{3});
    CT_CHECK_EQ(n("published__isnull", true), std::int64_t{3});
    CT_CHECK_EQ(n("published__isnull", false), std::int64_t{2});
    CT_CHECK_EQ(n("isbn", nullptr), std::int64_t{2});
    CT_CHECK_EQ(n("in_print", false), std::int64_t{1});
    using std::chrono::year;
    CT_CHECK_EQ(n("published__gt", Date(year(2020) / 1 / 1)), std::int64_t{1});
    CT_CHECK_EQ(n("published__range", {Date(year(2019) / 1 / 1), Date(year(2019) / 12 / 31)}), std::int64_t{1});
    CT_CHECK_EQ(n("published", "2021-03-01"), std::int64_t{1});  // ISO text for a date field
}

CONFORMANCE_TEST("orm: case-insensitive lookups on non-ASCII text follow case_insensitive_matches_non_ascii and iregex_matches_non_ascii") {
    Tables<Author> tables(ctx);
    Author::objects.create({.name = "Élodie"});
    Author::objects.create({.name = "ÅSA"});
    // The database in use says (a PostgreSQL database created with LC_CTYPE=C folds ASCII only).
    const bool folds = orm::database().features().case_insensitive_matches_non_ascii;
    // ASCII folds everywhere; é/É only where the feature says so (SQLite without ICU does not).
    CT_CHECK_EQ(Author::objects.filter("name__icontains", "LODIE").count(), std::int64_t{1});
    CT_CHECK_EQ(Author::objects.filter("name__iexact", "élodie").count(), std::int64_t{folds ? 1 : 0});
    CT_CHECK_EQ(Author::objects.filter("name__istartswith", "å").count(), std::int64_t{folds ? 1 : 0});
    Author::objects.create({.name = "André"});
    CT_CHECK_EQ(Author::objects.filter("name__icontains", "É").count(), std::int64_t{folds ? 2 : 1});
    CT_CHECK_EQ(Author::objects.filter("name__iendswith", "É").count(), std::int64_t{folds ? 1 : 0});
    CT_CHECK_EQ(Author::objects.filter("name__iendswith", "RÉ").count(), std::int64_t{folds ? 1 : 0});
    if (ctx.features().supports_regex) {
        // iregex has its own flag: SQLite's PCRE2 folds every letter where its LIKE folds ASCII.
        const bool regex_folds = orm::database().features().iregex_matches_non_ascii;
        CT_CHECK_EQ(Author::objects.filter("name__iregex", "^é").count(), std::int64_t{regex_folds ? 1 : 0});
        CT_CHECK_EQ(Author::objects.filter("name__iregex", "^åsa$").count(), std::int64_t{regex_folds ? 1 : 0});
        CT_CHECK_EQ(Author::objects.filter("name__iregex", "^[a-z]+é$").count(), std::int64_t{1});  // ASCII folds
    }
    // Exact and case-sensitive lookups on non-ASCII text agree everywhere.
    CT_CHECK_EQ(Author::objects.filter("name__startswith", "Él").count(), std::int64_t{1});
    CT_CHECK_EQ(Author::objects.filter("name__contains", "é").count(), std::int64_t{1});
    CT_CHECK_EQ(Author::objects.filter("name__endswith", "É").count(), std::int64_t{0});
}

CONFORMANCE_TEST("orm: regex and iregex lookups") {
    CT_REQUIRE_FEATURE(supports_regex);
    Tables<Author, Book> tables(ctx);
    seed_books();
    CT_CHECK_EQ(Book::objects.filter("title__regex", "^[Ff]ibers").count(), std::int64_t{2});
    CT_CHECK_EQ(Book::objects.filter("title__regex", "^fibers").count(), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.filter("title__iregex", "^FIBERS").count(), std::int64_t{2});
    CT_CHECK_EQ(Book::objects.filter("title__regex", "[0-9]+%").count(), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.filter("title__regex", "Deadlines$").count(), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.exclude("title__iregex", "fibers|zero").count(), std::int64_t{2});
    CT_CHECK_EQ(Book::objects.filter("isbn__regex", "^[0-9]+$").count(), std::int64_t{3});  // NULLs never match
    // A malformed pattern is the database's error, not a crash or a silent non-match.
    CT_CHECK_THROWS_AS(Book::objects.filter("title__regex", "(unclosed").count(), DatabaseError);
}

CONFORMANCE_TEST("orm: regex patterns beyond the common ground follow regex_syntax") {
    CT_REQUIRE_FEATURE(supports_regex);
    Tables<Author, Book> tables(ctx);
    seed_books();
    using orm::db::RegexSyntax;
    const RegexSyntax syntax = ctx.features().regex_syntax;
    CT_CHECK(syntax == RegexSyntax::pcre2 || syntax == RegexSyntax::posix_are);
    auto count = [](const char* lookup, const char* pattern) { return Book::objects.filter(lookup, pattern).count(); };
    // The common ground: the same answer everywhere.
    CT_CHECK_EQ(count("title__regex", "^\\w+ (in|for) \\w+$"), std::int64_t{2});
    CT_CHECK_EQ(count("title__regex", "\\d{3}"), std::int64_t{1});
    CT_CHECK_EQ(count("title__iregex", "^(fibers|zero)"), std::int64_t{3});
    CT_CHECK_EQ(count("title__regex", "[[:upper:]][[:lower:]]+ & "), std::int64_t{1});  // POSIX classes
    if (syntax == RegexSyntax::pcre2) {
        // \b is a word boundary; \y is an unknown escape (an error); lookbehind works.
        CT_CHECK_EQ(count("title__iregex", "\\bfibers\\b"), std::int64_t{2});
        CT_CHECK_THROWS_AS(count("title__regex", "As\\ync"), DatabaseError);
        CT_CHECK_EQ(count("title__regex", "(?<=in )Practice"), std::int64_t{1});
        CT_CHECK_EQ(count("title__regex", "^\\p{Lu}"), std::int64_t{4});  // Unicode properties
    } else {
        // \y is the word boundary; \b is a backspace (no title has one); lookbehind works.
        CT_CHECK_EQ(count("title__iregex", "\\yfibers\\y"), std::int64_t{2});
        CT_CHECK_EQ(count("title__iregex", "\\bfibers\\b"), std::int64_t{0});
        CT_CHECK_EQ(count("title__regex", "As\\ync"), std::int64_t{0});
        CT_CHECK_EQ(count("title__regex", "(?<=in )Practice"), std::int64_t{1});
    }
    // Either way the connection stays usable after a pattern error.
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{5});
}

CONFORMANCE_TEST("orm: Q objects with &, |, ~ and exclude keep Django's NULL semantics") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    CT_CHECK_EQ(Book::objects.filter(Q("price__lt", 10) | Q("title__startswith", "P")).count(), std::int64_t{3});
    CT_CHECK_EQ(Book::objects.filter(Q("price__lt", 10) & Q("pages__gt", 50)).count(), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.filter(~Q("price__lt", 10)).count(), std::int64_t{3});
    // isbn is NULL for two books: exclude(isbn="111") keeps them (SQL's NOT alone would drop them).
    CT_CHECK_EQ(Book::objects.exclude("isbn", "111").count(), std::int64_t{4});
    CT_CHECK_EQ(Book::objects.exclude(Q("isbn", "111") | Q("isbn", "222")).count(), std::int64_t{3});
    CT_CHECK_EQ(Book::objects.filter(~Q("rating__gt", 3.5)).count(), std::int64_t{3});  // NULL ratings included
    CT_CHECK_EQ(Book::objects.exclude("rating__isnull", true).count(), std::int64_t{3});
    // Typed columns find the same rows.
    CT_CHECK_EQ(Book::objects.filter((col(&Book::price) < 10) | col(&Book::title).startswith("P")).count(),
                std::int64_t{3});
    CT_CHECK_EQ(Book::objects.filter(col(&Book::isbn) != "111").count(), std::int64_t{4});
    CT_CHECK_EQ(Book::objects.filter(col(&Book::title).icontains("FIBERS")).count(), std::int64_t{2});
}

CONFORMANCE_TEST("orm: F expressions in filters, updates and annotations") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    // price > pages / 10 (integer division on every backend), price > pages / 100.0
    CT_CHECK_EQ(Book::objects.filter("price__gt", F("pages") / 10).count(), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.filter("price__gt", F("pages") / 100.0).count(), std::int64_t{4});
    CT_CHECK_EQ(Book::objects.filter("price", F("price") * 1).count(), std::int64_t{5});
    auto n = Book::objects.filter("price__lt", 10).update({{"price", F("price") * 2 + 1}, {"pages", F("pages") - 1}});
    CT_CHECK_EQ(n, std::int64_t{2});
    CT_CHECK_EQ(Book::objects.get("title", "Zero").price, 1.0);
    CT_CHECK_EQ(Book::objects.get("title", "Zero").pages, -1);
    CT_CHECK_EQ(Book::objects.get("title", "fibers for beginners").price, 18.5);
    auto rows = Book::objects.annotate("value", F("price") * F("pages"))
                    .filter("value__gte", 4000)
                    .order_by("-value", "title")
                    .values("title", "value");
    CT_REQUIRE(rows.size() == 3);
    CT_CHECK_EQ(rows.list()[0]["title"], Value("Pools & Deadlines"));
    CT_CHECK_EQ(rows.list()[0]["value"], Value(4500.0));
    CT_CHECK_EQ(rows.list()[1]["title"], Value("Async 100%_done\\"));
    CT_CHECK_EQ(rows.list()[2]["value"], Value(4000.0));
    // Typed columns as expressions.
    CT_CHECK_EQ(Book::objects.filter(col(&Book::price) > col(&Book::pages) / 10).count(), std::int64_t{3});  // after the update
}

CONFORMANCE_TEST("orm: order_by puts NULLs first or last on request, the same on every backend") {
    Tables<Author, Book> tables(ctx);
    seed_books();  // ratings: 4.5, NULL, 3.0, 4.0, NULL
    const Strings nulls_last{"fibers for beginners", "Async 100%_done\\", "Fibers in Practice", "Pools & Deadlines", "Zero"};
    CT_CHECK_EQ(titles(Book::objects.order_by(orm::asc("rating").nulls_last(), "title")), nulls_last);
    CT_CHECK_EQ(titles(Book::objects.order_by(orm::asc("rating").nulls_first(), "title")),
                (Strings{"Pools & Deadlines", "Zero", "fibers for beginners", "Async 100%_done\\", "Fibers in Practice"}));
    CT_CHECK_EQ(titles(Book::objects.order_by(orm::desc("rating").nulls_first(), "title")),
                (Strings{"Pools & Deadlines", "Zero", "Fibers in Practice", "Async 100%_done\\", "fibers for beginners"}));
    CT_CHECK_EQ(titles(Book::objects.order_by(orm::desc("rating").nulls_last(), "-title")),
                (Strings{"Fibers in Practice", "Async 100%_done\\", "fibers for beginners", "Zero", "Pools & Deadlines"}));
    // reverse() turns NULLs-last into NULLs-first (as Django does), and last() follows it.
    CT_CHECK_EQ(titles(Book::objects.order_by(orm::asc("rating").nulls_last(), "title").reverse()),
                (Strings{"Zero", "Pools & Deadlines", "Fibers in Practice", "Async 100%_done\\", "fibers for beginners"}));
    CT_CHECK_EQ(Book::objects.order_by(orm::asc("rating").nulls_first(), "title").last()->title, std::string("Fibers in Practice"));
    // Plain names and terms mix; a term works on values() querysets and across relations too.
    auto rows = Book::objects.values("title").order_by("-pages", orm::asc("rating").nulls_last()).list();
    CT_REQUIRE(rows.size() == 5);
    CT_CHECK_EQ(rows[0]["title"].as_text(), std::string("Fibers in Practice"));
    // Without a request each database keeps its own habit, but the NULLs stay together at one end.
    auto plain = titles(Book::objects.order_by("rating", "title"));
    const bool first = plain.front() == "Pools & Deadlines";
    const Strings nulls_first{"Pools & Deadlines", "Zero", "fibers for beginners", "Async 100%_done\\", "Fibers in Practice"};
    CT_CHECK_EQ(plain, first ? nulls_first : nulls_last);
    // A bad name in a term is the same FieldError as in a plain name.
    CT_CHECK_THROWS_WITH(Book::objects.order_by(orm::desc("ratin").nulls_last()).list(), FieldError, "ratin");
}

CONFORMANCE_TEST("orm: order_by, reverse, slicing, first, last and distinct") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    CT_CHECK_EQ(titles(Book::objects.order_by("-price").slice(0, 2)), (Strings{"Pools & Deadlines", "Async 100%_done\\"}));
    CT_CHECK_EQ(titles(Book::objects.order_by("author_id", "-pages")),
                (Strings{"Fibers in Practice", "Pools & Deadlines", "Async 100%_done\\", "fibers for beginners", "Zero"}));
    CT_CHECK_EQ(titles(Book::objects.order_by("price").reverse().slice(1, 3)),
                (Strings{"Async 100%_done\\", "Fibers in Practice"}));
    CT_CHECK_EQ(titles(Book::objects.order_by("price").slice(3)), (Strings{"Async 100%_done\\", "Pools & Deadlines"}));
    CT_CHECK_EQ(titles(Book::objects.order_by("price").slice(1, 4).slice(1, 2)), (Strings{"Fibers in Practice"}));
    CT_CHECK(Book::objects.order_by("price").slice(10, 20).list().empty());
    // The model's default ordering (by id) and first/last.
    CT_CHECK_EQ(std::string(Book::objects.first()->title), std::string("Fibers in Practice"));
    CT_CHECK_EQ(std::string(Book::objects.last()->title), std::string("Zero"));
    CT_CHECK_EQ(std::string(Book::objects.order_by("-price").first()->title), std::string("Pools & Deadlines"));
    CT_CHECK_EQ(std::string(Book::objects.order_by("-price").last()->title), std::string("Zero"));
    CT_CHECK(!Book::objects.filter("price__gt", 1000).first().has_value());
    CT_CHECK_EQ(Book::objects.values_list("author_id").distinct().count(), std::int64_t{2});
    CT_CHECK_EQ(Book::objects.values_list("author_id").distinct().size(), std::size_t{2});
    CT_CHECK_EQ(Book::objects.order_by("price").slice(1, 3).count(), std::int64_t{2});
    CT_CHECK(Book::objects.order_by("price").slice(1, 3).exists());
    CT_CHECK(!Book::objects.order_by("price").slice(5, 9).exists());
}

CONFORMANCE_TEST("orm: values, values_list, flat and typed rows") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    auto rows = Book::objects.filter("price__gt", 15).order_by("price").values("title", "price", "in_print");
    CT_REQUIRE(rows.size() == 2);
    CT_CHECK_EQ(rows.list()[0]["title"], Value("Async 100%_done\\"));
    CT_CHECK_EQ(rows.list()[0]["price"], Value(20.0));
    CT_CHECK_EQ(rows.list()[1]["in_print"], Value(false));  // a bool on every backend
    CT_CHECK_EQ(rows.list()[1][0], Value("Pools & Deadlines"));
    CT_CHECK_EQ(rows.list()[1].names(), (Strings{"title", "price", "in_print"}));
    auto flat = Book::objects.order_by("pages").values_list("pages", orm::flat);
    CT_CHECK(flat == (std::vector<Value>{Value(0), Value(90), Value(150), Value(200), Value(320)}));
    auto typed = Book::objects.order_by("-price").slice(0, 2).values_as<std::string, double>("title", "price");
    CT_REQUIRE(typed.size() == 2);
    CT_CHECK_EQ(std::get<0>(typed[0]), std::string("Pools & Deadlines"));
    CT_CHECK_EQ(std::get<1>(typed[1]), 20.0);
    auto dates = Book::objects.filter("published__isnull", false).order_by("published").values_as<Date>("published");
    CT_REQUIRE(dates.size() == 2);
    using std::chrono::year;
    CT_CHECK(dates[0] == Date(year(2019) / 7 / 14));
    auto ratings = Book::objects.order_by("id").values_as<std::optional<double>>("rating");
    CT_CHECK(ratings[1] == std::nullopt);
    CT_CHECK(ratings[0] == std::optional<double>(4.5));
}

CONFORMANCE_TEST("orm: aggregate and annotate with Count, Sum, Avg, Min, Max") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    CT_CHECK_EQ(Book::objects.aggregate(Count()), Value(std::int64_t{5}));
    CT_CHECK_EQ(Book::objects.aggregate(Count("rating")), Value(std::int64_t{3}));
    CT_CHECK_EQ(Book::objects.aggregate(Count("author_id", true)), Value(std::int64_t{2}));
    CT_CHECK_EQ(Book::objects.aggregate(Sum("pages")), Value(std::int64_t{760}));  // an integer on every backend
    CT_CHECK_EQ(Book::objects.aggregate(Sum("price")), Value(71.25));
    CT_CHECK_EQ(Book::objects.aggregate(Avg("pages")), Value(152.0));
    CT_CHECK_EQ(Book::objects.aggregate(Min("price")), Value(0.0));
    CT_CHECK_EQ(Book::objects.aggregate(Max("pages")), Value(std::int32_t{320}));
    using std::chrono::year;
    CT_CHECK_EQ(Book::objects.aggregate(Max("published")), Value(Date(year(2021) / 3 / 1)));
    CT_CHECK_EQ(Book::objects.aggregate(Min("title")), Value("Async 100%_done\\"));
    auto many = Book::objects.filter("author_id", Author::objects.get("name", "Ann").id)
                    .aggregate({Avg("price"), Sum("pages"), Count()});
    CT_CHECK_EQ(many.at("price__avg"), Value(21.25));
    CT_CHECK_EQ(many.at("pages__sum"), Value(std::int64_t{470}));
    CT_CHECK_EQ(many.at("count"), Value(std::int64_t{2}));
    auto named = Book::objects.aggregate({{"total", Sum(F("price") * F("pages"))}});
    CT_CHECK_EQ(named.at("total"), Value(12.5 * 320 + 30.0 * 150 + 8.75 * 90 + 20.0 * 200));
    // Over no rows: Count is 0, the others NULL.
    auto empty = Book::objects.filter("price__gt", 1000);
    CT_CHECK_EQ(empty.aggregate(Count("id")), Value(std::int64_t{0}));
    CT_CHECK(empty.aggregate(Avg("price")).is_null());
    CT_CHECK(empty.aggregate(Sum("pages")).is_null());

    // Per-author counts and sums (GROUP BY), with HAVING and ordering on the annotation.
    auto per_author = Book::objects.values("author_id").annotate("n", Count("id")).annotate("total_pages", Sum("pages"))
                          .order_by("-n");
    CT_REQUIRE(per_author.size() == 2);
    CT_CHECK_EQ(per_author.list()[0]["n"], Value(std::int64_t{3}));
    CT_CHECK_EQ(per_author.list()[0]["total_pages"], Value(std::int64_t{290}));
    CT_CHECK_EQ(per_author.list()[1]["n"], Value(std::int64_t{2}));
    auto busy = Book::objects.values("author_id").annotate("n", Count("id")).filter("n__gt", 2);
    CT_CHECK_EQ(busy.count(), std::int64_t{1});
    CT_CHECK_EQ(busy.size(), std::size_t{1});
    CT_CHECK_EQ(Book::objects.values("author_id").annotate("n", Count("id")).aggregate(Max("n")), Value(std::int64_t{3}));
    CT_CHECK_EQ(Book::objects.order_by("price").slice(0, 3).aggregate(Sum("price")), Value(21.25));

    // Avg, Min and Max per group, on real, integer, date and text columns; NULLs are skipped
    // and a group with only NULLs gives NULL.
    using std::chrono::year;
    auto stats = Book::objects.values("author_id")
                     .annotate("avg_price", Avg("price"))
                     .annotate("avg_pages", Avg("pages"))
                     .annotate("min_price", Min("price"))
                     .annotate("max_rating", Max("rating"))
                     .annotate("first_out", Min("published"))
                     .annotate("last_title", Max("title"))
                     .order_by("author_id");
    CT_REQUIRE(stats.size() == 2);
    const auto& ann_row = stats.list()[0];
    const auto& bob_row = stats.list()[1];
    CT_CHECK_EQ(ann_row["avg_price"], Value(21.25));
    CT_CHECK_EQ(ann_row["avg_pages"], Value(235.0));
    CT_CHECK_EQ(ann_row["min_price"], Value(12.5));
    CT_CHECK_EQ(ann_row["max_rating"], Value(4.5));
    CT_CHECK_EQ(ann_row["first_out"], Value(Date(year(2021) / 3 / 1)));
    CT_CHECK_EQ(ann_row["last_title"], Value("Pools & Deadlines"));  // "P" after "F" in any collation
    CT_CHECK(std::abs(bob_row["avg_price"].as_double() - 28.75 / 3) < 1e-9);
    CT_CHECK_EQ(bob_row["min_price"], Value(0.0));
    CT_CHECK_EQ(bob_row["max_rating"], Value(4.0));
    CT_CHECK_EQ(bob_row["first_out"], Value(Date(year(2019) / 7 / 14)));
    // Filtering and ordering on those annotations (HAVING, ORDER BY).
    auto cheap = Book::objects.values("author_id").annotate("avg_price", Avg("price")).filter("avg_price__lt", 10);
    CT_CHECK_EQ(cheap.count(), std::int64_t{1});
    CT_CHECK_EQ(Book::objects.values("author_id")
                    .annotate("top", Max("price"))
                    .order_by("-top")
                    .list()
                    .front()
                    ["top"],
                Value(30.0));
    auto no_rating = Book::objects.filter("rating__isnull", true).values("author_id").annotate("r", Max("rating"));
    CT_REQUIRE(no_rating.size() == 2);
    CT_CHECK(no_rating.list()[0]["r"].is_null());
    CT_CHECK(no_rating.list()[1]["r"].is_null());
}

CONFORMANCE_TEST("orm: update and remove report the rows they changed") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    CT_CHECK_EQ(Book::objects.filter("price__lt", 10).update({{"in_print", false}, {"rating", nullptr}}), std::int64_t{2});
    CT_CHECK_EQ(Book::objects.filter("in_print", false).count(), std::int64_t{3});
    CT_CHECK_EQ(Book::objects.filter("rating__isnull", true).count(), std::int64_t{3});
    CT_CHECK_EQ(Book::objects.filter("price__gt", 1000).update({{"pages", 1}}), std::int64_t{0});
    CT_CHECK_EQ(Book::objects.filter("in_print", false).remove(), std::int64_t{3});
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{2});
    CT_CHECK_EQ(Book::objects.all().remove(), std::int64_t{2});
    CT_CHECK(!Book::objects.exists());
}

CONFORMANCE_TEST("orm: querysets are lazy, and an evaluated queryset caches its rows") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    Capture log;
    auto qs = Book::objects.filter("price__gt", 5).exclude("title__startswith", "Z").order_by("-price").slice(0, 10);
    CT_CHECK_EQ(log.size(), std::size_t{0});
    std::size_t seen = 0;
    for (const Book& b : qs) seen += b.price > 5;
    CT_CHECK_EQ(seen, std::size_t{4});
    CT_CHECK_EQ(log.count("SELECT"), std::size_t{1});
    for (const Book& b : qs) (void)b;  // cached
    CT_CHECK_EQ(qs.size(), std::size_t{4});
    CT_CHECK_EQ(qs.count(), std::int64_t{4});  // from the cache
    CT_CHECK(qs.exists());
    CT_CHECK(static_cast<bool>(qs));
    CT_CHECK_EQ(std::string(qs.first()->title), std::string("Pools & Deadlines"));
    CT_CHECK_EQ(log.count("SELECT"), std::size_t{1});
    auto copy = qs;  // copies share the cache
    CT_CHECK_EQ(copy.size(), std::size_t{4});
    CT_CHECK_EQ(log.count("SELECT"), std::size_t{1});
    auto fresh = qs.all();  // chaining starts a new evaluation
    CT_CHECK_EQ(fresh.size(), std::size_t{4});
    CT_CHECK_EQ(log.count("SELECT"), std::size_t{2});
    // Modify cached objects and save them.
    for (Book& b : fresh) b.rating = 1.0;
    for (Book& b : fresh) b.save();
    CT_CHECK_EQ(Book::objects.filter("rating", 1.0).count(), std::int64_t{4});
}

CONFORMANCE_TEST("orm: none() yields nothing and sends no SQL") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    Capture log;
    auto none = Book::objects.none();
    CT_CHECK(none.list().empty());
    CT_CHECK_EQ(none.count(), std::int64_t{0});
    CT_CHECK(!none.exists());
    CT_CHECK_EQ(none.update({{"price", 1.0}}), std::int64_t{0});
    CT_CHECK_EQ(none.remove(), std::int64_t{0});
    CT_CHECK(!none.first().has_value());
    CT_CHECK_EQ(none.filter("price__gt", 1).values("title").size(), std::size_t{0});
    CT_CHECK_EQ(log.size(), std::size_t{0});
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{5});
}

CONFORMANCE_TEST("orm: chunked iteration reads a large result a chunk at a time") {
    Tables<Author, Book> tables(ctx);
    std::vector<Book> books;
    for (int i = 0; i < 1050; ++i) books.push_back({.title = fmt::format("book {:04}", i), .price = double(i % 7), .pages = i});
    Book::objects.bulk_create(books);
    Capture log;
    // Keyset pagination on the primary key: every chunk is LIMIT 100; each statement is the
    // same text after the first (WHERE pk > ?), so it is prepared once.
    std::int64_t sum = 0, rows = 0;
    for (const Book& b : Book::objects.filter("pages__gte", 50).iterator(100)) {
        sum += b.pages;
        ++rows;
    }
    CT_CHECK_EQ(rows, std::int64_t{1000});
    CT_CHECK_EQ(sum, std::int64_t{(50 + 1049) * 1000 / 2});
    auto sql = log.sql();
    CT_CHECK_EQ(sql.size(), std::size_t{11});  // 10 full chunks, then an empty one ends the loop
    for (const auto& s : sql) CT_CHECK(s.find("LIMIT 100") != std::string::npos);
    for (std::size_t i = 2; i < sql.size(); ++i) CT_CHECK_EQ(sql[i], sql[1]);
    // Another ordering: LIMIT/OFFSET with the key as a tie-breaker; every row once, in order.
    log.clear();
    std::vector<std::int32_t> pages;
    for (const Book& b : Book::objects.order_by("-price", "title").iterator(128)) pages.push_back(b.pages);
    CT_CHECK_EQ(pages.size(), std::size_t{1050});
    std::vector<std::int32_t> sorted = pages;
    std::sort(sorted.begin(), sorted.end());
    CT_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
    CT_CHECK_EQ(pages.front(), 6);
    CT_CHECK_EQ(log.count("SELECT"), std::size_t{9});
}
