// ORM conformance: schema, instances (save / create / get / refresh / remove), every field type,
// get() errors, bulk_create, get_or_create / update_or_create, in_bulk, raw SQL.
#include <fmt/ranges.h>

#include "tests/conformance/test_orm_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;

CONFORMANCE_TEST("orm: create_tables makes tables, indexes and unique constraints; creating again is a no-op") {
    Tables<Author, Book> tables(ctx);
    orm::create_tables<Author, Book>();  // "create if missing"
    auto conn = orm::database().acquire();
    const auto& intro = conn->backend().introspection();
    CT_CHECK(intro.table_exists(*conn, "weft_ct_orm_book"));
    auto cols = intro.columns(*conn, "weft_ct_orm_book");
    CT_REQUIRE(cols.size() == 9);
    CT_CHECK_EQ(cols[4].name, std::string("available"));  // db column name
    CT_CHECK(!cols[1].nullable);
    CT_CHECK(cols[5].nullable);
    bool title_index = false;
    for (const auto& ix : intro.indexes(*conn, "weft_ct_orm_book"))
        title_index = title_index || (ix.columns == std::vector<std::string>{"title"} && !ix.unique);
    CT_CHECK(title_index);
    conn.release();
    Author::objects.create({.name = "Ann"});
    CT_CHECK_THROWS_AS(Author::objects.create({.name = "Ann"}), UniqueViolation);
    orm::drop_tables<Author, Book>();
    conn = orm::database().acquire();
    CT_CHECK(!intro.table_exists(*conn, "weft_ct_orm_book"));
}

CONFORMANCE_TEST("orm: save() inserts and fills the primary key, then updates by primary key") {
    Tables<Author> tables(ctx);
    Author a{.name = "Ann"};
    a.save();
    CT_CHECK(a.id > 0);
    Author b{.name = "Bob", .email = "bob@example.com"};
    b.save();
    CT_CHECK(b.id > a.id);
    a.email = "ann@example.com";
    a.save();
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{2});
    auto again = Author::objects.get("pk", a.id);
    CT_CHECK(again.email == std::optional<std::string>("ann@example.com"));
    CT_CHECK(again.name == "Ann");
    // A key set by hand that no row has yet: save() inserts it.
    Author c{.id = 1000, .name = "Cy"};
    c.save();
    CT_CHECK_EQ(c.id, std::int64_t{1000});
    CT_CHECK(Author::objects.filter("id", 1000).exists());
}

CONFORMANCE_TEST("orm: create, get, refresh_from_db and remove") {
    Tables<Author> tables(ctx);
    auto ann = Author::objects.create({.name = "Ann"});
    CT_CHECK(ann.id > 0);
    auto by_assignments = Author::objects.create({{"name", "Bob"}, {"email", "b@x"}});
    CT_CHECK(by_assignments.id > ann.id);
    CT_CHECK(by_assignments.email == std::optional<std::string>("b@x"));
    Author copy = Author::objects.get("name", "Ann");
    CT_CHECK_EQ(copy.id, ann.id);
    Author::objects.filter("pk", ann.id).update({{"email", "new@x"}});
    CT_CHECK(!ann.email);
    ann.refresh_from_db();
    CT_CHECK(ann.email == std::optional<std::string>("new@x"));
    const auto id = ann.id;
    CT_CHECK_EQ(ann.remove(), std::int64_t{1});
    CT_CHECK_EQ(ann.id, std::int64_t{0});
    CT_CHECK(!Author::objects.filter("pk", id).exists());
    copy.id = id;
    CT_CHECK_THROWS_AS(copy.refresh_from_db(), Author::DoesNotExist);
}

