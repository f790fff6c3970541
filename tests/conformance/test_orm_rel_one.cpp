// ORM conformance, the reverse side of a one-to-one (orm::RelatedOne): lazy access (one SELECT on
// first access, cached, "none" cached too, DoesNotExist, unsaved owners), on the owner's
// database, select_related (LEFT JOIN, nested) and prefetch_related (one IN statement, none over
// an empty result) with exact statement counts, concurrent access from fibers in async mode, and
// declarations that are not one-to-one (refused for their own model only; lookups keep working).
#include <cstdint>

#include <fmt/ranges.h>

#include "drivers/bridge/bridge.hpp"
#include "tests/conformance/test_rel_models.hpp"
#include "tests/conformance/two_databases.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::rel_models;

namespace weft::conformance::rel_one_models {

// Dog::kennel is a plain foreign key, so Kennel's RelatedOne named after its reverse ("dogs",
// many rows) is a bad declaration; Pen's names no relation at all.
struct Dog;
struct Kennel : orm::Model<Kennel> {
    std::int64_t id = 0;
    std::string name;
    orm::RelatedOne<Dog> dogs;
    static void describe(orm::Meta<Kennel>& m);
};
struct Dog : orm::Model<Dog> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<Kennel> kennel;
    static void describe(orm::Meta<Dog>& m) {
        m.table("weft_ct_rel_dog");
        m.field(&Dog::id, "id").primary_key();
        m.field(&Dog::name, "name").max_length(40);
        m.field(&Dog::kennel, "kennel").on_delete(orm::OnDelete::cascade).related_name("dogs");
    }
};
inline void Kennel::describe(orm::Meta<Kennel>& m) {
    m.table("weft_ct_rel_kennel");
    m.field(&Kennel::id, "id").primary_key();
    m.field(&Kennel::name, "name").max_length(40);
    m.field(&Kennel::dogs, "dogs");
}
struct Pen : orm::Model<Pen> {
    std::int64_t id = 0;
    orm::RelatedOne<Dog> dog;
    static void describe(orm::Meta<Pen>& m) {
        m.table("weft_ct_rel_pen");
        m.field(&Pen::id, "id").primary_key();
        m.field(&Pen::dog, "dog");
    }
};

}  // namespace weft::conformance::rel_one_models

namespace {

using Strings = std::vector<std::string>;

std::string bio_or_dash(const Author& a) {
    const Profile* p = a.profile.get_or_null();
    return p ? p->bio : "-";
}

// Each author's bio ("-" for none), checking that eager loading left every profile loaded.
Strings loaded_bios(Context& ctx, const std::vector<Author>& authors) {
    Strings bios;
    for (const auto& a : authors) {
        CT_CHECK(a.profile.is_loaded());
        bios.push_back(bio_or_dash(a));
    }
    return bios;
}

}  // namespace

