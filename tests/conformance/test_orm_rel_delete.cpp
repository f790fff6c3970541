// ORM conformance, deleting related rows: the deletion collector's on_delete behaviours (cascade
// chains, self references, set_null, protect, restrict, do_nothing), qs.remove() with cascades,
// many-to-many join rows; and bad input around relations (keys to missing rows, unsaved objects,
// lookups through non-relations or unknown relations).
#include <algorithm>

#include <fmt/ranges.h>

#include "tests/conformance/test_rel_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::rel_models;

namespace {
using Strings = std::vector<std::string>;

// "Novel(id=3)", or the same after a namespace ("ns::Novel(id=3)": the type's qualified name).
bool contains(const std::vector<std::string>& v, const std::string& x) {
    return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s == x || s.ends_with("::" + x); });
}
// The names a FieldError lists after "Choices are: " (up to a ';' or ')' or the end).
Strings choices_listed(const std::string& m) {
    Strings out;
    std::size_t start = m.find("Choices are: ");
    if (start == std::string::npos) return out;
    start += 13;
    const std::size_t end = std::min(m.find_first_of(";)", start), m.size());
    while (start < end) {
        const std::size_t comma = std::min(m.find(", ", start), end);
        out.push_back(m.substr(start, comma - start));
        start = comma + 2;
    }
    return out;
}
}  // namespace

// The FieldError message `m` must say `what`, list every name of `in` among its choices and
// none of `out`.
#define CT_CHECK_CHOICES(m, what, in, out)                                                                       \
    do {                                                                                                         \
        const std::string ct_m_ = (m);                                                                           \
        const Strings ct_listed_ = choices_listed(ct_m_);                                                        \
        if (ct_m_.find(what) == std::string::npos)                                                               \
            CT_FAIL_AT(fmt::format("FieldError '{}' should say '{}'", ct_m_, what));                             \
        for (const auto& ct_n_ : (in))                                                                           \
            if (std::find(ct_listed_.begin(), ct_listed_.end(), ct_n_) == ct_listed_.end())                      \
                CT_FAIL_AT(fmt::format("FieldError '{}' should list '{}' among its choices", ct_m_, ct_n_));     \
        for (const auto& ct_n_ : (out))                                                                          \
            if (std::find(ct_listed_.begin(), ct_listed_.end(), ct_n_) != ct_listed_.end())                      \
                CT_FAIL_AT(fmt::format("FieldError '{}' should not list '{}' (not valid there)", ct_m_, ct_n_)); \
    } while (0)

// The error's objects() must name `x`; the failure shows what it named instead.
#define CT_CHECK_CONTAINS(objects, x)                                                                   \
    do {                                                                                                \
        const auto& ct_v_ = (objects);                                                                  \
        const std::string ct_x_ = (x);                                                                  \
        if (!contains(ct_v_, ct_x_)) CT_FAIL_AT(fmt::format("objects() [{}] lacks {}", fmt::join(ct_v_, ", "), ct_x_)); \
    } while (0)

