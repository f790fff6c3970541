// ORM conformance, bad input: unknown fields and lookups (FieldError listing the choices), values
// over max_length and NULL into non-null fields (rejected before any SQL is sent), values of the
// wrong type, and SQL-injection-shaped strings (stored and matched verbatim, or rejected).
#include <cctype>

#include "tests/conformance/test_orm_models.hpp"
#include "tests/conformance/test_rel_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;

CONFORMANCE_TEST("orm bad input: unknown fields and lookups raise FieldError listing the choices") {
    Tables<Author, Book> tables(ctx);
    const char* choices = "Choices are: author_id, id, in_print, isbn, pages, price, published, rating, title";
    CT_CHECK_THROWS_WITH(Book::objects.filter("titel", "x"), FieldError, "Cannot resolve keyword 'titel' into field");
    CT_CHECK_THROWS_WITH(Book::objects.filter("titel", "x"), FieldError, choices);
    CT_CHECK_THROWS_WITH(Book::objects.exclude("titel__icontains", "x"), FieldError, choices);
    CT_CHECK_THROWS_WITH(Book::objects.order_by("-titel"), FieldError, choices);
    CT_CHECK_THROWS_WITH(Book::objects.values("titel"), FieldError, choices);
    CT_CHECK_THROWS_WITH(Book::objects.filter("price__gt", F("prise")), FieldError, choices);
    CT_CHECK_THROWS_WITH(Book::objects.all().update({{"titel", "x"}}), FieldError, "Choices are:");
    CT_CHECK_THROWS_WITH(Book::objects.aggregate(Sum("prise")), FieldError, choices);
    CT_CHECK_THROWS_WITH(Book::objects.filter("title__icontain", "x"), FieldError, "Unsupported lookup 'icontain'");
    CT_CHECK_THROWS_WITH(Book::objects.filter("title__icontain", "x"), FieldError, "icontains");
    CT_CHECK_THROWS_WITH(Book::objects.filter("price__startswith", "1"), FieldError, "Unsupported lookup 'startswith'");
    CT_CHECK_THROWS_WITH(Book::objects.get_or_create({{"titel", "x"}}), FieldError, choices);
}

CONFORMANCE_TEST("orm bad input: a string over max_length is rejected before any SQL is sent") {
    Tables<Author, Book> tables(ctx);
    auto ann = Author::objects.create({.name = "Ann"});
    const std::string long_name(51, 'x');
    Capture log;
    Author a{.name = long_name};
    CT_CHECK_THROWS_WITH(a.save(), ValidationError, "max_length is 50");
    CT_CHECK_THROWS_AS(Author::objects.create({.name = long_name}), ValidationError);
    CT_CHECK_THROWS_AS(Author::objects.create({{"name", long_name}}), ValidationError);
    CT_CHECK_THROWS_AS(Author::objects.filter("pk", ann.id).update({{"name", long_name}}), ValidationError);
    std::vector<Author> batch{{.name = "ok"}, {.name = long_name}};
    CT_CHECK_THROWS_AS(Author::objects.bulk_create(batch), ValidationError);
    ann.name = long_name;
    CT_CHECK_THROWS_AS(ann.save(), ValidationError);
    CT_CHECK_THROWS_AS(Author::objects.get_or_create({{"name", long_name}}), ValidationError);
    try {
        a.save();
    } catch (const ValidationError& e) {
        CT_CHECK_EQ(e.field(), std::string("name"));
    }
    // Only the get() of get_or_create ran (it looks before it creates): nothing was written.
    for (const auto& s : log.sql()) CT_CHECK(s.starts_with("SELECT"));
    CT_CHECK(log.count("SELECT") <= 1);
    // 50 characters of two bytes each fit: max_length counts characters.
    std::string accents;
    for (int i = 0; i < 50; ++i) accents += "é";
    Author::objects.create({.name = accents});
    CT_CHECK_EQ(Author::objects.get("name", accents).name, accents);
}

