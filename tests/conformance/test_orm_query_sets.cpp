// ORM conformance for issue 17's queryset methods beyond filters: only() / defer() (deferred
// fields loaded on request, saves that leave unloaded columns alone), union / intersection /
// difference (with all=, ordering and slicing of the combined rows, values() on them, the
// backends' limits as feature flags), and Prefetch objects (a filtered and ordered queryset,
// to_attr members, nesting through the queryset's own prefetch_related). Expected answers are
// Django's on the same data.
#include <fmt/ranges.h>

#include "tests/conformance/test_orm_models.hpp"

using namespace orm;
using namespace weft::conformance;
using orm_models::Capture;
using orm_models::Tables;

namespace {

struct Tome;
struct Critique;
struct Genre;

struct Scribe : orm::Model<Scribe> {
    std::int64_t id = 0;
    std::string name;
    orm::RelatedSet<Tome> tomes;
    std::vector<Tome> long_tomes;  // Prefetch(..., to_attr): not a field, filled by prefetch_related
    std::vector<Tome> short_tomes;
    static void describe(orm::Meta<Scribe>& m);
};

struct Genre : orm::Model<Genre> {
    std::int64_t id = 0;
    std::string name;
    static void describe(orm::Meta<Genre>& m) {
        m.table("weft_ct_qs_genre");
        m.field(&Genre::id, "id").primary_key();
        m.field(&Genre::name, "name").max_length(20);
    }
};

struct Tome : orm::Model<Tome> {
    std::int64_t id = 0;
    std::string title;
    std::int32_t pages = 0;
    std::string body;
    double price = 0;
    orm::ForeignKey<Scribe> scribe;
    orm::ManyToMany<Genre> genres;
    orm::RelatedSet<Critique> critiques;
    std::vector<Genre> genre_list;  // to_attr
    static void describe(orm::Meta<Tome>& m);
};

struct Critique : orm::Model<Critique> {
    std::int64_t id = 0;
    orm::ForeignKey<Tome> tome;
    std::int32_t stars = 0;
    static void describe(orm::Meta<Critique>& m) {
        m.table("weft_ct_qs_critique");
        m.field(&Critique::id, "id").primary_key();
        m.field(&Critique::tome, "tome").related_name("critiques");
        m.field(&Critique::stars, "stars");
        m.ordering({"id"});
    }
};

void Scribe::describe(orm::Meta<Scribe>& m) {
    m.table("weft_ct_qs_scribe");
    m.field(&Scribe::id, "id").primary_key();
    m.field(&Scribe::name, "name").max_length(20);
    m.field(&Scribe::tomes, "tomes");
    m.ordering({"id"});
}

void Tome::describe(orm::Meta<Tome>& m) {
    m.table("weft_ct_qs_tome");
    m.field(&Tome::id, "id").primary_key();
    m.field(&Tome::title, "title").max_length(30);
    m.field(&Tome::pages, "pages");
    m.field(&Tome::body, "body");
    m.field(&Tome::price, "price");
    m.field(&Tome::scribe, "scribe").related_name("tomes");
    m.field(&Tome::genres, "genres").related_name("tomes");
    m.field(&Tome::critiques, "critiques");
    m.ordering({"id"});
}

using Ids = std::vector<std::int64_t>;
using Strings = std::vector<std::string>;
using All = Tables<Scribe, Genre, Tome, Critique>;

struct Seed {
    std::int64_t ann = 0, bob = 0, cy = 0;
    std::int64_t t1 = 0, t2 = 0, t3 = 0, t4 = 0, t5 = 0;
};

// Ann: "A1" (100 pages), "A2" (300); Bob: "B1" (50), "B2" (500), "B3" (250); Cy: none.
// Critiques: A2 4 and 2 stars, B2 5; genres: A1 {sf}, A2 {sf, crime}, B2 {crime}.
Seed seed() {
    Seed s;
    auto ann = Scribe::objects.create({{"name", "Ann"}});
    auto bob = Scribe::objects.create({{"name", "Bob"}});
    auto cy = Scribe::objects.create({{"name", "Cy"}});
    s.ann = ann.id, s.bob = bob.id, s.cy = cy.id;
    auto t = [&](const char* title, int pages, const char* body, double price, const Scribe& w) {
        return Tome::objects
            .create(Tome{.title = title, .pages = static_cast<std::int32_t>(pages), .body = body, .price = price, .scribe = w})
            .id;
    };
    s.t1 = t("A1", 100, "body of A1", 10.0, ann);
    s.t2 = t("A2", 300, "body of A2", 20.0, ann);
    s.t3 = t("B1", 50, "body of B1", 5.0, bob);
    s.t4 = t("B2", 500, "body of B2", 50.0, bob);
    s.t5 = t("B3", 250, "body of B3", 25.0, bob);
    Critique::objects.create(Critique{.tome = Tome::objects.get("pk", s.t2), .stars = 4});
    Critique::objects.create(Critique{.tome = Tome::objects.get("pk", s.t2), .stars = 2});
    Critique::objects.create(Critique{.tome = Tome::objects.get("pk", s.t4), .stars = 5});
    auto sf = Genre::objects.create({{"name", "sf"}});
    auto crime = Genre::objects.create({{"name", "crime"}});
    auto a1 = Tome::objects.get("pk", s.t1);
    a1.genres.add(sf);
    auto a2 = Tome::objects.get("pk", s.t2);
    a2.genres.add(sf);
    a2.genres.add(crime);
    auto b2 = Tome::objects.get("pk", s.t4);
    b2.genres.add(crime);
    return s;
}

template <class QS>
Ids ids(const QS& qs) {
    Ids out;
    for (const auto& n : qs) out.push_back(n.id);
    return out;
}

template <class V>
Ids ids_of(const V& rows) {
    Ids out;
    for (const auto& n : rows) out.push_back(n.id);
    return out;
}

Strings titles(const ValuesQuerySet& qs) {
    Strings out;
    for (const auto& row : qs) out.push_back(row[0].as_text());
    return out;
}

}  // namespace