CONFORMANCE_TEST("orm: a primary key chosen by the application (save inserts, then updates)") {
    Tables<Setting> tables(ctx);
    Setting s{.key = "theme", .value = "dark"};
    s.save();
    s.value = "light";
    s.save();
    CT_CHECK_EQ(Setting::objects.count(), std::int64_t{1});
    CT_CHECK_EQ(Setting::objects.get("pk", "theme").value, std::string("light"));
    CT_CHECK_THROWS_AS(Setting::objects.create({.key = "theme", .value = "x"}), IntegrityError);
}

CONFORMANCE_TEST("orm: every field type round-trips, NULL included") {
    Tables<Everything> tables(ctx);
    using namespace std::chrono;
    const Timestamp stamp = sys_days(year(2024) / 2 / 29) + hours(13) + minutes(5) + seconds(7) + microseconds(123456);
    Everything e{.flag = true,
                 .small = -2147483647,
                 .big = 9007199254740993LL,
                 .real = 0.1,
                 .text = "naïve 'quoted' \"text\" \\ % _",
                 .code = "abc",
                 .blob = {0, 1, 2, 255},
                 .at = system_clock::time_point(stamp),
                 .stamp = stamp,
                 .day = Date(year(1999) / 12 / 31),
                 .o_flag = false,
                 .o_small = 7,
                 .o_big = -1,
                 .o_real = -2.5,
                 .o_text = "",
                 .o_blob = Bytes{},
                 .o_stamp = stamp,
                 .o_day = Date(year(2000) / 1 / 1)};
    e.save();
    auto got = Everything::objects.get("pk", e.id);
    CT_CHECK(got.flag);
    CT_CHECK_EQ(got.small, e.small);
    CT_CHECK_EQ(got.big, e.big);
    CT_CHECK_EQ(got.real, 0.1);
    CT_CHECK_EQ(got.text, e.text);
    CT_CHECK_EQ(got.code, std::string("abc"));
    CT_CHECK(got.blob == e.blob);
    CT_CHECK(got.at == e.at);
    CT_CHECK(got.stamp == stamp);
    CT_CHECK(got.day == e.day);
    CT_CHECK(got.o_flag == std::optional<bool>(false));
    CT_CHECK(got.o_small == std::optional<std::int32_t>(7));
    CT_CHECK(got.o_big == std::optional<std::int64_t>(-1));
    CT_CHECK(got.o_real == std::optional<double>(-2.5));
    CT_CHECK(got.o_text == std::optional<std::string>(""));
    CT_CHECK(got.o_blob == std::optional<Bytes>(Bytes{}));
    CT_CHECK(got.o_stamp == std::optional<Timestamp>(stamp));
    CT_CHECK(got.o_day == e.o_day);

    Everything nulls{.text = "t"};
    nulls.save();
    auto n = Everything::objects.get("pk", nulls.id);
    CT_CHECK(!n.o_flag && !n.o_small && !n.o_big && !n.o_real && !n.o_text && !n.o_blob && !n.o_stamp && !n.o_day);
    CT_CHECK_EQ(Everything::objects.filter("o_text__isnull", true).count(), std::int64_t{1});
    CT_CHECK_EQ(Everything::objects.filter("stamp", stamp).count(), std::int64_t{1});
    CT_CHECK_EQ(Everything::objects.filter("stamp__lt", stamp).count(), std::int64_t{1});
    CT_CHECK_EQ(Everything::objects.filter("day__gte", Date(year(1999) / 12 / 31)).count(), std::int64_t{1});
    CT_CHECK_EQ(Everything::objects.filter("flag", true).count(), std::int64_t{1});
    CT_CHECK_EQ(Everything::objects.filter("blob", Bytes{0, 1, 2, 255}).count(), std::int64_t{1});
    // A declared default applies to objects built from values.
    auto d = Everything::objects.create({{"text", "x"}});
    CT_CHECK_EQ(d.code, std::string("none"));
}