CONFORMANCE_TEST("orm on_delete cascade: a chain of three models, by object and by queryset") {
    Tables<Country, Region, City, Monument> tables(ctx);
    auto a = Country::objects.create({.name = "A"});
    auto b = Country::objects.create({.name = "B"});
    auto r1 = Region::objects.create({.name = "r1", .country = a});
    auto r2 = Region::objects.create({.name = "r2", .country = a});
    auto r3 = Region::objects.create({.name = "r3", .country = b});
    City::objects.create({.name = "x1", .region = r1});
    City::objects.create({.name = "x2", .region = r1});
    City::objects.create({.name = "x3", .region = r2});
    City::objects.create({.name = "x4", .region = r3});
    Capture cap;
    const std::int64_t deleted = a.remove();
    CT_CHECK(deleted >= 1);
    CT_CHECK(!orm::in_atomic());
    CT_CHECK_EQ(names_of(Country::objects.all()), (Strings{"B"}));
    CT_CHECK_EQ(names_of(Region::objects.all()), (Strings{"r3"}));
    CT_CHECK_EQ(names_of(City::objects.all()), (Strings{"x4"}));
    CT_CHECK(cap.count("DELETE") >= 3);  // the collector deletes each model's rows itself
    // By queryset.
    auto c = Country::objects.create({.name = "C"});
    auto r4 = Region::objects.create({.name = "r4", .country = c});
    City::objects.create({.name = "x5", .region = r4});
    CT_CHECK(Country::objects.filter("name__in", {"B", "C"}).remove() >= 2);
    CT_CHECK_EQ(Country::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Region::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(City::objects.count(), std::int64_t{0});
    // A queryset over the middle of the chain.
    auto d = Country::objects.create({.name = "D"});
    auto r5 = Region::objects.create({.name = "r5", .country = d});
    auto r6 = Region::objects.create({.name = "r6", .country = d});
    City::objects.create({.name = "x6", .region = r5});
    City::objects.create({.name = "x7", .region = r6});
    Region::objects.filter("cities__name", "x6").remove();
    CT_CHECK_EQ(names_of(Region::objects.all()), (Strings{"r6"}));
    CT_CHECK_EQ(names_of(City::objects.all()), (Strings{"x7"}));
    CT_CHECK_EQ(Country::objects.count(), std::int64_t{1});
}

CONFORMANCE_TEST("orm on_delete cascade: a self-referencing tree deletes the whole subtree") {
    Tables<Category> tables(ctx);
    auto root = Category::objects.create({.name = "root"});
    auto other = Category::objects.create({.name = "other"});
    auto a = Category::objects.create({.name = "a", .parent = root});
    auto a1 = Category::objects.create({.name = "a1", .parent = a});
    Category::objects.create({.name = "a1x", .parent = a1});
    Category::objects.create({.name = "b", .parent = root});
    Category::objects.create({.name = "o1", .parent = other});
    root.remove();
    CT_CHECK_EQ(names_of(Category::objects.order_by("name")), (Strings{"o1", "other"}));
}

CONFORMANCE_TEST("orm on_delete set_null and cascade together; join rows go with their rows") {
    Library tables(ctx);
    auto s = seed_library();
    // set_null: the publisher's authors stay, without a publisher.
    s.tor.remove();
    CT_CHECK(!Author::objects.get("name", "Bob").publisher.has_value());
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{4});
    // Bob wrote b3, b4 (cascade) and edits b1 (set_null); b3 has a review (cascade from the book)
    // and tags (join rows).
    s.bob.remove();
    CT_CHECK_EQ(titles_of(Book::objects.order_by("id")), (Strings{"Fibers in Practice", "Pools & Deadlines", "Zero"}));
    CT_CHECK(!Book::objects.get("pk", s.b1.id).editor.has_value());
    CT_CHECK_EQ(Review::objects.count(), std::int64_t{2});  // b1's two
    CT_CHECK_EQ(Tag::objects.count(), std::int64_t{4});     // tags stay
    CT_CHECK_EQ(titles_of(s.db.books.all()), (Strings{"Pools & Deadlines"}));
    CT_CHECK_EQ(titles_of(s.async.books.all()), (Strings{"Fibers in Practice"}));
    // Deleting a tag removes its links, not the books.
    s.async.remove();
    CT_CHECK_EQ(names_of(Tag::objects.filter("books__title", "Fibers in Practice")), (Strings{"cpp"}));
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{3});
    // Deleting a book removes its links, not the tags.
    Book b1 = Book::objects.get("pk", s.b1.id);
    b1.remove();
    CT_CHECK_EQ(s.cpp.books.count(), std::int64_t{0});
    CT_CHECK_EQ(Tag::objects.count(), std::int64_t{3});
    // One-to-one cascade: Ann's profile goes with her.
    s.ann.remove();
    CT_CHECK_EQ(Profile::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(titles_of(Book::objects.all()), (Strings{"Zero"}));
}