// ---- only() / defer() ---------------------------------------------------------------------------

CONFORMANCE_TEST("orm only/defer: deferred fields are left out and load on request, one SELECT each") {
    All tables(ctx);
    auto s = seed();
    Capture cap;
    auto rows = Tome::objects.only("title").order_by("id").list();
    CT_REQUIRE(rows.size() == 5);
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{1});
    CT_CHECK(cap.sql()[0].find("body") == std::string::npos);
    Tome& a1 = rows[0];
    CT_CHECK_EQ(a1.title, std::string("A1"));
    CT_CHECK_EQ(a1.body, std::string());  // not loaded: the member's default
    CT_CHECK_EQ(a1.get_deferred_fields(), (Strings{"pages", "body", "price", "scribe_id"}));
    // Django's attribute access: one SELECT of that column.
    cap.clear();
    CT_CHECK_EQ(a1.loaded(&Tome::body), std::string("body of A1"));
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{1});
    CT_CHECK_EQ(a1.get_deferred_fields(), (Strings{"pages", "price", "scribe_id"}));
    CT_CHECK_EQ(a1.loaded(&Tome::body), std::string("body of A1"));  // loaded now: no query
    CT_CHECK_EQ(a1.loaded(&Tome::title), std::string("A1"));
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{1});
    // Every deferred field in one SELECT; a deferred foreign key comes back with its key.
    cap.clear();
    a1.load_deferred();
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{1});
    CT_CHECK(a1.get_deferred_fields().empty());
    CT_CHECK_EQ(a1.pages, std::int32_t{100});
    CT_CHECK_EQ(a1.price, 10.0);
    CT_CHECK_EQ(a1.scribe->name, std::string("Ann"));
    a1.load_deferred();  // nothing left: no query
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{2});  // (the one above and the scribe)

    // defer(): the named ones; typed and string spellings read the same rows.
    auto d = Tome::objects.defer("body", "price").order_by("-pages").list();
    auto typed = Tome::objects.defer(&Tome::body, &Tome::price).order_by("-pages").list();
    CT_CHECK_EQ(ids_of(d), ids_of(typed));
    CT_CHECK_EQ(ids_of(d), (Ids{s.t4, s.t2, s.t5, s.t1, s.t3}));
    CT_CHECK_EQ(d[0].get_deferred_fields(), (Strings{"body", "price"}));
    CT_CHECK_EQ(typed[0].get_deferred_fields(), (Strings{"body", "price"}));
    CT_CHECK_EQ(d[0].pages, std::int32_t{500});
    CT_CHECK_EQ(d[0].loaded(&Tome::price), 50.0);
    // get(), first(), chunked reads and filters on deferred fields all keep the deferral.
    auto g = Tome::objects.only(&Tome::title).get("pk", s.t3);
    CT_CHECK_EQ(g.get_deferred_fields(), (Strings{"pages", "body", "price", "scribe_id"}));
    CT_CHECK_EQ(g.loaded(&Tome::pages), std::int32_t{50});
    auto f = Tome::objects.only("title").filter("body__contains", "B2").first();
    CT_REQUIRE(f.has_value());
    CT_CHECK_EQ(f->id, s.t4);
    CT_CHECK_EQ(f->body, std::string());
    std::size_t n = 0;
    for (auto& t : Tome::objects.defer("body").iterator(2)) {
        CT_CHECK_EQ(t.get_deferred_fields(), Strings{"body"});
        ++n;
    }
    CT_CHECK_EQ(n, std::size_t{5});
    // defer() with no names undoes the deferral; refresh_from_db() loads everything.
    CT_CHECK(Tome::objects.only("title").defer().get("pk", s.t1).get_deferred_fields().empty());
    auto r = Tome::objects.only("title").get("pk", s.t1);
    r.refresh_from_db();
    CT_CHECK(r.get_deferred_fields().empty());
    CT_CHECK_EQ(r.body, std::string("body of A1"));
}