CONFORMANCE_TEST("orm bad input: NULL into a non-null field is a ValidationError (or the database's IntegrityError)") {
    Tables<Author, Book> tables(ctx);
    auto ann = Author::objects.create({.name = "Ann"});
    Capture log;
    CT_CHECK_THROWS_WITH(Author::objects.filter("pk", ann.id).update({{"name", nullptr}}), ValidationError,
                         "cannot be NULL");
    CT_CHECK_THROWS_AS(Author::objects.create({{"name", Value()}}), ValidationError);
    CT_CHECK_EQ(log.size(), std::size_t{0});
    // Nullable fields take NULL.
    CT_CHECK_EQ(Author::objects.filter("pk", ann.id).update({{"email", nullptr}}), std::int64_t{1});
    // SQL that bypasses the ORM meets the database's own constraint.
    auto conn = orm::database().acquire();
    CT_CHECK_THROWS_AS(conn->execute("INSERT INTO weft_ct_orm_author (name) VALUES (NULL)"), NotNullViolation);
}

CONFORMANCE_TEST("orm bad input: values of the wrong type give a clear error") {
    Tables<Author, Book> tables(ctx);
    CT_CHECK_THROWS_WITH(Book::objects.filter("pages__gt", "ten"), ValidationError, "expected a 32-bit integer");
    CT_CHECK_THROWS_WITH(Book::objects.filter("published", "yesterday"), ValidationError, "cannot read a date");
    CT_CHECK_THROWS_WITH(Book::objects.filter("price__in", 3), ValidationError, "a list of values");
    CT_CHECK_THROWS_WITH(Book::objects.filter("title__icontains", 3), ValidationError, "text");
    CT_CHECK_THROWS_WITH(Book::objects.all().update({{"price", "cheap"}}), ValidationError, "expected a number");
    CT_CHECK_THROWS_WITH(Book::objects.filter("published__isnull", "yes"), ValidationError, "true or false");
    CT_CHECK_THROWS_AS(Book::objects.all().slice(-1), InterfaceError);
    CT_CHECK_THROWS_WITH(Book::objects.all().slice(0, 2).filter("pages", 1), InterfaceError, "slice");
}

namespace {

// `s` with every character that is not a letter, digit or space escaped with a backslash: a
// literal in both ECMAScript and PostgreSQL's advanced regular expressions.
std::string regex_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (!std::isalnum(u) && c != ' ' && u < 0x80) out += '\\';
        out += c;
    }
    return out;
}

}  // namespace

