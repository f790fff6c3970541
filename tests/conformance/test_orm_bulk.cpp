// ORM conformance: bulk writes. bulk_create over COPY (Features::supports_copy_in) and over
// multi-row INSERTs, with keys back, explicit keys, NULLs and every column type; constraint errors
// naming the row; the transaction after an error; inside atomic(); bulk_update; ignore_conflicts
// and update_conflicts upserts; bad input (FieldError listing the choices).
#include <map>
#include <set>

#include <fmt/ranges.h>

#include "tests/conformance/test_orm_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;

namespace {

struct BulkRow : orm::Model<BulkRow> {
    std::int64_t id = 0;
    std::string code;
    bool flag = false;
    std::int32_t small = 0;
    std::int64_t big = 0;
    double real = 0;
    std::string text;
    orm::Bytes blob;
    orm::Timestamp stamp{};
    orm::Date day{};
    std::optional<bool> o_flag;
    std::optional<std::int32_t> o_small;
    std::optional<std::int64_t> o_big;
    std::optional<double> o_real;
    std::optional<std::string> o_text;
    std::optional<orm::Bytes> o_blob;
    std::optional<orm::Timestamp> o_stamp;
    std::optional<orm::Date> o_day;

    static void describe(orm::Meta<BulkRow>& m) {
        m.table("weft_ct_bulk_row");
        m.field(&BulkRow::id, "id").primary_key();
        m.field(&BulkRow::code, "code").max_length(20).unique();
        m.field(&BulkRow::flag, "flag");
        m.field(&BulkRow::small, "small");
        m.field(&BulkRow::big, "big");
        m.field(&BulkRow::real, "real").column("real_value");
        m.field(&BulkRow::text, "text");
        m.field(&BulkRow::blob, "blob");
        m.field(&BulkRow::stamp, "stamp");
        m.field(&BulkRow::day, "day");
        m.field(&BulkRow::o_flag, "o_flag");
        m.field(&BulkRow::o_small, "o_small");
        m.field(&BulkRow::o_big, "o_big");
        m.field(&BulkRow::o_real, "o_real");
        m.field(&BulkRow::o_text, "o_text");
        m.field(&BulkRow::o_blob, "o_blob");
        m.field(&BulkRow::o_stamp, "o_stamp");
        m.field(&BulkRow::o_day, "o_day");
        m.ordering({"id"});
    }
};

// A composite unique constraint, for unique_fields of two fields.
struct Stock : orm::Model<Stock> {
    std::int64_t id = 0;
    std::string shop;
    std::string item;
    std::int32_t quantity = 0;
    std::string note;

    static void describe(orm::Meta<Stock>& m) {
        m.table("weft_ct_bulk_stock");
        m.field(&Stock::id, "id").primary_key();
        m.field(&Stock::shop, "shop").max_length(20);
        m.field(&Stock::item, "item").max_length(20);
        m.field(&Stock::quantity, "quantity");
        m.field(&Stock::note, "note");
        m.unique_together({"shop", "item"});
        m.ordering({"id"});
    }
};

using namespace std::chrono;

const Timestamp base_stamp = sys_days(year(2024) / 2 / 29) + hours(13) + minutes(5) + seconds(7) + microseconds(123456);

// Row i: every type, odd bytes and unicode in text, NULLs in every other row.
BulkRow make_row(int i) {
    BulkRow r;
    r.code = fmt::format("c{}", i);
    r.flag = i % 2 == 0;
    r.small = i % 3 == 0 ? -2147483647 : i;
    r.big = i % 5 == 0 ? 9007199254740993LL : -i;
    r.real = i % 7 == 0 ? 0.1 : i * 1.5;
    r.text = fmt::format("naïve 'q' \"t\" \\ \t tab\nline\r% _ ☃ 𝄞 {}", i);
    r.blob = {0, '\\', '\t', '\n', static_cast<std::uint8_t>(i & 0xff)};
    r.stamp = base_stamp + seconds(i);
    r.day = Date(year(1999) / 12 / 31) + days(i % 1000);
    if (i % 2 == 1) {
        r.o_flag = i % 4 == 1;
        r.o_small = i;
        r.o_big = -static_cast<std::int64_t>(i) * 1000000007LL;
        r.o_real = -2.5 * i;
        r.o_text = i % 4 == 1 ? std::string("") : std::string("\\N");
        r.o_blob = orm::Bytes{};
        r.o_stamp = Timestamp(sys_days(year(1970) / 1 / 1)) - microseconds(i);
        r.o_day = Date(year(1900) / 3 / 1);
    }
    return r;
}

bool same(const BulkRow& a, const BulkRow& b) {
    return a.code == b.code && a.flag == b.flag && a.small == b.small && a.big == b.big && a.real == b.real &&
           a.text == b.text && a.blob == b.blob && a.stamp == b.stamp && a.day == b.day && a.o_flag == b.o_flag &&
           a.o_small == b.o_small && a.o_big == b.o_big && a.o_real == b.o_real && a.o_text == b.o_text &&
           a.o_blob == b.o_blob && a.o_stamp == b.o_stamp && a.o_day == b.o_day;
}

}  // namespace