CONFORMANCE_TEST("orm only/defer: save() updates only the loaded fields, never writes defaults over the rest") {
    All tables(ctx);
    auto s = seed();
    auto t = Tome::objects.only("title", "pages").get("pk", s.t1);
    t.title = "A1 revised";
    t.pages = 111;
    Capture cap;
    t.save();
    CT_REQUIRE(cap.count("UPDATE") == 1);
    CT_CHECK(cap.sql()[0].find("body") == std::string::npos);
    CT_CHECK(cap.sql()[0].find("price") == std::string::npos);
    auto back = Tome::objects.get("pk", s.t1);
    CT_CHECK_EQ(back.title, std::string("A1 revised"));
    CT_CHECK_EQ(back.pages, std::int32_t{111});
    CT_CHECK_EQ(back.body, std::string("body of A1"));  // kept (a full save would have written "")
    CT_CHECK_EQ(back.price, 10.0);
    CT_CHECK_EQ(back.scribe.id(), std::optional<std::int64_t>(s.ann));
    // Assigning through loaded() makes the field loaded, so save() writes it.
    t.loaded(&Tome::body) = "new body";
    t.save();
    CT_CHECK_EQ(Tome::objects.get("pk", s.t1).body, std::string("new body"));
    CT_CHECK_EQ(Tome::objects.get("pk", s.t1).price, 10.0);
    // The row is gone: no INSERT of defaults, a DatabaseError naming the deferred fields.
    auto gone = Tome::objects.only("title").get("pk", s.t3);
    Tome::objects.filter("pk", s.t3).remove();
    gone.title = "ghost";
    CT_CHECK_THROWS_WITH(gone.save(), orm::DatabaseError, "deferred", "only() / defer()", "pages, body, price, scribe_id");
    CT_CHECK_EQ(Tome::objects.filter("pk", s.t3).count(), std::int64_t{0});
    // Loading a deferred field of a deleted row: DoesNotExist.
    CT_CHECK_THROWS_AS(gone.loaded(&Tome::body), Tome::DoesNotExist);
}