CONFORMANCE_TEST("orm bad input: injection-shaped strings are stored and matched verbatim") {
    Tables<Author, Book> tables(ctx);
    const std::vector<std::string> evil{
        "Robert'); DROP TABLE weft_ct_orm_author;--",
        "' OR '1'='1",
        "\" OR \"\"=\"",
        "x\\'; SELECT 1; --",
        "%' OR title LIKE '%",
        "$1 $2 ? ?1 :name",
        "a*b?[c]",
    };
    for (const auto& s : evil) Author::objects.create({.name = s, .email = s});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t(evil.size()));
    for (const auto& s : evil) {
        CT_CHECK_EQ(Author::objects.filter("name", s).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.filter("name__iexact", s).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.filter("name__contains", s).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.filter("name__icontains", s).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.filter("name__startswith", s).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.filter("name__istartswith", s).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.filter("name__endswith", s).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.filter("name__iendswith", s).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.filter("name__in", std::vector<std::string>{s}).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.filter("name__range", std::pair(s, s)).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.filter("name__gte", s).filter("name__lte", s).count(), std::int64_t{1});
        CT_CHECK_EQ(Author::objects.exclude("name", s).count(), std::int64_t(evil.size() - 1));
        CT_CHECK_EQ(Author::objects.get("email", s).name, s);
        // Ordered comparisons: whatever the collation, each value splits the rows in two.
        CT_CHECK_EQ(Author::objects.filter("name__gt", s).count() + Author::objects.filter("name__lte", s).count(),
                    std::int64_t(evil.size()));
        CT_CHECK_EQ(Author::objects.filter("name__lt", s).count() + Author::objects.filter("name__gte", s).count(),
                    std::int64_t(evil.size()));
        CT_CHECK_EQ(Author::objects.filter("name__lt", s).filter("name__gt", s).count(), std::int64_t{0});
        if (ctx.features().supports_regex) {
            // A value is a pattern, never SQL: escaped, it matches itself; as it stands it either
            // matches as a pattern or is the database's pattern error.
            CT_CHECK_EQ(Author::objects.filter("name__regex", "^" + regex_escape(s) + "$").count(), std::int64_t{1});
            CT_CHECK_EQ(Author::objects.filter("name__iregex", "^" + regex_escape(s) + "$").count(), std::int64_t{1});
            try {
                const auto n = Author::objects.filter("name__regex", s).count();
                CT_CHECK(n >= 0 && n <= std::int64_t(evil.size()));
            } catch (const DatabaseError&) {
            }
        }
    }
    Author::objects.filter("name", evil[0]).update({{"email", evil[1]}});
    CT_CHECK_EQ(std::string(*Author::objects.get("name", evil[0]).email), evil[1]);
    // Names are never SQL: order_by / values / filter keys shaped like SQL are refused.
    CT_CHECK_THROWS_AS(Author::objects.order_by("name; DROP TABLE weft_ct_orm_author"), FieldError);
    CT_CHECK_THROWS_AS(Author::objects.order_by("name DESC, (SELECT 1)"), FieldError);
    CT_CHECK_THROWS_AS(Author::objects.values("name FROM weft_ct_orm_author --"), FieldError);
    CT_CHECK_THROWS_AS(Author::objects.filter("name = name OR 1=1 --", "x"), FieldError);
    CT_CHECK_EQ(Author::objects.count(), std::int64_t(evil.size()));
}

CONFORMANCE_TEST("orm bad input: injection-shaped strings across relations are matched verbatim") {
    namespace rm = weft::conformance::rel_models;
    rm::Library tables(ctx);
    const std::vector<std::string> evil{"Robert'); DROP TABLE weft_ct_rel_book;--", "' OR '1'='1", "%_\\%", "$1 ?"};
    for (const auto& s : evil) {
        auto a = rm::Author::objects.create({.name = s});
        auto b = rm::Book::objects.create({.title = s, .price = 1, .pages = 1, .author = a});
        auto t = rm::Tag::objects.create({.name = s});
        b.tags.add(t);
    }
    for (const auto& s : evil) {
        CT_CHECK_EQ(rm::Book::objects.filter("author__name", s).count(), std::int64_t{1});
        CT_CHECK_EQ(rm::Book::objects.filter("author__name__icontains", s).count(), std::int64_t{1});
        CT_CHECK_EQ(rm::Book::objects.filter("tags__name__startswith", s).count(), std::int64_t{1});
        CT_CHECK_EQ(rm::Author::objects.filter("books__title__endswith", s).count(), std::int64_t{1});
        CT_CHECK_EQ(rm::Author::objects.exclude("books__title", s).count(), std::int64_t(evil.size() - 1));
        CT_CHECK_EQ(rm::Tag::objects.filter("books__author__name__iexact", s).get().name, s);
    }
    CT_CHECK_EQ(rm::Book::objects.count(), std::int64_t(evil.size()));
    CT_CHECK_EQ(rm::Tag::objects.count(), std::int64_t(evil.size()));
}