CONFORMANCE_TEST("orm qs.remove() with cascades across several models") {
    Library tables(ctx);
    auto s = seed_library();
    const std::int64_t n = Author::objects.filter("name__in", {"Ann", "Bob"}).remove();
    CT_CHECK(n >= 2);
    CT_CHECK_EQ(names_of(Author::objects.order_by("name")), (Strings{"Cid", "Dee"}));
    CT_CHECK_EQ(titles_of(Book::objects.all()), (Strings{"Zero"}));
    CT_CHECK_EQ(Review::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Profile::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Tag::objects.count(), std::int64_t{4});
    CT_CHECK_EQ(Tag::objects.filter("books__isnull", false).count(), std::int64_t{0});  // no join rows left
    CT_CHECK_EQ(Publisher::objects.count(), std::int64_t{2});
    // A queryset filtered through a relation.
    Book::objects.filter("author__name", "Cid").remove();
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{2});
    // Nothing matched: nothing deleted.
    CT_CHECK_EQ(Author::objects.filter("name", "nobody").remove(), std::int64_t{0});
    (void)s;
}

CONFORMANCE_TEST("orm on_delete protect: ProtectedError names the objects, nothing is deleted, the session stays usable") {
    Tables<Genre, Novel> tables(ctx);
    auto sf = Genre::objects.create({.name = "sf"});
    auto poetry = Genre::objects.create({.name = "poetry"});
    auto n1 = Novel::objects.create({.title = "Dune", .genre = sf});
    auto n2 = Novel::objects.create({.title = "Solaris", .genre = sf});
    try {
        sf.remove();
        CT_FAIL_AT("removing a protected genre did not throw");
    } catch (const ProtectedError& e) {
        CT_CHECK_CONTAINS(e.objects(), fmt::format("Novel(id={})", n1.id));
        CT_CHECK_CONTAINS(e.objects(), fmt::format("Novel(id={})", n2.id));
        CT_CHECK_EQ(e.objects().size(), std::size_t{2});
        CT_CHECK(std::string_view(e.what()).find(fmt::format("Novel(id={})", n1.id)) != std::string_view::npos);
        CT_CHECK(std::string_view(e.what()).find("Genre") != std::string_view::npos);
    }
    CT_CHECK(!orm::in_atomic());
    CT_CHECK_EQ(Genre::objects.count(), std::int64_t{2});
    CT_CHECK_EQ(Novel::objects.count(), std::int64_t{2});
    CT_CHECK(sf.id > 0);  // the object keeps its key
    // It is an IntegrityError too; by queryset the same.
    CT_CHECK_THROWS_AS(Genre::objects.all().remove(), IntegrityError);
    CT_CHECK_EQ(Genre::objects.count(), std::int64_t{2});
    // Inside a transaction: the transaction goes on (no failed statement poisoned it).
    {
        Atomic tx;
        Genre::objects.create({.name = "tmp"});
        CT_CHECK_THROWS_AS(sf.remove(), ProtectedError);
        CT_CHECK_EQ(Genre::objects.count(), std::int64_t{3});
        tx.commit();
    }
    CT_CHECK_EQ(Genre::objects.count(), std::int64_t{3});
    // atomic() rolls back its own work when the error leaves it.
    CT_CHECK_THROWS_AS(orm::atomic([&] {
                           Genre::objects.create({.name = "rolled back"});
                           sf.remove();
                       }),
                       ProtectedError);
    CT_CHECK_EQ(Genre::objects.filter("name", "rolled back").count(), std::int64_t{0});
    // Unprotected rows delete; once the novels move, so does the genre.
    CT_CHECK(poetry.remove() >= 1);
    Novel::objects.filter("genre", sf).remove();
    CT_CHECK(sf.remove() >= 1);
    CT_CHECK_EQ(names_of(Genre::objects.all()), (Strings{"tmp"}));
}