CONFORMANCE_TEST("orm only/defer: select_related and bad names") {
    All tables(ctx);
    auto s = seed();
    auto t = Tome::objects.select_related("scribe").defer("body").get("pk", s.t4);
    CT_CHECK_EQ(t.scribe->name, std::string("Bob"));
    CT_CHECK_EQ(t.get_deferred_fields(), Strings{"body"});
    CT_CHECK_EQ(t.loaded(&Tome::body), std::string("body of B2"));
    CT_CHECK_THROWS_WITH(Tome::objects.select_related("scribe").only("title"), orm::FieldError,
                         "Tome.scribe cannot be both deferred and traversed using select_related");
    CT_CHECK_THROWS_WITH(Tome::objects.only("titel"), orm::FieldError, "no field named 'titel'",
                         "Choices are: id, title, pages, body, price, scribe");
    CT_CHECK_THROWS_AS(Tome::objects.defer("scribe__name"), orm::FieldError);
}

// ---- union / intersection / difference ----------------------------------------------------------

CONFORMANCE_TEST("orm union: values querysets, all=, ordering and slicing of the combined rows, count") {
    All tables(ctx);
    seed();
    auto ann = Tome::objects.filter("scribe__name", "Ann").values_list("title");
    auto long_ = Tome::objects.filter("pages__gte", 300).values_list("title");
    // A2 is in both: UNION removes the duplicate, UNION ALL keeps it.
    CT_CHECK_EQ(titles(ann.union_(long_).order_by("title")), (Strings{"A1", "A2", "B2"}));
    CT_CHECK_EQ(titles(ann.union_(long_, true).order_by("title")), (Strings{"A1", "A2", "A2", "B2"}));
    CT_CHECK_EQ(ann.union_(long_).count(), std::int64_t{3});
    CT_CHECK_EQ(ann.union_(long_, true).count(), std::int64_t{4});
    CT_CHECK_EQ(titles(ann.union_(long_).order_by("-title").slice(0, 2)), (Strings{"B2", "A2"}));
    CT_CHECK_EQ(titles(ann.union_(long_).order_by("title").slice(1, 3)), (Strings{"A2", "B2"}));
    CT_CHECK(ann.union_(long_).exists());
    CT_CHECK_EQ(titles(ann.intersection(long_)), Strings{"A2"});
    CT_CHECK_EQ(titles(ann.difference(long_)), Strings{"A1"});
    // Three at once.
    auto b1 = Tome::objects.filter("title", "B1").values_list("title");
    CT_CHECK_EQ(titles(ann.union_({long_, b1}).order_by("title")), (Strings{"A1", "A2", "B1", "B2"}));
    // all= on INTERSECT / EXCEPT where the backend has it.
    if (ctx.features().supports_intersect_except_all) {
        auto twice = ann.union_(ann, true);
        CT_CHECK_EQ(titles(twice.intersection(long_, true).order_by("title")), Strings{"A2"});
        CT_CHECK_EQ(titles(twice.difference(long_, true).order_by("title")), (Strings{"A1", "A1", "A2"}));
    } else {
        CT_CHECK_THROWS_WITH(ann.intersection(long_, true).list(), orm::NotSupportedError, "INTERSECT ALL",
                             "supports_intersect_except_all");
    }
}