CONFORMANCE_TEST("orm bulk: bulk_create of every column type, NULLs, odd bytes and unicode, keys back (COPY where supported)") {
    Tables<BulkRow> tables(ctx);
    std::vector<BulkRow> rows;
    for (int i = 0; i < 1000; ++i) rows.push_back(make_row(i));
    Capture log;
    BulkRow::objects.bulk_create(rows);
    if (ctx.features().supports_copy_in) CT_CHECK_EQ(log.count("COPY"), std::size_t{1});
    else CT_CHECK_EQ(log.count("COPY"), std::size_t{0});
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{1000});
    auto stored = BulkRow::objects.all().list();
    CT_REQUIRE(stored.size() == 1000);
    std::map<std::string, const BulkRow*> by_code;
    for (const auto& s : stored) by_code[s.code] = &s;
    int mismatches = 0;
    for (const auto& r : rows) {
        auto it = by_code.find(r.code);
        if (it == by_code.end() || !same(*it->second, r)) ++mismatches;
    }
    CT_CHECK_EQ(mismatches, 0);
    if (ctx.features().can_return_rows_from_bulk_insert) {
        std::set<std::int64_t> ids;
        int wrong = 0;
        for (const auto& r : rows) {
            ids.insert(r.id);
            if (r.id <= 0 || by_code[r.code]->id != r.id) ++wrong;
        }
        CT_CHECK_EQ(wrong, 0);
        CT_CHECK_EQ(ids.size(), std::size_t{1000});
        // The sequence moved past the keys taken: a later insert gets a fresh one.
        auto next = BulkRow::objects.create(make_row(5000));
        CT_CHECK(!ids.count(next.id));
    }
}

CONFORMANCE_TEST("orm bulk: bulk_create with explicit keys, mixed with auto keys, small and large batches") {
    Tables<BulkRow> tables(ctx);
    std::vector<BulkRow> rows;
    for (int i = 0; i < 300; ++i) {
        rows.push_back(make_row(i));
        if (i % 3 == 0) rows.back().id = 100000 + i;
    }
    BulkRow::objects.bulk_create(rows);
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{300});
    CT_CHECK_EQ(BulkRow::objects.get("pk", 100000 + 0).code, std::string("c0"));
    CT_CHECK_EQ(BulkRow::objects.get("pk", 100000 + 297).code, std::string("c297"));
    CT_CHECK_EQ(BulkRow::objects.filter("id__gte", 100000).count(), std::int64_t{100});
    // A small batch (multi-row INSERT) and batch_size splitting a large one.
    std::vector<BulkRow> few{make_row(400), make_row(401)};
    BulkRow::objects.bulk_create(few);
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{302});
    std::vector<BulkRow> many;
    for (int i = 1000; i < 1250; ++i) many.push_back(make_row(i));
    Capture log;
    BulkRow::objects.bulk_create(many, 100);
    if (ctx.features().supports_copy_in) CT_CHECK_EQ(log.count("COPY"), std::size_t{3});  // 100 + 100 + 50
    else CT_CHECK_EQ(log.count("INSERT"), std::size_t{3});
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{552});
    if (ctx.features().can_return_rows_from_bulk_insert)
        CT_CHECK_EQ(BulkRow::objects.get("pk", many[137].id).code, std::string("c1137"));
}