CONFORMANCE_TEST("orm RelatedOne: lazy access runs one SELECT on first access and caches the object or 'none'") {
    Library tables(ctx);
    auto s = seed_library();
    Capture cap;
    auto authors = Author::objects.order_by("name").list();  // Ann (profile), Bob, Cid, Dee (none)
    CT_REQUIRE(authors.size() == 4);
    CT_CHECK_SELECTS(cap, 1);
    for (const auto& a : authors) CT_CHECK(!a.profile.is_loaded());

    cap.clear();
    const Author& ann = authors[0];
    CT_CHECK_EQ(ann.profile->bio, std::string("writes about fibers"));
    CT_CHECK_SELECTS(cap, 1);
    CT_CHECK_EQ(cap.params().at(0), (std::vector<Value>{Value(s.ann.id)}));  // by the owner's key
    CT_CHECK_EQ(cap.aliases().at(0), std::string("default"));
    CT_CHECK(ann.profile.is_loaded());
    CT_CHECK_EQ((*ann.profile).bio, std::string("writes about fibers"));
    CT_CHECK_EQ(ann.profile.get().author.id(), std::optional<std::int64_t>(s.ann.id));
    CT_CHECK(ann.profile.exists());
    CT_CHECK(ann.profile.get_or_null() == &ann.profile.get());
    CT_CHECK_EQ(std::string(ann.profile->db()), std::string("default"));
    CT_CHECK_SELECTS(cap, 1);  // cached

    // No row points at Bob: get_or_null() is nullptr, get() throws Profile::DoesNotExist; the
    // answer is cached as well.
    cap.clear();
    const Author& bob = authors[1];
    CT_CHECK(bob.profile.get_or_null() == nullptr);
    CT_CHECK_SELECTS(cap, 1);
    CT_CHECK(bob.profile.is_loaded());
    CT_CHECK(!bob.profile.exists());
    CT_CHECK_THROWS_AS(bob.profile.get(), Profile::DoesNotExist);
    CT_CHECK_THROWS_AS((void)bob.profile->bio, ObjectDoesNotExist);
    CT_CHECK_THROWS_WITH(*bob.profile, Profile::DoesNotExist, "Author(id=");
    CT_CHECK_THROWS_WITH(*bob.profile, Profile::DoesNotExist, "has no profile");
    CT_CHECK_SELECTS(cap, 1);
    // get() without a previous get_or_null(): one query, then the error.
    cap.clear();
    CT_CHECK_THROWS_AS(authors[2].profile.get(), Profile::DoesNotExist);
    CT_CHECK_THROWS_AS(authors[2].profile.get(), Profile::DoesNotExist);
    CT_CHECK_SELECTS(cap, 1);

    // Copies share what is cached; objects from get() work the same.
    cap.clear();
    Author copy = ann;
    CT_CHECK(copy.profile.is_loaded());
    CT_CHECK_EQ(copy.profile->bio, std::string("writes about fibers"));
    CT_CHECK_SELECTS(cap, 0);
    CT_CHECK_EQ(Author::objects.get("name", "Ann").profile->bio, std::string("writes about fibers"));
    CT_CHECK_SELECTS(cap, 2);

    // A profile made later: the cached "none" stays until reset() (as Django's cache does).
    cap.clear();
    Profile::objects.create({.author = s.bob, .bio = "reviews databases"});
    CT_CHECK(bob.profile.get_or_null() == nullptr);
    Author& bob_mut = authors[1];
    bob_mut.profile.reset();
    CT_CHECK(!bob_mut.profile.is_loaded());
    CT_CHECK_EQ(bob_mut.profile->bio, std::string("reviews databases"));
    CT_CHECK_SELECTS(cap, 1);

    // The owner must be saved; once it is, access works.
    Author fresh{.name = "Eve", .born = 2001};
    CT_CHECK_THROWS_WITH(fresh.profile.get(), InterfaceError, "not saved");
    CT_CHECK_THROWS_AS(fresh.profile.get_or_null(), InterfaceError);
    fresh.save();
    CT_CHECK(fresh.profile.get_or_null() == nullptr);
    Profile::objects.create({.author = fresh, .bio = "new"});
    fresh.profile.reset();
    CT_CHECK_EQ(fresh.profile->bio, std::string("new"));
    // Lookups across the relation work as before.
    CT_CHECK_EQ(names_of(Author::objects.filter("profile__isnull", false).order_by("name")),
                (Strings{"Ann", "Bob", "Eve"}));
}