CONFORMANCE_TEST("orm on_delete protect reached through a cascade refuses the whole delete") {
    Tables<Country, Region, City, Monument> tables(ctx);
    auto a = Country::objects.create({.name = "A"});
    auto r = Region::objects.create({.name = "r", .country = a});
    auto x = City::objects.create({.name = "x", .region = r});
    auto m = Monument::objects.create({.name = "tower", .city = x});
    try {
        a.remove();
        CT_FAIL_AT("the cascade reached a protected city and did not throw");
    } catch (const ProtectedError& e) {
        CT_CHECK_CONTAINS(e.objects(), fmt::format("Monument(id={})", m.id));
    }
    CT_CHECK_EQ(Country::objects.count(), std::int64_t{1});
    CT_CHECK_EQ(Region::objects.count(), std::int64_t{1});
    CT_CHECK_EQ(City::objects.count(), std::int64_t{1});
    CT_CHECK_EQ(Monument::objects.count(), std::int64_t{1});
    m.remove();
    a.remove();
    CT_CHECK_EQ(City::objects.count(), std::int64_t{0});
}

CONFORMANCE_TEST("orm on_delete restrict: refused unless the same delete cascades to the referencing rows") {
    Tables<Artist, Album, Song> tables(ctx);
    auto artist = Artist::objects.create({.name = "Nina"});
    auto album = Album::objects.create({.name = "Pastel Blues", .artist = artist});
    auto song = Song::objects.create({.name = "Sinnerman", .artist = artist, .album = album});
    try {
        album.remove();
        CT_FAIL_AT("removing a restricted album did not throw");
    } catch (const RestrictedError& e) {
        CT_CHECK_CONTAINS(e.objects(), fmt::format("Song(id={})", song.id));
    }
    CT_CHECK_EQ(Album::objects.count(), std::int64_t{1});
    CT_CHECK_EQ(Song::objects.count(), std::int64_t{1});
    CT_CHECK_THROWS_AS(Album::objects.all().remove(), RestrictedError);
    CT_CHECK_THROWS_AS(Album::objects.all().remove(), IntegrityError);
    // Deleting the artist deletes the album and the song by cascade: allowed.
    artist.remove();
    CT_CHECK_EQ(Artist::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Album::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Song::objects.count(), std::int64_t{0});
    // A song on this artist's album by another artist is not reached by the cascade: refused.
    auto a2 = Artist::objects.create({.name = "A2"});
    auto a3 = Artist::objects.create({.name = "A3"});
    auto al2 = Album::objects.create({.name = "Split", .artist = a2});
    auto guest = Song::objects.create({.name = "Guest", .artist = a3, .album = al2});
    CT_CHECK_THROWS_AS(a2.remove(), RestrictedError);
    CT_CHECK_EQ(Artist::objects.count(), std::int64_t{2});
    CT_CHECK_EQ(Album::objects.count(), std::int64_t{1});
    // Both artists in one delete: every referencing row is cascaded, so it goes through.
    CT_CHECK(Artist::objects.all().remove() >= 2);
    CT_CHECK_EQ(Song::objects.count(), std::int64_t{0});
    CT_CHECK_EQ(Album::objects.count(), std::int64_t{0});
    (void)guest;
}

CONFORMANCE_TEST("orm on_delete do_nothing: the database's constraint decides") {
    Tables<Shelf, Slot> tables(ctx);
    auto full = Shelf::objects.create({.name = "full"});
    auto empty = Shelf::objects.create({.name = "empty"});
    Slot::objects.create({.position = 1, .shelf = full});
    CT_CHECK_THROWS_AS(full.remove(), IntegrityError);
    CT_CHECK(!orm::in_atomic());
    CT_CHECK_EQ(Shelf::objects.count(), std::int64_t{2});  // nothing deleted, and the next query works
    CT_CHECK_EQ(Slot::objects.count(), std::int64_t{1});
    CT_CHECK(empty.remove() >= 1);
    Slot::objects.all().remove();
    Shelf fresh = Shelf::objects.get("name", "full");
    CT_CHECK(fresh.remove() >= 1);
    CT_CHECK_EQ(Shelf::objects.count(), std::int64_t{0});
}