CONFORMANCE_TEST("orm bulk: 20,000 rows in one bulk_create") {
    Tables<Stock> tables(ctx);
    std::vector<Stock> rows;
    for (int i = 0; i < 20000; ++i) rows.push_back({.shop = fmt::format("s{}", i % 7), .item = fmt::format("i{}", i), .quantity = i});
    Stock::objects.bulk_create(rows);
    CT_CHECK_EQ(Stock::objects.count(), std::int64_t{20000});
    CT_CHECK(Stock::objects.aggregate(Sum("quantity")) == Value(std::int64_t{19999LL * 20000 / 2}));
    if (ctx.features().can_return_rows_from_bulk_insert)
        CT_CHECK_EQ(Stock::objects.get("pk", rows[12345].id).quantity, 12345);
}

CONFORMANCE_TEST("orm bulk: a constraint error is the usual typed error, names the row where the server says, and leaves nothing") {
    Tables<BulkRow> tables(ctx);
    BulkRow::objects.create(make_row(7));
    std::vector<BulkRow> rows;
    for (int i = 100; i < 300; ++i) rows.push_back(make_row(i));
    rows[150].code = "c7";  // already stored: a unique violation on objs[150]
    try {
        BulkRow::objects.bulk_create(rows);
        CT_FAIL_AT("no error");
    } catch (const UniqueViolation& e) {
        std::string what = e.what();
        if (ctx.features().supports_copy_in) {
            CT_CHECK(what.find("objs[150]") != std::string::npos);  // COPY's CONTEXT gives the line
            CT_CHECK(what.find("c7") != std::string::npos);         // the server's DETAIL names the key
        }
    }
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{1});
    // Duplicates inside the batch itself.
    rows[150].code = "c151";
    CT_CHECK_THROWS_AS(BulkRow::objects.bulk_create(rows), IntegrityError);
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{1});
    // The connection is sane afterwards, and inside atomic() the outer transaction goes on.
    rows[150].code = "c250x";
    orm::atomic([&] {
        BulkRow::objects.create(make_row(8));
        std::vector<BulkRow> bad = rows;
        bad[10].code = "c8";
        CT_CHECK_THROWS_AS(BulkRow::objects.bulk_create(bad), UniqueViolation);
        BulkRow::objects.bulk_create(rows);  // the savepoint rolled back: the transaction is usable
    });
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{202});
}

CONFORMANCE_TEST("orm bulk: bulk_create inside atomic() rolls back with it") {
    Tables<BulkRow> tables(ctx);
    std::vector<BulkRow> rows;
    for (int i = 0; i < 500; ++i) rows.push_back(make_row(i));
    try {
        orm::atomic([&] {
            BulkRow::objects.bulk_create(rows);
            CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{500});
            throw std::runtime_error("undo");
        });
    } catch (const std::runtime_error&) {
    }
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{0});
}

CONFORMANCE_TEST("orm bulk: values that cannot be stored are refused before any row is sent") {
    Tables<BulkRow> tables(ctx);
    std::vector<BulkRow> rows;
    for (int i = 0; i < 200; ++i) rows.push_back(make_row(i));
    rows[120].code = std::string(30, 'x');  // over max_length 20
    CT_CHECK_THROWS_AS(BulkRow::objects.bulk_create(rows), ValidationError);
    rows[120].code = "ok";
    if (!ctx.features().text_allows_nul) {
        rows[60].text = std::string("a\0b", 3);
        CT_CHECK_THROWS_AS(BulkRow::objects.bulk_create(rows), DataError);
        rows[60].text = "fine";
    }
    rows[70].text = "bad \xff utf-8";
    CT_CHECK_THROWS_AS(BulkRow::objects.bulk_create(rows), Error);
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{0});
    rows[70].text = "good";
    BulkRow::objects.bulk_create(rows);  // the connection is usable after the refused loads
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{200});
}