CONFORMANCE_TEST("orm union: model querysets read objects; values() and only() on them; none()") {
    All tables(ctx);
    auto s = seed();
    auto ann = Tome::objects.filter("scribe", s.ann);
    auto big = Tome::objects.filter("pages__gt", 200);
    auto u = ann.union_(big).order_by("-pages");
    CT_CHECK_EQ(ids(u), (Ids{s.t4, s.t2, s.t5, s.t1}));
    auto objs = u.list();
    CT_CHECK_EQ(objs[0].title, std::string("B2"));
    CT_CHECK_EQ(objs[0].scribe->name, std::string("Bob"));
    // values() / values_list() after union() select the columns in every part.
    CT_CHECK_EQ(titles(ann.union_(big).values_list("title").order_by("title")), (Strings{"A1", "A2", "B2", "B3"}));
    CT_CHECK_EQ(ann.union_(big).values_list("pages", orm::flat).size(), std::size_t{4});
    // only() on every part: deferred objects.
    auto light = Tome::objects.only("title").filter("scribe", s.ann).union_(Tome::objects.only("title").filter("pages", 50));
    auto rows = light.order_by("title").list();
    CT_REQUIRE(rows.size() == 3);
    CT_CHECK_EQ(rows[2].title, std::string("B1"));
    CT_CHECK_EQ(rows[2].get_deferred_fields(), (Strings{"pages", "body", "price", "scribe_id"}));
    CT_CHECK_EQ(rows[2].loaded(&Tome::pages), std::int32_t{50});
    // none(): a union leaves it out; an intersection with it is empty.
    CT_CHECK_EQ(ids(Tome::objects.none().union_(ann).order_by("id")), (Ids{s.t1, s.t2}));
    CT_CHECK(Tome::objects.all().intersection(Tome::objects.none()).list().empty());
    // A combined queryset as the value of __in (its primary keys).
    CT_CHECK_EQ(ids(Tome::objects.filter("pk__in", ann.union_(big)).exclude("pages__gt", 400)), (Ids{s.t1, s.t2, s.t5}));
    // Aggregates over the combined rows.
    CT_CHECK_EQ(ann.union_(big).aggregate(Max("pages")), Value(std::int32_t{500}));
    CT_CHECK_EQ(ann.union_(big, true).aggregate(Count("id")), Value(std::int64_t{5}));  // A2 twice
    // Read in chunks (LIMIT / OFFSET over the combined rows, ordered by the primary key).
    Ids chunked;
    for (auto& t : ann.union_(big).iterator(3)) chunked.push_back(t.id);
    CT_CHECK_EQ(chunked, (Ids{s.t1, s.t2, s.t4, s.t5}));
    // Prefetching on the combined rows.
    auto with_critiques = ann.union_(big).order_by("pages").prefetch_related("critiques").list();
    CT_REQUIRE(with_critiques.size() == 4);
    CT_CHECK_EQ(with_critiques[2].critiques.all().size(), std::size_t{2});
}

CONFORMANCE_TEST("orm union: ordered or sliced parts (Features::supports_slicing_ordering_in_compound)") {
    All tables(ctx);
    seed();
    auto top = Tome::objects.order_by("-pages").slice(0, 1).values_list("title");
    auto least = Tome::objects.order_by("pages").slice(0, 1).values_list("title");
    if (ctx.features().supports_slicing_ordering_in_compound) {
        CT_CHECK_EQ(titles(top.union_(least).order_by("title")), (Strings{"B1", "B2"}));
    } else {
        CT_CHECK_THROWS_WITH(top.union_(least).list(), orm::DatabaseError,
                             "LIMIT/OFFSET not allowed in subqueries of compound statements");
        CT_CHECK_THROWS_WITH(Tome::objects.order_by("title").values_list("title").union_(least.slice(0, 5)).count(),
                             orm::DatabaseError, "not allowed in subqueries of compound statements");
    }
}