CONFORMANCE_TEST("orm relations, bad input: keys to missing rows are integrity errors; unsaved objects are refused") {
    Library tables(ctx);
    auto s = seed_library();
    CT_CHECK_THROWS_AS(Book::objects.create({.title = "ghost", .author = std::int64_t{987654}}), ForeignKeyViolation);
    Book b{.title = "ghost 2", .author = s.ann};
    b.editor = std::int64_t{987654};
    CT_CHECK_THROWS_AS(b.save(), ForeignKeyViolation);
    CT_CHECK_THROWS_AS(Book::objects.filter("pk", s.b1.id).update({{"author", std::int64_t{987654}}}), IntegrityError);
    CT_CHECK_THROWS_AS(s.b1.tags.add({Value(std::int64_t{987654})}), IntegrityError);
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{5});
    CT_CHECK_EQ(s.b1.tags.count(), std::int64_t{2});
    CT_CHECK_EQ(Book::objects.get("pk", s.b1.id).author->name, std::string("Ann"));
    // Inside a transaction the failed statement rolls back with it; afterwards all is usable.
    CT_CHECK_THROWS_AS(orm::atomic([&] {
                           Book::objects.create({.title = "kept?", .author = s.ann});
                           Book::objects.create({.title = "ghost 3", .author = std::int64_t{987654}});
                       }),
                       IntegrityError);
    CT_CHECK_EQ(Book::objects.filter("title", "kept?").count(), std::int64_t{0});
    // An unsaved object cannot be referred to; a non-null key left empty is a validation error
    // raised before any SQL.
    Author unsaved{.name = "Nobody"};
    CT_CHECK_THROWS_AS((Book{.title = "x", .author = unsaved}), ValidationError);
    Book c{.title = "no author"};
    CT_CHECK_THROWS_AS(c.author = unsaved, ValidationError);
    Capture cap;
    CT_CHECK_THROWS_AS(c.save(), ValidationError);
    CT_CHECK_EQ(cap.count("INSERT"), std::size_t{0});
    CT_CHECK_EQ(Book::objects.count(), std::int64_t{5});
}