CONFORMANCE_TEST("orm bulk: bulk_update sets the named fields per object, batched, and returns the rows matched") {
    Tables<BulkRow> tables(ctx);
    std::vector<BulkRow> rows;
    for (int i = 0; i < 250; ++i) rows.push_back(make_row(i));
    BulkRow::objects.bulk_create(rows);
    auto stored = BulkRow::objects.all().list();
    for (auto& s : stored) {
        s.big = s.big * 2 + 1;
        s.text = "updated " + s.code + " ☃";
        s.o_text = std::nullopt;
        s.o_day = Date(year(2030) / 1 / 2);
        s.small = 99;  // not in the fields: stays
    }
    Capture log;
    auto n = BulkRow::objects.bulk_update(stored, {"big", "text", &BulkRow::o_text, &BulkRow::o_day}, 100);
    CT_CHECK_EQ(n, std::int64_t{250});
    // One CASE statement per batch; an embedded database (no round trips) takes one UPDATE per object.
    CT_CHECK_EQ(log.count("UPDATE"), ctx.features().is_embedded ? std::size_t{250} : std::size_t{3});
    auto again = BulkRow::objects.all().list();
    int wrong = 0;
    for (std::size_t i = 0; i < again.size(); ++i) {
        const auto& a = again[i];
        const auto& s = stored[i];
        if (a.big != s.big || a.text != s.text || a.o_text || a.o_day != s.o_day || a.small == 99) ++wrong;
    }
    CT_CHECK_EQ(wrong, 0);
    // Typed and string spellings give the same statement.
    log.clear();
    BulkRow::objects.bulk_update(stored, {"real"});
    BulkRow::objects.bulk_update(stored, {&BulkRow::real});
    auto updates = log.sql();
    std::vector<std::string> texts;
    for (const auto& s : updates)
        if (s.starts_with("UPDATE")) texts.push_back(s);
    CT_REQUIRE(texts.size() % 2 == 0 && !texts.empty());
    CT_CHECK_EQ(texts[0], texts[texts.size() / 2]);
    // Objects whose row is gone are not matched.
    BulkRow::objects.filter("pk", stored[0].id).remove();
    CT_CHECK_EQ(BulkRow::objects.bulk_update(stored, {"flag"}), std::int64_t{249});
    // A value for a NOT NULL column that is NULL, a unique clash: typed errors, nothing changed.
    stored[2].code = stored[3].code;
    CT_CHECK_THROWS_AS(BulkRow::objects.bulk_update(stored, {"code"}), UniqueViolation);
    CT_CHECK_EQ(BulkRow::objects.get("pk", stored[2].id).code, std::string("c2"));
    CT_CHECK_EQ(BulkRow::objects.bulk_update(std::vector<BulkRow>{}, {"flag"}), std::int64_t{0});
}

CONFORMANCE_TEST("orm bulk: bulk_update refuses the primary key, unknown fields and unsaved objects, listing the choices") {
    Tables<BulkRow> tables(ctx);
    std::vector<BulkRow> rows{make_row(1)};
    BulkRow::objects.bulk_create(rows);
    CT_CHECK_THROWS_WITH(BulkRow::objects.bulk_update(rows, {"id"}), FieldError, "primary key", "Choices are", "code");
    CT_CHECK_THROWS_WITH(BulkRow::objects.bulk_update(rows, {"nope"}), FieldError, "nope", "Choices are", "o_day");
    CT_CHECK_THROWS_WITH(BulkRow::objects.bulk_update(rows, {}), FieldError, "Choices are");
    CT_CHECK_THROWS_AS(BulkRow::objects.bulk_update(rows, {"big", "big"}), FieldError);
    std::vector<BulkRow> unsaved{make_row(2)};
    CT_CHECK_THROWS_AS(BulkRow::objects.bulk_update(unsaved, {"big"}), InterfaceError);
    rows[0].code = std::string(25, 'y');
    CT_CHECK_THROWS_AS(BulkRow::objects.bulk_update(rows, {"code"}), ValidationError);
    // A user value with SQL in it is a bound parameter.
    rows[0].code = "x'; DROP TABLE t; --";
    BulkRow::objects.bulk_update(rows, {"code"});
    CT_CHECK_EQ(BulkRow::objects.get("pk", rows[0].id).code, rows[0].code);
}