CONFORMANCE_TEST("orm bad input: text that is not UTF-8 is a DataError naming the parameter and offset, on every backend") {
    // PostgreSQL refuses such text and SQLite would store it silently: the shared check gives the
    // same answer on both, before anything is sent.
    Tables<Author, Book> tables(ctx);
    Author::objects.create({.name = "Ann"});
    const std::string bad = std::string("ab") + char(0xff) + "cd";
    CT_CHECK_THROWS_WITH(Author::objects.create({.name = bad}), DataError, "text is not valid UTF-8 at byte offset 2");
    CT_CHECK_THROWS_WITH(Author::objects.create({.name = bad}), DataError, "0xff");
    CT_CHECK_THROWS_WITH(Author::objects.filter("name", bad).count(), DataError, "byte offset 2");
    CT_CHECK_THROWS_AS(Author::objects.filter("name__in", std::vector<std::string>{"x", bad}).count(), DataError);
    // Overlong '/', a UTF-16 surrogate, a sequence cut short, a code point past U+10FFFF, a lone
    // continuation byte.
    for (const char* s : {"\xc0\xaf", "\xed\xa0\x80", "x\xe2\x82", "\xf4\x90\x80\x80", "\x80"})
        CT_CHECK_THROWS_AS(Author::objects.create({.name = s}), DataError);
    // Nothing was stored, the connection is fine, and valid text of every length class passes.
    CT_CHECK_EQ(Author::objects.count(), 1);
    const std::string good = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\x89";  // a é € 🎉
    Author::objects.create({.name = good});
    CT_CHECK_EQ(Author::objects.get("name", good).name, good);
    // A transaction that hit the error goes on and commits.
    orm::atomic([&] {
        Author::objects.create({.name = "Bea"});
        CT_CHECK_THROWS_AS(Author::objects.create({.name = bad}), DataError);
        Author::objects.create({.name = "Cy"});
    });
    CT_CHECK_EQ(Author::objects.count(), 4);
}

CONFORMANCE_TEST("orm bad input: conditions and expressions nest at most 64 levels; deeper is a FieldError, never a crash") {
    // Q objects nested 500 deep used to overflow a fiber's stack (100,000 the main thread's).
    Tables<Author, Book> tables(ctx);
    auto ann = Author::objects.create({.name = "Ann"});
    for (int i = 0; i < 3; ++i) Book::objects.create({.title = fmt::format("b{}", i), .pages = 10 * i, .author_id = ann.id});
    // On a fiber in both modes (its 128 KiB stack is the tight case), with the database's own
    // parser behind it.
    orm::run([&] {
        Q q = Q("pages__gte", 0);
        const int deepest = int(orm::max_expression_depth);
        CT_CHECK_EQ(deepest, 64);
        for (int i = 1; i < deepest; ++i) q = i % 2 ? (q & Q("pages__gte", 0)) : (q | Q("pages__lt", -1));
        CT_CHECK_EQ(q.node()->depth, deepest);
        CT_CHECK_EQ(Book::objects.filter(q).count(), 3);
        CT_CHECK_EQ(Book::objects.exclude(q).count(), 0);
        // The last operator was &: one more | (or a NOT) nests once more.
        CT_CHECK_THROWS_WITH(q | Q("pages__lt", -1), FieldError, "nested 65 levels deep: at most 64");
        CT_CHECK_THROWS_WITH(~q, FieldError, "at most 64 levels");
        // One operator repeated does not nest.
        Q flat = Q("pages__gte", 0);
        for (int i = 0; i < 1000; ++i) flat = flat & Q("pages__gte", 0);
        CT_CHECK_EQ(flat.node()->depth, 2);

        Expr e = F("pages");
        for (int i = 1; i < deepest; ++i) e = e + 1;
        CT_CHECK_EQ(e.node()->depth, deepest);
        auto rows = Book::objects.annotate("deep", e).order_by("pages").values("deep");
        CT_REQUIRE(rows.size() == 3);
        CT_CHECK_EQ(rows.list()[2]["deep"], Value(std::int64_t{20 + deepest - 1}));
        CT_CHECK_THROWS_WITH(e * 2, FieldError, "an expression nested 65 levels deep");
        CT_CHECK_THROWS_AS(Sum(e + 1), FieldError);
    });
}