CONFORMANCE_TEST("orm RelatedOne: select_related is one LEFT JOIN that caches the object or 'none', nested too") {
    Library tables(ctx);
    auto s = seed_library();
    Capture cap;
    auto authors = Author::objects.select_related("profile").order_by("name").list();
    CT_CHECK_SELECTS(cap, 1);
    CT_CHECK(cap.sql().at(0).find("LEFT OUTER JOIN") != std::string::npos);
    CT_REQUIRE(authors.size() == 4);  // authors without a profile stay
    CT_CHECK_EQ(loaded_bios(ctx, authors), (Strings{"writes about fibers", "-", "-", "-"}));
    CT_CHECK_THROWS_AS(authors[3].profile.get(), Profile::DoesNotExist);
    CT_CHECK_EQ(authors[0].profile->author.id(), std::optional<std::int64_t>(s.ann.id));
    CT_CHECK_EQ(std::string(authors[0].profile->db()), std::string("default"));
    CT_CHECK_SELECTS(cap, 1);

    // get() by key (the manager's compiled path and a chained queryset's), first(), filters.
    cap.clear();
    auto bob = Author::objects.select_related("profile").get("pk", s.bob.id);
    CT_CHECK(bob.profile.is_loaded());
    CT_CHECK(bob.profile.get_or_null() == nullptr);
    auto ann = Author::objects.select_related("profile").get("pk", s.ann.id);
    CT_CHECK_EQ(ann.profile->bio, std::string("writes about fibers"));
    auto ann2 = Author::objects.filter("born__lt", 1975).select_related("profile").get("pk", s.ann.id);
    CT_CHECK_EQ(ann2.profile->bio, std::string("writes about fibers"));
    auto first = Author::objects.select_related("profile").order_by("-born").first();  // Dee
    CT_REQUIRE(first.has_value());
    CT_CHECK(first->profile.is_loaded() && first->profile.get_or_null() == nullptr);
    auto with_bio = Author::objects.select_related("profile").filter("profile__bio__contains", "fibers").list();
    CT_REQUIRE(with_bio.size() == 1);
    CT_CHECK_EQ(with_bio[0].profile->bio, std::string("writes about fibers"));
    CT_CHECK_SELECTS(cap, 5);

    // Together with a forward key, and nested: book -> author -> profile, profile -> author.
    cap.clear();
    auto both = Author::objects.select_related("publisher", "profile").order_by("name").list();
    CT_CHECK_EQ(both[0].publisher->name, std::string("Penguin"));
    CT_CHECK_EQ(both[0].profile->bio, std::string("writes about fibers"));
    CT_CHECK(both[2].publisher.get_or_null() == nullptr && both[2].profile.get_or_null() == nullptr);  // Cid
    CT_CHECK_SELECTS(cap, 1);
    cap.clear();
    auto books = Book::objects.select_related("author__profile").order_by("id").list();
    CT_REQUIRE(books.size() == 5);
    Strings per_book;
    for (const auto& b : books) {
        CT_CHECK(b.author.is_loaded() && b.author->profile.is_loaded());
        per_book.push_back(bio_or_dash(*b.author));
    }
    CT_CHECK_EQ(per_book, (Strings{"writes about fibers", "writes about fibers", "-", "-", "-"}));
    CT_CHECK_SELECTS(cap, 1);
    cap.clear();
    auto round = Author::objects.select_related("profile__author__publisher").get("name", "Ann");
    CT_CHECK_EQ(round.profile->author->name, std::string("Ann"));
    CT_CHECK_EQ(round.profile->author->publisher->name, std::string("Penguin"));
    auto none_deeper = Author::objects.select_related("profile__author").get("name", "Bob");
    CT_CHECK(none_deeper.profile.get_or_null() == nullptr);
    CT_CHECK_SELECTS(cap, 2);

    // Counting and values ignore it; a misspelt name lists the choices, the reverse one-to-one included.
    CT_CHECK_EQ(Author::objects.select_related("profile").count(), std::int64_t{4});
    CT_CHECK_THROWS_WITH(Author::objects.select_related("profil").list(), FieldError, "profile");
    CT_CHECK_THROWS_WITH(Author::objects.select_related("profil").list(), FieldError, "publisher");
    CT_CHECK_THROWS_AS(Author::objects.select_related("books").list(), FieldError);  // many rows
    CT_CHECK_THROWS_AS(Author::objects.select_related("profile__bio").list(), FieldError);
}

CONFORMANCE_TEST("orm RelatedOne: prefetch_related is one IN statement that caches the object or 'none'") {
    Library tables(ctx);
    auto s = seed_library();
    Capture cap;
    auto authors = Author::objects.order_by("name").prefetch_related("profile").list();
    CT_CHECK_SELECTS(cap, 2);
    // One list of keys: IN (...) on SQLite, = ANY($1::bigint[]) on PostgreSQL.
    CT_CHECK(cap.sql().at(1).find(" IN (") != std::string::npos || cap.sql().at(1).find(" = ANY(") != std::string::npos);
    CT_CHECK_EQ(cap.params().at(1).size(), std::size_t{1});
    CT_REQUIRE(authors.size() == 4);
    CT_CHECK_EQ(loaded_bios(ctx, authors), (Strings{"writes about fibers", "-", "-", "-"}));
    CT_CHECK_THROWS_AS(authors[1].profile.get(), Profile::DoesNotExist);
    CT_CHECK_EQ(authors[0].profile->author.id(), std::optional<std::int64_t>(s.ann.id));
    CT_CHECK_SELECTS(cap, 2);

    // Owners of which none has a row: every one caches "none" from the one statement.
    cap.clear();
    auto without = Author::objects.filter("name__in", Operand(std::vector<Value>{"Bob", "Dee"}))
                       .prefetch_related("profile")
                       .list();
    CT_REQUIRE(without.size() == 2);
    for (const auto& a : without) CT_CHECK(a.profile.is_loaded() && a.profile.get_or_null() == nullptr);
    CT_CHECK_SELECTS(cap, 2);

    // An empty result: no extra statement; none(): no statement at all.
    cap.clear();
    CT_CHECK(Author::objects.filter("name", "nobody").prefetch_related("profile").list().empty());
    CT_CHECK_SELECTS(cap, 1);
    cap.clear();
    CT_CHECK(Author::objects.none().prefetch_related("profile").list().empty());
    CT_CHECK_SELECTS(cap, 0);

    // Nested, from both sides, and with select_related; get() prefetches too.
    cap.clear();
    auto books = Book::objects.order_by("id").prefetch_related("author__profile").list();
    CT_CHECK_SELECTS(cap, 3);
    Strings per_book;
    for (const auto& b : books) per_book.push_back(bio_or_dash(*b.author));
    CT_CHECK_EQ(per_book, (Strings{"writes about fibers", "writes about fibers", "-", "-", "-"}));
    CT_CHECK_SELECTS(cap, 3);
    cap.clear();
    auto tour = Author::objects.order_by("name").prefetch_related("profile__author__books").list();
    CT_CHECK_SELECTS(cap, 4);
    CT_CHECK_EQ(tour[0].profile->author->books.count(), std::int64_t{2});
    CT_CHECK_SELECTS(cap, 4);
    cap.clear();
    auto mixed = Author::objects.select_related("publisher").prefetch_related("profile").order_by("name").list();
    CT_CHECK_EQ(mixed[0].publisher->name, std::string("Penguin"));
    CT_CHECK_EQ(mixed[0].profile->bio, std::string("writes about fibers"));
    CT_CHECK(mixed[1].profile.get_or_null() == nullptr);
    CT_CHECK_SELECTS(cap, 2);
    cap.clear();
    auto ann = Author::objects.prefetch_related("profile").get("pk", s.ann.id);
    CT_CHECK(ann.profile.is_loaded());
    CT_CHECK_EQ(ann.profile->bio, std::string("writes about fibers"));
    CT_CHECK_SELECTS(cap, 2);

    CT_CHECK_THROWS_WITH(Author::objects.prefetch_related("profil").list(), FieldError, "profile");
}