CONFORMANCE_TEST("orm union: different columns, and methods Django refuses after union, are errors") {
    All tables(ctx);
    seed();
    auto one = Tome::objects.values_list("title");
    auto two = Tome::objects.values_list("title", "pages");
    CT_CHECK_THROWS_WITH(one.union_(two), orm::FieldError, "union(): the querysets select different columns",
                         "queryset 1 selects 1 (title)", "queryset 2 selects 2 (title, pages)");
    CT_CHECK_THROWS_WITH(Tome::objects.all().difference(Scribe::objects.all()), orm::FieldError,
                         "difference(): the querysets select different columns");
    auto u = Tome::objects.all().union_(Tome::objects.all());
    CT_CHECK_THROWS_WITH(u.filter("pages", 1), orm::NotSupportedError,
                         "Calling QuerySet.filter() after union() is not supported");
    CT_CHECK_THROWS_AS(u.exclude("pages", 1), orm::NotSupportedError);
    CT_CHECK_THROWS_AS(u.update({{"pages", 1}}), orm::NotSupportedError);
    CT_CHECK_THROWS_AS(u.remove(), orm::NotSupportedError);
    CT_CHECK_THROWS_WITH(one.union_(one).order_by("pages").list(), orm::FieldError, "order by one of: title");
    CT_CHECK_EQ(Tome::objects.count(), std::int64_t{5});  // nothing was changed
}

// ---- Prefetch objects ----------------------------------------------------------------------------

CONFORMANCE_TEST("orm Prefetch: a filtered, ordered queryset into a to_attr vector, or into the relation's member") {
    All tables(ctx);
    auto s = seed();
    Capture cap;
    auto scribes = Scribe::objects
                       .prefetch_related(Prefetch("tomes", Tome::objects.filter("pages__gte", 250).order_by("-pages"),
                                                  &Scribe::long_tomes),
                                         Prefetch("tomes", Tome::objects.filter("pages__lt", 250), &Scribe::short_tomes))
                       .list();
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{3});
    CT_REQUIRE(scribes.size() == 3);
    CT_CHECK_EQ(ids_of(scribes[0].long_tomes), Ids{s.t2});
    CT_CHECK_EQ(ids_of(scribes[1].long_tomes), (Ids{s.t4, s.t5}));  // ordered by the queryset: -pages
    CT_CHECK(scribes[2].long_tomes.empty());
    CT_CHECK_EQ(ids_of(scribes[0].short_tomes), Ids{s.t1});
    CT_CHECK_EQ(ids_of(scribes[1].short_tomes), Ids{s.t3});
    CT_CHECK_EQ(scribes[1].long_tomes[0].title, std::string("B2"));
    // The relation's own member was not filled by to_attr prefetches (all() queries).
    cap.clear();
    CT_CHECK_EQ(scribes[1].tomes.all().size(), std::size_t{3});
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{1});

    // Without to_attr the relation's member holds the queryset's rows.
    cap.clear();
    auto filtered = Scribe::objects.prefetch_related(Prefetch("tomes", Tome::objects.filter("price__gt", 15.0).order_by("-price"))).list();
    CT_CHECK_EQ(ids(filtered[1].tomes.all()), (Ids{s.t4, s.t5}));
    CT_CHECK_EQ(ids(filtered[0].tomes.all()), Ids{s.t2});
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{2});

    // A queryset with only(): the key column it is grouped by is loaded anyway.
    auto light = Scribe::objects.prefetch_related(Prefetch("tomes", Tome::objects.only("title").order_by("title"), &Scribe::long_tomes)).list();
    CT_CHECK_EQ(ids_of(light[1].long_tomes), (Ids{s.t3, s.t4, s.t5}));
    CT_CHECK_EQ(light[1].long_tomes[0].get_deferred_fields(), (Strings{"pages", "body", "price"}));
    // A forward foreign key with a queryset: the targets it leaves out stay unloaded (read on access).
    cap.clear();
    auto by_ann = Tome::objects.order_by("id").prefetch_related(Prefetch("scribe", Scribe::objects.filter("name", "Ann"))).list();
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{2});
    CT_CHECK(by_ann[0].scribe.is_loaded());
    CT_CHECK_EQ(by_ann[0].scribe->name, std::string("Ann"));
    CT_CHECK(!by_ann[2].scribe.is_loaded());
    CT_CHECK_EQ(by_ann[2].scribe->name, std::string("Bob"));
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{3});
    // Many-to-many, with to_attr and an ordering.
    auto tomes = Tome::objects.filter("pk__in", Ids{s.t1, s.t2, s.t3})
                     .prefetch_related(Prefetch("genres", Genre::objects.order_by("name"), &Tome::genre_list))
                     .order_by("id")
                     .list();
    Strings a2;
    for (const auto& g : tomes[1].genre_list) a2.push_back(g.name);
    CT_CHECK_EQ(a2, (Strings{"crime", "sf"}));
    CT_CHECK_EQ(tomes[0].genre_list.size(), std::size_t{1});
    CT_CHECK(tomes[2].genre_list.empty());
}