CONFORMANCE_TEST("orm bad input: querysets nest at most 32 levels (__in, Exists, Case/When, unions); deeper is a FieldError, never a crash") {
    // 1,000 querysets nested as __in values used to overflow a fiber's stack while the query was
    // resolved and compiled; so did Case/When nested through When conditions.
    Tables<Author, Book> tables(ctx);
    auto ann = Author::objects.create({.name = "Ann"});
    for (int i = 0; i < 3; ++i) Book::objects.create({.title = fmt::format("b{}", i), .pages = 10 * i, .author_id = ann.id});
    orm::run([&] {
        // 32 levels compile and run (SQLite's own parser stops near 30 with a clear error of its
        // own); the 33rd is refused, and so is every deeper one.
        auto at_most_parser_limit = [&](auto&& run, std::int64_t expected) {
            try {
                CT_CHECK_EQ(run(), expected);
            } catch (const DatabaseError& e) {
                CT_CHECK(std::string(e.what()).find("parser stack overflow") != std::string::npos);
            }
        };
        auto qs = Book::objects.filter("pages__gte", 10);
        for (int level = 2; level <= 10; ++level) qs = Book::objects.filter("pk__in", qs);
        CT_CHECK_EQ(qs.count(), 2);
        for (int level = 11; level <= 32; ++level) qs = Book::objects.filter("pk__in", qs);
        at_most_parser_limit([&] { return qs.count(); }, 2);
        CT_CHECK_THROWS_WITH(Book::objects.filter("pk__in", qs), FieldError, "nest querysets 33 levels deep");
        CT_CHECK_THROWS_WITH(Book::objects.filter("pk__in", qs), FieldError, "at most 32");
        auto deep = Book::objects.all();
        int refused_at = 0;
        for (int level = 2; level <= 1000 && refused_at == 0; ++level) {
            try {
                deep = Book::objects.filter("pk__in", deep);
            } catch (const FieldError&) {
                refused_at = level;
            }
        }
        CT_CHECK_EQ(refused_at, 33);
        // Both bounds at once: 32 levels of querysets, each with conditions 63 levels deep,
        // resolve and compile on the fiber's stack.
        Q deep_q = Q("pages__gte", 0);
        for (int i = 1; i < 63; ++i) deep_q = i % 2 ? (deep_q & Q("pages__gte", 0)) : (deep_q | Q("pages__lt", -1));
        auto widest = Book::objects.filter(deep_q);
        for (int level = 2; level <= 32; ++level) widest = Book::objects.filter("pk__in", widest).filter(deep_q);
        CT_CHECK(widest.sql().text.size() > 32 * 63);
        // Exists, and Exists inside an __in value.
        auto ex = Book::objects.all();
        for (int level = 2; level <= 32; ++level) ex = Book::objects.filter(Exists(ex));
        at_most_parser_limit([&] { return ex.count(); }, 3);
        CT_CHECK_THROWS_WITH(Book::objects.filter(Exists(ex)), FieldError, "Exists() would nest querysets 33");
        CT_CHECK_THROWS_AS(Book::objects.filter("pk__in", ex), FieldError);
        // Unions chained one at a time nest too.
        auto u = Book::objects.filter("pages", 0);
        for (int level = 2; level <= 32; ++level) u = u.union_(Book::objects.filter("pages", 10 * (level % 3)));
        at_most_parser_limit([&] { return u.count(); }, 3);
        CT_CHECK_THROWS_WITH(u.union_(Book::objects.all()), FieldError, "at most 32");

        // Case/When nested through the When condition counts its levels like any expression.
        Expr c = Val(1);
        int case_refused_at = 0;
        for (int level = 1; level <= 1000 && case_refused_at == 0; ++level) {
            try {
                c = Case({When(Q("pages__gte", c), 1)}, 0);
            } catch (const FieldError& e) {
                case_refused_at = level;
                CT_CHECK(std::string(e.what()).find("at most 64") != std::string::npos);
            }
        }
        CT_CHECK(case_refused_at > 1);
        CT_CHECK(case_refused_at <= 64);
    });
}