CONFORMANCE_TEST("orm RelatedOne: lazy access from concurrent fibers in async mode") {
    require_async();
    Library tables(ctx);
    std::vector<Author> authors;
    for (int i = 0; i < 16; ++i) {
        authors.push_back(Author::objects.create({.name = fmt::format("author {:02}", i), .born = 1900 + i}));
        if (i % 2 == 0) Profile::objects.create({.author = authors.back(), .bio = fmt::format("bio {:02}", i)});
    }

    Capture cap;
    // Each fiber loads its own author, then touches author.profile (a lazy load inside the fiber).
    std::vector<Task<std::string>> tasks;
    for (int i = 0; i < 16; ++i) {
        tasks.push_back(orm::spawn(fmt::format("one-{}", i), [id = authors[static_cast<std::size_t>(i)].id] {
            Author a = Author::objects.get("pk", id);
            if (a.profile.is_loaded()) throw std::runtime_error("loaded before access");
            const Profile* p = a.profile.get_or_null();
            orm::yield_now();
            if (a.profile.get_or_null() != p) throw std::runtime_error("the cache changed");  // no second query
            return fmt::format("{}:{}", a.name, p ? p->bio : "-");
        }));
    }
    for (int i = 0; i < 16; ++i)
        CT_CHECK_EQ(tasks[static_cast<std::size_t>(i)].get(),
                    fmt::format("author {:02}:{}", i, i % 2 == 0 ? fmt::format("bio {:02}", i) : "-"));
    CT_CHECK_SELECTS(cap, 32);

    // One object touched from 8 fibers at once: each fiber's first access starts a query before
    // any has finished, and all of them get a reference to the same cached object (the first
    // answer stays), still the one cached afterwards. The same for a foreign key.
    cap.clear();
    Author shared = Author::objects.get("pk", authors[4].id);
    Book book = Book::objects.create({.title = "shared", .author = shared});
    book = Book::objects.get("pk", book.id);
    auto address = [](const void* p) { return fmt::format("{}", p); };
    std::vector<Task<std::string>> same;
    for (int i = 0; i < 8; ++i) {
        same.push_back(orm::spawn([&shared, &address] {
            const Profile& p = *shared.profile;
            orm::yield_now();
            return address(&p) + ":" + p.bio;
        }));
    }
    std::vector<Task<std::string>> same_fk;
    for (int i = 0; i < 8; ++i) {
        same_fk.push_back(orm::spawn([&book, &address] {
            const Author& a = *book.author;
            orm::yield_now();
            return address(&a) + ":" + a.name;
        }));
    }
    std::vector<std::string> got, got_fk;
    for (auto& t : same) got.push_back(t.get());
    for (auto& t : same_fk) got_fk.push_back(t.get());
    CT_CHECK_EQ(got, std::vector<std::string>(8, address(&*shared.profile) + ":bio 04"));
    CT_CHECK_EQ(got_fk, std::vector<std::string>(8, address(&*book.author) + ":author 04"));
    const std::size_t n = cap.count("SELECT");
    CT_CHECK(n >= 4 && n <= 18);  // the author and the book, then at most one load of each per fiber
}