CONFORMANCE_TEST("orm bulk: bulk_create(ignore_conflicts) skips conflicting rows and sets no keys") {
    CT_REQUIRE_FEATURE(supports_ignore_conflicts);
    Tables<BulkRow, Stock> tables(ctx);
    BulkRow::objects.create(make_row(5));
    std::vector<BulkRow> rows;
    for (int i = 0; i < 300; ++i) rows.push_back(make_row(i));  // c5 conflicts
    rows.push_back(make_row(10));                                 // and a duplicate within the batch
    Capture log;
    BulkRow::objects.bulk_create(rows, {.ignore_conflicts = true});
    CT_CHECK_EQ(log.count("COPY"), std::size_t{0});
    auto sqls = log.sql();
    CT_CHECK(std::any_of(sqls.begin(), sqls.end(),
                         [](const std::string& s) { return s.find("ON CONFLICT DO NOTHING") != std::string::npos; }));
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{300});
    CT_CHECK(std::all_of(rows.begin(), rows.end(), [](const BulkRow& r) { return r.id == 0; }));
    // Other errors still fail (a NOT NULL is not a conflict).
    std::vector<Stock> ok{{.shop = "a", .item = "b"}};
    Stock::objects.bulk_create(ok, {.ignore_conflicts = true});
    Stock::objects.bulk_create(ok, {.ignore_conflicts = true});
    CT_CHECK_EQ(Stock::objects.count(), std::int64_t{1});
}

CONFORMANCE_TEST("orm bulk: bulk_create(update_conflicts) updates the named fields of conflicting rows") {
    CT_REQUIRE_FEATURE(supports_update_conflicts);
    Tables<Stock, BulkRow> tables(ctx);
    std::vector<Stock> first;
    for (int i = 0; i < 200; ++i) first.push_back({.shop = "north", .item = fmt::format("i{}", i), .quantity = i, .note = "old"});
    Stock::objects.bulk_create(first);
    std::vector<Stock> second;
    for (int i = 100; i < 300; ++i) second.push_back({.shop = "north", .item = fmt::format("i{}", i), .quantity = -i, .note = "new"});
    Capture log;
    Stock::objects.bulk_create(second, {.update_conflicts = true,
                                        .update_fields = {&Stock::quantity},
                                        .unique_fields = {"shop", &Stock::item}});
    CT_CHECK_EQ(log.count("COPY"), std::size_t{0});
    CT_CHECK_EQ(Stock::objects.count(), std::int64_t{300});
    CT_CHECK_EQ(Stock::objects.get(Q("shop", "north") & Q("item", "i150")).quantity, -150);
    CT_CHECK_EQ(Stock::objects.get(Q("shop", "north") & Q("item", "i150")).note, std::string("old"));  // not in update_fields
    CT_CHECK_EQ(Stock::objects.get(Q("shop", "north") & Q("item", "i250")).note, std::string("new"));  // inserted
    CT_CHECK_EQ(Stock::objects.get(Q("shop", "north") & Q("item", "i50")).quantity, 50);
    if (ctx.features().can_return_rows_from_bulk_insert) {
        // Keys come back for inserted and updated rows alike.
        CT_CHECK_EQ(second[0].id, Stock::objects.get(Q("shop", "north") & Q("item", "i100")).id);
        CT_CHECK_EQ(second[199].id, Stock::objects.get(Q("shop", "north") & Q("item", "i299")).id);
    }
    // A unique field of its own (the model's unique code).
    BulkRow::objects.create(make_row(1));
    std::vector<BulkRow> up{make_row(1), make_row(2)};
    up[0].big = 4242;
    up[0].text = "changed";
    BulkRow::objects.bulk_create(up, {.update_conflicts = true, .update_fields = {"big"}, .unique_fields = {"code"}});
    CT_CHECK_EQ(BulkRow::objects.get("code", "c1").big, std::int64_t{4242});
    CT_CHECK(BulkRow::objects.get("code", "c1").text != "changed");
    CT_CHECK_EQ(BulkRow::objects.count(), std::int64_t{2});
}