CONFORMANCE_TEST("orm relations, bad input: lookups through non-relations or unknown relations are FieldErrors with choices") {
    Library tables(ctx);
    seed_library();
    // A plain field followed by a name that is not a lookup.
    CT_CHECK_THROWS_WITH(Book::objects.filter("title__name", "x").count(), FieldError, "name");
    CT_CHECK_THROWS_AS(Book::objects.filter("price__author__name", "x").count(), FieldError);
    // An unknown name behind a relation: the message names it and the relation as written (not
    // an internal column such as the target's key or a join table's column).
    auto message = [](auto&& fn) -> std::string {
        try {
            fn();
        } catch (const FieldError& e) {
            return e.what();
        } catch (const std::exception& e) {
            return fmt::format("(not a FieldError: {})", e.what());
        }
        return "(no FieldError)";
    };
    auto names_both = [&](const std::string& m, const char* a, const char* b) {
        if (m.find(a) == std::string::npos || m.find(b) == std::string::npos)
            CT_FAIL_AT(fmt::format("FieldError '{}' should name '{}' and the relation '{}'", m, a, b));
    };
    names_both(message([] { Book::objects.filter("author__nope", "x").count(); }), "nope", "author");
    names_both(message([] { Book::objects.filter("author__publisher__nope", "x").count(); }), "nope", "publisher");
    names_both(message([] { Author::objects.filter("books__nope", "x").count(); }), "nope", "books");
    names_both(message([] { Tag::objects.filter("books__auther__name", "x").count(); }), "auther", "books");
    names_both(message([] { Person::objects.filter("clubs__nope", "x").count(); }), "nope", "clubs");
    // An unknown relation: this model's choices, relations included.
    CT_CHECK_THROWS_WITH(Book::objects.filter("nope__name", "x").count(), FieldError, "author");
    CT_CHECK_THROWS_WITH(Book::objects.filter("nope__name", "x").count(), FieldError, "tags");
    CT_CHECK_THROWS_WITH(Author::objects.filter("bookz__title", "x").count(), FieldError, "books");
    // Everywhere a lookup path is taken.
    CT_CHECK_THROWS_AS(Book::objects.exclude("author__nope", "x").count(), FieldError);
    CT_CHECK_THROWS_AS(Book::objects.order_by("author__nope").list(), FieldError);
    CT_CHECK_THROWS_AS(Book::objects.order_by("-title__name").list(), FieldError);
    CT_CHECK_THROWS_AS(Book::objects.values("author__nope").list(), FieldError);
    CT_CHECK_THROWS_AS(Author::objects.annotate("n", Count("bookz")).list(), FieldError);
    CT_CHECK_THROWS_AS(Author::objects.aggregate(Sum("books__nope")), FieldError);
    CT_CHECK_THROWS_AS(Book::objects.filter("pages__gt", F("author__nope")).count(), FieldError);
    // A set member is not a column.
    CT_CHECK_THROWS_AS(Book::objects.filter("pk", 1).update({{"tags", 1}}), FieldError);

    // Through a field that is not a relation, every message lists what is valid where the path
    // went wrong: in filter() and exclude() the lookups of that field; in order_by(), values()
    // and F() the names of the model the field belongs to (Author's after "author__").
    const Strings lookups{"exact", "icontains", "in", "isnull", "startswith"};
    const Strings book_names{"author", "editor", "id", "pages", "price", "tags", "title"};
    const Strings author_names{"books", "born", "id", "name", "publisher"};
    auto strings = [](std::initializer_list<const char*> v) { return Strings(v.begin(), v.end()); };
    CT_CHECK_CHOICES(message([] { Book::objects.filter("title__name", "x").count(); }),
                     "Unsupported lookup 'name' for field title", lookups, strings({"author", "title"}));
    CT_CHECK_CHOICES(message([] { Book::objects.exclude("title__name", "x").count(); }),
                     "Unsupported lookup 'name' for field title", lookups, strings({"author", "title"}));
    CT_CHECK_CHOICES(message([] { Book::objects.filter("author__name__first", "x").count(); }),
                     "Unsupported lookup 'first' for field name", lookups, strings({"books", "name"}));
    CT_CHECK_CHOICES(message([] { Book::objects.exclude("price__author__name", "x").count(); }),
                     "'price' (a field of weft::conformance::rel_models::Book) is not a relation, so 'author' "
                     "cannot follow it, only a lookup",
                     strings({"exact", "gt", "lt"}), strings({"icontains", "author"}));
    CT_CHECK_CHOICES(message([] { Book::objects.order_by("title__name").list(); }),
                     "'title' (a field of weft::conformance::rel_models::Book) is not a relation, so 'name' "
                     "cannot follow it",
                     book_names, strings({"exact", "born"}));
    CT_CHECK_CHOICES(message([] { Book::objects.order_by("-author__name__first").list(); }),
                     "'name' (a field of weft::conformance::rel_models::Author) is not a relation, so 'first' "
                     "cannot follow it",
                     author_names, strings({"title", "exact"}));
    CT_CHECK_CHOICES(message([] { Book::objects.values("title__name").list(); }), "'title' (a field of", book_names,
                     strings({"born"}));
    CT_CHECK_CHOICES(message([] { Book::objects.values("author__name__first").list(); }), "'name' (a field of",
                     author_names, strings({"title"}));
    CT_CHECK_CHOICES(message([] { Book::objects.filter("pages__gt", F("title__name")).count(); }),
                     "'title' (a field of", book_names, strings({"born"}));
    // An unknown name after a relation: the names of the relation's model.
    CT_CHECK_CHOICES(message([] { Book::objects.filter("author__nope__name", "x").count(); }),
                     "'nope' is not a field or relation of weft::conformance::rel_models::Author (following 'author')",
                     author_names, strings({"title", "exact"}));
    CT_CHECK_CHOICES(message([] { Book::objects.order_by("author__nope").list(); }), "'nope' is not a field",
                     author_names, strings({"title", "tags"}));
    CT_CHECK_CHOICES(message([] { Book::objects.values("author__nope").list(); }), "'nope' is not a field",
                     author_names, strings({"title"}));
    CT_CHECK_CHOICES(message([] { Tag::objects.values("books__nope").list(); }), "'nope' is not a field", book_names,
                     strings({"born"}));
    // The connection is fine afterwards.
    CT_CHECK_EQ(Book::objects.filter("author__name", "Ann").count(), std::int64_t{2});
}