CONFORMANCE_TEST("orm RelatedOne: loads from the database its owner came from") {
    TwoDatabases<Publisher, Author, Profile> dbs(ctx);
    // The same author on both databases; only "other" has her profile.
    Author::objects.create({.name = "Ann", .born = 1970});
    auto there = Author::objects.using_db("other").create({.name = "Ann", .born = 1970});
    Profile::objects.using_db("other").create({.author = there, .bio = "on the other database"});

    Capture cap;
    auto ann = Author::objects.using_db("other").get("name", "Ann");
    CT_CHECK_EQ(ann.profile->bio, std::string("on the other database"));
    CT_CHECK_EQ(std::string(ann.profile->db()), std::string("other"));
    CT_CHECK_EQ(cap.aliases(), (Strings{"other", "other"}));
    CT_CHECK(Author::objects.get("name", "Ann").profile.get_or_null() == nullptr);  // "default" has none

    cap.clear();
    auto joined = Author::objects.using_db("other").select_related("profile").get("name", "Ann");
    CT_CHECK_EQ(joined.profile->bio, std::string("on the other database"));
    auto fetched = Author::objects.using_db("other").prefetch_related("profile").list();
    CT_REQUIRE(fetched.size() == 1);
    CT_CHECK_EQ(fetched[0].profile->bio, std::string("on the other database"));
    CT_CHECK_EQ(cap.aliases(), (Strings{"other", "other", "other"}));
}

CONFORMANCE_TEST("orm RelatedOne, bad input: a member that is not the reverse of a one-to-one is refused for its model") {
    using rel_one_models::Dog;
    using rel_one_models::Kennel;
    using rel_one_models::Pen;
    Tables<Kennel, Dog, Pen> tables(ctx);
    // The message names the model, the member, what the relation is and what is valid.
    CT_CHECK_THROWS_WITH(model_info<Kennel>().check_members(), InterfaceError, "model weft::conformance::rel_one_models::Kennel");
    CT_CHECK_THROWS_WITH(model_info<Kennel>().check_members(), InterfaceError, "RelatedOne<weft::conformance::rel_one_models::Dog> member 'dogs'");
    CT_CHECK_THROWS_WITH(model_info<Kennel>().check_members(), InterfaceError, "reverse of the foreign key");
    CT_CHECK_THROWS_WITH(model_info<Kennel>().check_members(), InterfaceError, "orm::RelatedSet<");
    CT_CHECK_THROWS_WITH(model_info<Kennel>().check_members(), InterfaceError, "an orm::OneToOne");
    CT_CHECK_THROWS_WITH(model_info<Pen>().check_members(), InterfaceError, "member 'dog' matches no relation");
    CT_CHECK_THROWS_WITH(model_info<Pen>().check_members(), InterfaceError, "one-to-one relations pointing at");

    // Saving is refused before any SQL; loading objects is refused too.
    Capture cap;
    CT_CHECK_THROWS_WITH(Kennel::objects.create({.name = "k"}), InterfaceError, "'dogs'");
    Kennel k{.name = "k"};
    CT_CHECK_THROWS_AS(k.save(), InterfaceError);
    std::vector<Kennel> many{{.name = "a"}, {.name = "b"}};
    CT_CHECK_THROWS_AS(Kennel::objects.bulk_create(many), InterfaceError);
    CT_CHECK_EQ(cap.size(), std::size_t{0});
    {
        auto conn = orm::database("default").acquire();
        conn->execute("INSERT INTO weft_ct_rel_kennel (name) VALUES ('k')");
    }
    CT_CHECK_THROWS_WITH(Kennel::objects.all().list(), InterfaceError, "RelatedOne");

    // Lookups through the relation, counts and values keep working; so do the other models.
    std::int64_t kennel_id = Kennel::objects.all().values_list("id", orm::flat).at(0).as_int64();
    Dog::objects.create({.name = "Rex", .kennel = kennel_id});
    CT_CHECK_EQ(Kennel::objects.filter("dogs__name", "Rex").count(), std::int64_t{1});
    CT_CHECK_EQ(Dog::objects.filter("kennel__name", "k").count(), std::int64_t{1});
    CT_CHECK_EQ(Dog::objects.select_related("kennel").count(), std::int64_t{1});
    model_info<Dog>().check_members();
    model_info<Author>().check_members();
}