CONFORMANCE_TEST("orm bad input: lookup paths have at most 256 parts; a 100,000-part path is a FieldError") {
    using rel_models::Category;
    Tables<Category> tables(ctx);
    auto root = Category::objects.create({.name = "root"});
    auto child = Category::objects.create({.name = "child", .parent = root});
    orm::run([&] {
        std::string path = "parent";
        for (int i = 1; i < 100000; ++i) path += "__parent";
        CT_CHECK_THROWS_WITH(Category::objects.filter(path + "__isnull", true), FieldError, "has 100001 parts");
        CT_CHECK_THROWS_WITH(Category::objects.filter(path + "__isnull", true), FieldError, "at most 256");
        CT_CHECK_THROWS_AS(Category::objects.order_by(path), FieldError);
        CT_CHECK_THROWS_AS(Category::objects.values(path), FieldError);
        CT_CHECK_THROWS_AS(Category::objects.filter("id", F(path)), FieldError);
        CT_CHECK_THROWS_AS(Category::objects.select_related(path), FieldError);
        CT_CHECK_THROWS_AS(Category::objects.prefetch_related(path), FieldError);
        std::string nonsense = "a";
        for (int i = 1; i < 100000; ++i) nonsense += "__a";
        CT_CHECK_THROWS_AS(Category::objects.filter(nonsense, 1), FieldError);
        // A deep self-referential path within the bound still works.
        std::string ten = "parent";
        for (int i = 1; i < 10; ++i) ten += "__parent";
        CT_CHECK_EQ(Category::objects.filter(ten + "__isnull", true).count(), 2);
        CT_CHECK_EQ(Category::objects.prefetch_related("children__children__children__children").list().size(), std::size_t{2});
        (void)child;
    });
}

CONFORMANCE_TEST("orm bad input: deleting the root of a 5,000-row self-referential CASCADE chain works on a fiber") {
    // The deletion collector used to recurse once per level: a chain this deep overflowed a
    // fiber's stack. Django deletes it; so do we.
    using rel_models::Category;
    Tables<Category> tables(ctx);
    Category::objects.create({.name = "other"});  // its key from the sequence; the chain's are explicit
    constexpr int n = 5000, first = 1000;
    std::vector<Category> chain;
    chain.reserve(n);
    for (int i = first; i < first + n; ++i) {
        Category c{.id = i, .name = fmt::format("c{}", i)};
        if (i > first) c.parent = ForeignKey<Category>(std::int64_t(i - 1));
        chain.push_back(std::move(c));
    }
    Category::objects.bulk_create(chain);
    CT_REQUIRE(Category::objects.count() == n + 1);
    orm::run([&] {
        auto root = Category::objects.get("pk", first);
        CT_CHECK_EQ(root.remove(), std::int64_t{1});
    });
    CT_CHECK_EQ(Category::objects.count(), 1);
    CT_CHECK_EQ(Category::objects.get("name", "other").name, std::string("other"));
}

CONFORMANCE_TEST("orm bad input: a catastrophic regex (^(a*)*b$ over 30 a's) ends with no match or a clear error") {
    // On SQLite, PCRE2's match and heap limits end the backtracking with an SQL error that names
    // the limit (it once ran 27 s past a 2 s statement_timeout); PostgreSQL's engine does not
    // backtrack this way. Either way the statement ends and the connection stays usable.
    Tables<Author, Book> tables(ctx);
    auto ann = Author::objects.create({.name = "Ann"});
    // 30 a's alone fail at once (PCRE2 sees that no 'b' is there); a 'b' followed by more makes
    // the engine try every split of the a's.
    Book::objects.create({.title = std::string(30, 'a'), .pages = 1, .author_id = ann.id});
    Book::objects.create({.title = std::string(30, 'a') + "bc", .pages = 2, .author_id = ann.id});
    orm::run([&] {
        try {
            CT_CHECK_EQ(Book::objects.filter("title__regex", "^(a*)*b$").count(), std::int64_t{0});
        } catch (const DatabaseError& e) {
            const std::string m = e.what();
            CT_CHECK(m.find("limit") != std::string::npos);
            CT_CHECK(m.find("regular expression") != std::string::npos);
        }
        CT_CHECK_EQ(Book::objects.filter("title__regex", "^a+$").count(), std::int64_t{1});
        CT_CHECK_EQ(Book::objects.filter("title__regex", "^a+bc$").count(), std::int64_t{1});
    });
}