CONFORMANCE_TEST("orm Prefetch: nested through the queryset's prefetch_related and through a path") {
    All tables(ctx);
    auto s = seed();
    Capture cap;
    auto scribes = Scribe::objects
                       .prefetch_related(Prefetch("tomes", Tome::objects.filter("pages__gte", 250).prefetch_related(
                                                               Prefetch("critiques", Critique::objects.order_by("-stars"))),
                                                  &Scribe::long_tomes))
                       .list();
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{3});
    const Tome& a2 = scribes[0].long_tomes.at(0);
    std::vector<std::int32_t> stars;
    for (const auto& c : a2.critiques.all()) stars.push_back(c.stars);
    CT_CHECK_EQ(stars, (std::vector<std::int32_t>{4, 2}));
    CT_CHECK_EQ(scribes[1].long_tomes.at(0).critiques.all().size(), std::size_t{1});
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{3});  // no lazy loads
    // A path: the queryset applies to its last level.
    cap.clear();
    auto by_path = Scribe::objects.prefetch_related(Prefetch("tomes__critiques", Critique::objects.filter("stars__gte", 3))).list();
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{3});
    for (const auto& t : by_path[0].tomes.all())
        if (t.id == s.t2) CT_CHECK_EQ(t.critiques.all().size(), std::size_t{1});
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{3});
}

CONFORMANCE_TEST("orm Prefetch: bad querysets and to_attr members are FieldErrors naming what is wrong") {
    All tables(ctx);
    seed();
    CT_CHECK_THROWS_WITH(Scribe::objects.prefetch_related(Prefetch("tomes", Genre::objects.all())).list(),
                         orm::FieldError, "the queryset reads", "Genre rows", "leads to", "Tome");
    CT_CHECK_THROWS_WITH(Tome::objects.prefetch_related(Prefetch("critiques", &Scribe::long_tomes)).list(),
                         orm::FieldError, "to_attr member belongs to", "Scribe", "starts on");
    CT_CHECK_THROWS_WITH(Scribe::objects.prefetch_related(Prefetch("tomes", &Scribe::long_tomes),
                                                          Prefetch("tomes", Tome::objects.all(), &Scribe::long_tomes)),
                         orm::FieldError, "fill the same member of");
    CT_CHECK_THROWS_WITH(Scribe::objects.prefetch_related("tomes", Prefetch("tomes", Tome::objects.filter("pages", 1))).list(),
                         orm::FieldError, "'tomes' lookup was already seen with a different queryset");
    CT_CHECK_THROWS_AS(Scribe::objects.prefetch_related(Prefetch("tomes", Tome::objects.all().slice(0, 1))), orm::NotSupportedError);
    CT_CHECK_THROWS_WITH(Scribe::objects.prefetch_related(Prefetch("nope", Tome::objects.all())).list(), orm::FieldError,
                         "Cannot find 'nope' on", "Choices are: id, name, tomes");
}