CONFORMANCE_TEST("orm: loading over an object replaces every field; values a field cannot hold are refused by name") {
    Tables<Everything> tables(ctx);
    Everything e{.text = "t", .o_small = 5, .o_text = std::string(40, 'x')};
    e.save();
    Everything other = Everything::objects.get("pk", e.id);
    CT_CHECK(other.o_text == e.o_text);
    CT_CHECK(other.o_small == std::optional<std::int32_t>(5));
    // refresh_from_db loads over the values the object holds: NULL empties an optional, text
    // replaces text (longer or shorter), numbers replace numbers.
    CT_CHECK_EQ(Everything::objects.filter("pk", e.id).update({{"o_small", nullptr}, {"o_text", "short"}, {"small", 12},
                                                                 {"o_big", 7}, {"text", std::string(50, 'y')}}),
                std::int64_t{1});
    other.refresh_from_db();
    CT_CHECK(!other.o_small);
    CT_CHECK(other.o_text == std::optional<std::string>("short"));
    CT_CHECK(other.o_big == std::optional<std::int64_t>(7));
    CT_CHECK_EQ(other.small, 12);
    CT_CHECK_EQ(other.text, std::string(50, 'y'));
    if (ctx.features().strict_column_types) return;  // the database refuses the values below itself
    // A database that stores what it is given (SQLite) can hand back values the member cannot
    // hold: the load names the column instead of truncating or guessing.
    // (each statement on a connection given back at once: an in-memory database has just one)
    auto exec = [](const std::string& sql) { orm::database().acquire()->execute(sql); };
    exec(fmt::format("UPDATE weft_ct_orm_everything SET small = 3000000000 WHERE id = {}", e.id));
    CT_CHECK_THROWS_WITH(Everything::objects.get("pk", e.id), DataError, "does not fit");
    exec(fmt::format("UPDATE weft_ct_orm_everything SET small = 1, flag = 2 WHERE id = {}", e.id));
    CT_CHECK_THROWS_WITH(Everything::objects.get("pk", e.id), DataError, "'flag'");
    exec(fmt::format("UPDATE weft_ct_orm_everything SET flag = 1, big = 'abc' WHERE id = {}", e.id));
    CT_CHECK_THROWS_WITH(Everything::objects.get("pk", e.id), DataError, "'big'");
    exec(fmt::format("UPDATE weft_ct_orm_everything SET big = 4, o_small = 'x' WHERE id = {}", e.id));
    CT_CHECK_THROWS_WITH(Everything::objects.all().get("pk", e.id), DataError, "'o_small'");
    exec(fmt::format("UPDATE weft_ct_orm_everything SET o_small = 3 WHERE id = {}", e.id));
    CT_CHECK(Everything::objects.get("pk", e.id).o_small == std::optional<std::int32_t>(3));
}

CONFORMANCE_TEST("orm: get() raises the model's DoesNotExist or MultipleObjectsReturned") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    CT_CHECK_THROWS_WITH(Book::objects.get("title", "nope"), Book::DoesNotExist, "matching query does not exist");
    CT_CHECK_THROWS_AS(Book::objects.get("title", "nope"), ObjectDoesNotExist);
    CT_CHECK_THROWS_AS(Author::objects.get("name", "nope"), Author::DoesNotExist);
    CT_CHECK_THROWS_WITH(Book::objects.get("price__gt", 1), Book::MultipleObjectsReturned, "it returned 4!");
    CT_CHECK_THROWS_AS(Book::objects.filter("price__gt", 1).get(), orm::MultipleObjectsReturned);
    CT_CHECK_EQ(Book::objects.get(Q("price__gt", 25)).title, std::string("Pools & Deadlines"));
    try {
        (void)Book::objects.get("title", "nope");
    } catch (const Author::DoesNotExist&) {
        CT_FAIL_AT("Book's DoesNotExist was caught as Author's");
    } catch (const Book::DoesNotExist&) {
    }
}