CONFORMANCE_TEST("orm bulk: bad upsert options get a FieldError listing the choices") {
    Tables<Stock> tables(ctx);
    std::vector<Stock> rows{{.shop = "a", .item = "b"}};
    CT_CHECK_THROWS_WITH(Stock::objects.bulk_create(rows, {.update_conflicts = true, .unique_fields = {"shop", "item"}}),
                         FieldError, "update_fields", "Choices are", "quantity");
    CT_CHECK_THROWS_WITH(Stock::objects.bulk_create(rows, {.update_conflicts = true, .update_fields = {"quantity"}}),
                         FieldError, "unique_fields", "[shop, item]");
    CT_CHECK_THROWS_WITH(
        Stock::objects.bulk_create(rows, {.update_conflicts = true, .update_fields = {"quantity"}, .unique_fields = {"shop"}}),
        FieldError, "not a unique constraint", "[id]", "[shop, item]");
    CT_CHECK_THROWS_WITH(
        Stock::objects.bulk_create(rows, {.update_conflicts = true, .update_fields = {"id"}, .unique_fields = {"shop", "item"}}),
        FieldError, "primary key", "Choices are");
    CT_CHECK_THROWS_WITH(
        Stock::objects.bulk_create(rows, {.update_conflicts = true, .update_fields = {"qty"}, .unique_fields = {"shop", "item"}}),
        FieldError, "qty", "Choices are", "quantity");
    CT_CHECK_THROWS_WITH(
        Stock::objects.bulk_create(rows, {.update_conflicts = true, .update_fields = {"note"}, .unique_fields = {"shop", "nope"}}),
        FieldError, "nope", "Choices are");
    CT_CHECK_THROWS_AS(Stock::objects.bulk_create(rows, {.ignore_conflicts = true, .update_conflicts = true}), InterfaceError);
    CT_CHECK_THROWS_AS(Stock::objects.bulk_create(rows, {.update_fields = {"note"}}), InterfaceError);
    CT_CHECK_EQ(Stock::objects.count(), std::int64_t{0});
    // Values in an upsert are bound parameters.
    std::vector<Stock> odd{{.shop = "a'); DROP t; --", .item = "☃", .note = "\\N"}};
    Stock::objects.bulk_create(odd, {.update_conflicts = true, .update_fields = {"note"}, .unique_fields = {"shop", "item"}});
    CT_CHECK_EQ(Stock::objects.get("item", "☃").shop, odd[0].shop);
}

CONFORMANCE_TEST("orm bulk: update_or_create keeps Django's locked get-then-save (non-unique lookups, expressions)") {
    Tables<Stock> tables(ctx);
    auto [a, created] = Stock::objects.update_or_create({{"shop", "s"}, {"item", "i"}}, {{"quantity", 3}});
    CT_CHECK(created);
    auto [b, created2] = Stock::objects.update_or_create({{"shop", "s"}, {"item", "i"}}, {{"quantity", F("quantity") + 4}});
    CT_CHECK(!created2);
    CT_CHECK_EQ(b.id, a.id);
    CT_CHECK_EQ(b.quantity, 7);
    // A lookup that is not unique: two rows match, as Django.
    Stock::objects.create({.shop = "s", .item = "j"});
    CT_CHECK_THROWS_AS(Stock::objects.update_or_create({{"shop", "s"}}, {{"quantity", 1}}), MultipleObjectsReturned);
    CT_CHECK_EQ(Stock::objects.count(), std::int64_t{2});
}
