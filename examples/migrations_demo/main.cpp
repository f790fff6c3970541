// The migrations workflow on a small library of authors, books and tags (docs/migrations.md):
// the program registers its models and hands its command line to orm::manage, which provides
// makemigrations, migrate, showmigrations, sqlmigrate and check. Two commands of its own put
// rows in and show them, so that a migration can be seen to keep them.
//
//   migrations_demo [--db URL] [--async] COMMAND [options]
//     makemigrations | migrate | showmigrations | sqlmigrate | check   (orm::manage; --help lists options)
//     seed        inserts two authors, two tags and three books
//     list        prints every author and book, one per line (fields of version 2 on lines of their own)
//
// URL: --db, else $WEFT_DB, else sqlite://migrations-demo.db. --async runs the command in a
// fiber with orm::set_async(true). The migrations live in migrations/ (makemigrations writes
// there, relative to the working directory); migrations/migrations.cpp is compiled into this
// program: after makemigrations, rebuild, then migrate. Built with -DDEMO_VERSION=1 (or 2, the
// default) for the models before (or after) the change that migration 0002 describes.
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "models.hpp"
#include "orm/migrations.hpp"

namespace {

int seed() {
    orm::atomic([] {
#if DEMO_VERSION >= 2
        auto ursula = Author::objects.create({.full_name = "Ursula K. Le Guin", .country = "US"});
        auto stanislaw = Author::objects.create({.full_name = "Stanislaw Lem", .country = "PL"});
#else
        auto ursula = Author::objects.create({.name = "Ursula K. Le Guin"});
        auto stanislaw = Author::objects.create({.name = "Stanislaw Lem"});
#endif
        auto sf = Tag::objects.create({.label = "sf"});
        auto classic = Tag::objects.create({.label = "classic"});
        auto earthsea = Book::objects.create({.title = "A Wizard of Earthsea", .price = 9.5, .author = ursula});
        auto dispossessed = Book::objects.create({.title = "The Dispossessed", .price = 12.25, .author = ursula});
        auto solaris = Book::objects.create({.title = "Solaris", .price = 11, .author = stanislaw});
        earthsea.tags.add(classic);
        dispossessed.tags.add(std::vector<Tag>{sf, classic});
        solaris.tags.add(sf);
    });
    fmt::print("seeded: {} authors, {} books, {} tags\n", Author::objects.count(), Book::objects.count(),
               Tag::objects.count());
    return 0;
}

// One line per row; what version 2 adds is on indented lines of its own, so the lines of
// version 1 can be compared before and after a migration.
int list() {
    for (const Author& a : Author::objects.order_by("id")) {
        fmt::print("author {} {}\n", a.id, author_name(a));
#if DEMO_VERSION >= 2
        fmt::print("  country {}\n", a.country);
#endif
    }
    for (const Book& b : Book::objects.select_related("author").order_by("id")) {
        auto tags = b.tags.all().order_by("label").values_as<std::string>("label");
        fmt::print("book {} \"{}\" price={:.2f} author={} tags=[{}]\n", b.id, b.title, b.price, author_name(*b.author),
                   fmt::join(tags, ","));
#if DEMO_VERSION >= 2
        fmt::print("  pages {}\n", b.pages);
#endif
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string url = std::getenv("WEFT_DB") ? std::getenv("WEFT_DB") : "sqlite://migrations-demo.db";
    bool async = false;
    // --db and --async are this program's; the rest goes to orm::manage.
    std::vector<char*> args{argv[0]};
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--db" && i + 1 < argc) url = argv[++i];
        else if (a.rfind("--db=", 0) == 0) url = a.substr(5);
        else if (a == "--async") async = true;
        else args.push_back(argv[i]);
    }
    try {
        orm::connect(url);
        orm::register_models<Author, Tag, Book>();
        const std::string command = args.size() > 1 ? args[1] : "";
        auto body = [&]() -> int {
            if (command == "seed") return seed();
            if (command == "list") return list();
            return orm::manage(static_cast<int>(args.size()), args.data());
        };
        if (!async) return body();
        orm::set_async(true);
        return orm::run(body);
    } catch (const orm::Error& e) {
        fmt::print(stderr, "migrations_demo: {} (SQLSTATE '{}')\n", e.what(), e.sqlstate());
        return 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "migrations_demo: {}\n", e.what());
        return 1;
    }
}