CONFORMANCE_TEST("orm: bulk_create inserts in batches within the parameter limit and fills keys where it can") {
    Tables<Author, Book> tables(ctx);
    std::vector<Author> authors;
    for (int i = 0; i < 250; ++i) authors.push_back({.name = fmt::format("author {}", i)});
    Capture log;
    Author::objects.bulk_create(authors, 100);
    // 100 + 100 + 50 rows: COPYs where the backend has them (test_orm_bulk.cpp), else INSERTs.
    CT_CHECK_EQ(log.count(ctx.features().supports_copy_in ? "COPY" : "INSERT"), std::size_t{3});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{250});
    if (ctx.features().can_return_rows_from_bulk_insert) {
        std::vector<std::int64_t> ids;
        for (const auto& a : authors) ids.push_back(a.id);
        CT_CHECK(std::all_of(ids.begin(), ids.end(), [](auto id) { return id > 0; }));
        CT_CHECK(std::is_sorted(ids.begin(), ids.end()));
        CT_CHECK_EQ(Author::objects.get("pk", authors[137].id).name, std::string("author 137"));
    }
    // Without a batch size the backend's max_query_params decides (3 columns per Author row).
    log.clear();
    std::vector<Author> more;
    for (int i = 0; i < 1500; ++i) more.push_back({.name = fmt::format("more {}", i)});
    Author::objects.bulk_create(more);
    const std::size_t per_batch = std::min<std::size_t>(1000, ctx.features().max_query_params / 2);
    if (ctx.features().supports_copy_in) CT_CHECK_EQ(log.count("COPY"), std::size_t{1});
    else CT_CHECK_EQ(log.count("INSERT"), (1500 + per_batch - 1) / per_batch);
    for (const auto& p : log.params()) CT_CHECK(p.size() <= ctx.features().max_query_params);
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{1750});
    // One transaction: a failing row leaves nothing behind.
    std::vector<Author> dup{{.name = "fresh"}, {.name = "author 1"}};
    CT_CHECK_THROWS_AS(Author::objects.bulk_create(dup), UniqueViolation);
    CT_CHECK(!Author::objects.filter("name", "fresh").exists());
}

CONFORMANCE_TEST("orm: without RETURNING, inserts take the last insert id or say why they cannot") {
    Tables<Author, Book> tables(ctx);
    // The same backend with RETURNING switched off (URL option disable_features); on an
    // in-memory SQLite database this is a database of its own, so it gets the tables too.
    orm::connect(ctx.url_with("disable_features=supports_returning,can_return_rows_from_bulk_insert"), "plain");
    struct Disconnect {
        ~Disconnect() { orm::disconnect("plain"); }
    } disconnect;
    const auto& f = orm::database("plain").features();
    CT_CHECK(!f.supports_returning);
    CT_CHECK(!f.can_return_rows_from_bulk_insert);
    CT_CHECK_EQ(f.supports_regex, ctx.features().supports_regex);  // the rest as the backend has them
    orm::create_tables<Author, Book>("plain");
    Capture log;
    if (f.has_last_insert_id) {
        Author ann{.name = "Ann"};
        ann.save("plain");
        Author bob = Author::objects.using_db("plain").create({.name = "Bob"});
        CT_CHECK(ann.id > 0);
        CT_CHECK(bob.id > ann.id);
        CT_CHECK_EQ(Author::objects.using_db("plain").get("pk", bob.id).name, std::string("Bob"));
        for (const auto& s : log.sql()) CT_CHECK(s.find("RETURNING") == std::string::npos);
    } else {
        // Neither way to learn the new key: refused before anything is written, saying why.
        Author ann{.name = "Ann"};
        CT_CHECK_THROWS_WITH(ann.save("plain"), NotSupportedError, "neither RETURNING nor a last insert id");
        CT_CHECK_EQ(ann.id, std::int64_t{0});
        CT_CHECK_EQ(Author::objects.using_db("plain").count(), std::int64_t{0});
        // A key the application chooses needs neither.
        Author chosen{.id = 41, .name = "Chosen"};
        chosen.save("plain");
        CT_CHECK_EQ(Author::objects.using_db("plain").get("pk", 41).name, std::string("Chosen"));
    }
    // bulk_create inserts every row; the keys stay unset where the backend cannot return them.
    std::vector<Author> batch{{.name = "b1"}, {.name = "b2"}, {.name = "b3"}};
    Author::objects.using_db("plain").bulk_create(batch);
    CT_CHECK_EQ(Author::objects.using_db("plain").filter("name__startswith", "b").count(), std::int64_t{3});
    for (const auto& a : batch) CT_CHECK_EQ(a.id, std::int64_t{0});
    // A misspelt feature name is refused with the valid names.
    CT_CHECK_THROWS_WITH(orm::db::Database::open(ctx.url_with("disable_features=supports_returnin")), InterfaceError,
                         "unknown feature 'supports_returnin'; feature names are supports_returning");
}

CONFORMANCE_TEST("orm: get_or_create and update_or_create") {
    Tables<Author> tables(ctx);
    auto [a, created] = Author::objects.get_or_create({{"name", "Ann"}}, {{"email", "ann@x"}});
    CT_CHECK(created);
    CT_CHECK(a.id > 0);
    CT_CHECK(a.email == std::optional<std::string>("ann@x"));
    auto [a2, created2] = Author::objects.get_or_create({{"name", "Ann"}}, {{"email", "other"}});
    CT_CHECK(!created2);
    CT_CHECK_EQ(a2.id, a.id);
    CT_CHECK(a2.email == std::optional<std::string>("ann@x"));
    auto [u, ucreated] = Author::objects.update_or_create({{"name", "Ann"}}, {{"email", "changed"}});
    CT_CHECK(!ucreated);
    CT_CHECK_EQ(u.id, a.id);
    CT_CHECK(Author::objects.get("pk", a.id).email == std::optional<std::string>("changed"));
    auto [v, vcreated] = Author::objects.update_or_create({{"name", "Bob"}}, {{"email", "bob@x"}});
    CT_CHECK(vcreated);
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{2});
    // Lookups with "__" select but do not become field values.
    auto [w, wcreated] = Author::objects.get_or_create({{"name__iexact", "ANN"}}, {{"name", "unused"}});
    CT_CHECK(!wcreated);
    CT_CHECK_EQ(w.id, a.id);
}

CONFORMANCE_TEST("orm: in_bulk maps primary keys to objects") {
    Tables<Author, Book> tables(ctx);
    auto books = seed_books();
    auto map = Book::objects.in_bulk(std::vector<std::int64_t>{books[0].id, books[2].id, 99999});
    CT_CHECK_EQ(map.size(), std::size_t{2});
    CT_CHECK_EQ(map.at(books[2].id).title, books[2].title);
    CT_CHECK_EQ(Book::objects.filter("price__gt", 15).in_bulk().size(), std::size_t{2});
    auto settings = Setting::objects.none().in_bulk<std::string>(std::vector<std::string>{"a"});
    CT_CHECK(settings.empty());
}

CONFORMANCE_TEST("orm: raw SQL maps columns onto model fields by name") {
    Tables<Author, Book> tables(ctx);
    seed_books();
    const auto& d = orm::database().dialect();
    auto rows = Book::objects.raw("SELECT id, title, price, available FROM weft_ct_orm_book WHERE price > " +
                                      d.placeholder(1) + " ORDER BY price DESC",
                                  {Value(15.0)});
    CT_REQUIRE(rows.size() == 2);
    CT_CHECK_EQ(rows[0].title, std::string("Pools & Deadlines"));
    CT_CHECK(!rows[0].in_print);
    CT_CHECK_EQ(rows[1].price, 20.0);
    CT_CHECK_EQ(rows[1].pages, 0);  // not selected: keeps its initializer
    CT_CHECK_THROWS_AS(Book::objects.raw("SELECT title FROM weft_ct_orm_book"), InterfaceError);
}
