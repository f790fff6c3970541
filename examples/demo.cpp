// A tour of weft's ORM on the embedded SQLite default: models declared in C++, tables, inserts,
// lazy querysets with Django's lookups, Q and F, aggregates, a transaction that rolls back,
// errors that say what was wrong, and then orm::set_async(true) with many fibers running the
// very same calls concurrently.
//   demo [URL]      (default: sqlite://weft-demo.db in the current directory)
#include <chrono>
#include <cstdio>
#include <vector>

#include <fmt/format.h>

#include "orm/orm.hpp"

using orm::Avg;
using orm::col;
using orm::Count;
using orm::F;
using orm::Max;
using orm::Q;
using orm::Sum;

struct Author : orm::Model<Author> {
    std::int64_t id = 0;
    std::string name;
    std::optional<std::string> email;

    static void describe(orm::Meta<Author>& m) {
        m.table("demo_author");
        m.field(&Author::id, "id").primary_key();
        m.field(&Author::name, "name").max_length(100).unique();
        m.field(&Author::email, "email");
    }
};

struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    double price = 0;
    std::optional<orm::Date> published;
    std::int64_t author_id = 0;  // a plain key until relations arrive

    static void describe(orm::Meta<Book>& m) {
        m.table("demo_book");
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200).index();
        m.field(&Book::price, "price").default_value(0.0);
        m.field(&Book::published, "published");
        m.field(&Book::author_id, "author_id").index();
    }
};

void relations_tour();  // examples/relations_demo.cpp

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

std::string show_date(const std::optional<orm::Date>& d) { return d ? orm::format_date(*d) : "(unpublished)"; }

// One "request": what a small web handler might do.
double request(int i) {
    auto cheap = Book::objects.filter("price__lt", 20 + i % 10).order_by("-price").slice(0, 5);
    double sum = 0;
    for (const Book& b : cheap) sum += b.price;
    sum += Book::objects.aggregate(Avg("price")).as_double();
    sum += static_cast<double>(Book::objects.filter(col(&Book::title).icontains("fiber")).count());
    return sum;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string url = argc > 1 ? argv[1] : "sqlite://weft-demo.db";
    try {
        auto& db = orm::connect(url);
        fmt::print("database: {} (backend {}, pool of {})\n", db.config().url, db.backend().name(),
                   db.config().pool.max_size);
        orm::drop_tables<Author, Book>();
        orm::create_tables<Author, Book>();
        fmt::print("tables created from the models: demo_author, demo_book\n");

        // --- inserts: create, save, bulk_create (keys come back through RETURNING or last insert id)
        auto ann = Author::objects.create({.name = "Ann", .email = "ann@example.com"});
        Author bob{.name = "Bob O'Brien"};
        bob.save();
        using std::chrono::year;
        std::vector<Book> books{
            {.title = "Fibers in Practice", .price = 12.5, .published = orm::Date(year(2021) / 3 / 1), .author_id = ann.id},
            {.title = "Pools & Deadlines", .price = 30.0, .author_id = ann.id},
            {.title = "L'été des requêtes", .price = 8.75, .published = orm::Date(year(2019) / 7 / 14), .author_id = bob.id},
            {.title = "100% Async_Fibers", .price = 19.0, .author_id = bob.id},
        };
        Book::objects.bulk_create(books);
        fmt::print("inserted authors {} and {}, and {} books (ids {}..{})\n", ann.id, bob.id, books.size(),
                   books.front().id, books.back().id);

        // --- lazy querysets: nothing runs until the loop
        auto cheap = Book::objects.filter("price__lt", 20).exclude("title__startswith", "L'").order_by("-price", "title");
        fmt::print("\nbooks under 20 not starting with L', dearest first:\n  SQL: {}\n", cheap.sql().text);
        for (const Book& b : cheap) fmt::print("  {:<22} {:>6.2f}  {}\n", b.title, b.price, show_date(b.published));

        fmt::print("\nlookups match literally: title__contains \"%\" finds {}; icontains \"FIBERS\" finds {}\n",
                   Book::objects.filter("title__contains", "%").count(),
                   Book::objects.filter("title__icontains", "FIBERS").count());
        auto either = Book::objects.filter(Q("price__gt", 25) | (col(&Book::title).startswith("F") & (col(&Book::price) < 15)));
        fmt::print("Q objects and typed columns: {} books are dear, or start with F and cost under 15\n", either.count());
        auto first = Book::objects.order_by("published").filter("published__isnull", false).first();
        fmt::print("first published: {} ({})\n", first->title, show_date(first->published));

        // --- aggregates and annotations
        auto stats = Book::objects.aggregate({Count(), Avg("price"), Max("price"), Sum("price")});
        fmt::print("\naggregate: {} books, average {:.2f}, dearest {:.2f}, total {:.2f}\n", stats["count"].as_int64(),
                   stats["price__avg"].as_double(), stats["price__max"].as_double(), stats["price__sum"].as_double());
        fmt::print("per author (GROUP BY):\n");
        for (const auto& row : Book::objects.values("author_id").annotate("books", Count("id")).annotate(Avg("price")).order_by("author_id")) {
            auto who = Author::objects.get("pk", row["author_id"]);
            fmt::print("  {:<12} {} books, average {:.2f}\n", who.name, row["books"].as_int64(), row["price__avg"].as_double());
        }
        auto raised = Book::objects.filter("price__lt", 10).update({{"price", F("price") * 1.1}});
        fmt::print("update with F: raised {} price(s) by 10%; titles of the cheapest two: ", raised);
        for (const auto& t : Book::objects.order_by("price").slice(0, 2).values_as<std::string>("title")) fmt::print("'{}' ", t);
        fmt::print("\n");

        // --- transactions
        fmt::print("\na transaction that fails half-way rolls back entirely:\n");
        orm::on_commit([] { fmt::print("  (on_commit outside a transaction runs at once)\n"); });
        try {
            orm::atomic([&] {
                orm::on_commit([] { fmt::print("  this hook never runs\n"); });
                Book::objects.create({.title = "Half Written", .price = 1.0, .author_id = bob.id});
                Author::objects.create({.name = "Ann"});  // duplicate name: unique violation
            });
        } catch (const orm::UniqueViolation& e) {
            fmt::print("  caught UniqueViolation (SQLSTATE {}): {}\n", e.sqlstate(), e.what());
        }
        fmt::print("  books now: {} ('Half Written' exists: {})\n", Book::objects.count(),
                   Book::objects.filter("title", "Half Written").exists());
        orm::atomic([&] {
            Book::objects.create({.title = "Kept", .price = 5.0, .author_id = ann.id});
            try {
                orm::atomic([&] {  // a savepoint
                    Book::objects.create({.title = "Dropped", .price = 5.0, .author_id = ann.id});
                    throw std::runtime_error("change of mind");
                });
            } catch (const std::runtime_error&) {
            }
            orm::on_commit([] { fmt::print("  on_commit: the outer transaction committed\n"); });
        });
        fmt::print("  nested: 'Kept' exists: {}, 'Dropped' exists: {}\n", Book::objects.filter("title", "Kept").exists(),
                   Book::objects.filter("title", "Dropped").exists());

        // --- errors that say what was wrong (and send no SQL)
        fmt::print("\nerrors say what was wrong:\n");
        try {
            (void)Book::objects.filter("titel__icontains", "x");
        } catch (const orm::FieldError& e) {
            fmt::print("  FieldError: {}\n", e.what());
        }
        try {
            (void)Book::objects.filter("price__startswith", "1");
        } catch (const orm::FieldError& e) {
            fmt::print("  FieldError: {}\n", e.what());
        }
        try {
            Author::objects.create({.name = std::string(101, 'x')});
        } catch (const orm::ValidationError& e) {
            fmt::print("  ValidationError: {}\n", e.what());
        }
        try {
            (void)Book::objects.get("title", "Missing");
        } catch (const Book::DoesNotExist& e) {
            fmt::print("  Book::DoesNotExist: {}\n", e.what());
        }

        // --- the query log
        std::size_t statements = 0;
        orm::set_query_logger([&](const orm::QueryEvent&) { ++statements; });
        auto t0 = Clock::now();
        constexpr int sync_requests = 2000;
        double checksum = 0;
        for (int i = 0; i < sync_requests; ++i) checksum += request(i);
        const double sync_ms = ms_since(t0);
        orm::set_query_logger({});
        fmt::print("\nsync mode: {} requests ({} statements) in {:.0f} ms: {:.0f} requests/s\n", sync_requests,
                   statements, sync_ms, sync_requests / sync_ms * 1000);

        // --- the same calls, async: many fibers at once on one thread
        orm::set_async(true);
        constexpr int fibers = 200, per_fiber = 10;
        t0 = Clock::now();
        double async_checksum = orm::run([&] {
            std::vector<orm::Task<double>> tasks;
            for (int f = 0; f < fibers; ++f)
                tasks.push_back(orm::spawn(fmt::format("request-{}", f), [f] {
                    double s = 0;
                    for (int k = 0; k < per_fiber; ++k) s += request(f * per_fiber + k);
                    return s;
                }));
            double total = 0;
            for (auto& t : tasks) total += t.get();
            return total;
        });
        const double async_ms = ms_since(t0);
        orm::set_async(false);
        fmt::print("async mode: {} fibers x {} requests in {:.0f} ms: {:.0f} requests/s (same results: {})\n", fibers,
                   per_fiber, async_ms, fibers * per_fiber / async_ms * 1000,
                   std::abs(async_checksum - checksum) < 1e-6 * std::abs(checksum) ? "yes" : "NO");
        fmt::print("  (SQLite has no async API: each call runs on a worker thread while its fiber waits, so the\n"
                   "   loop stays free; against PostgreSQL the fibers overlap their round trips)\n");

        orm::drop_tables<Author, Book>();
        relations_tour();
        fmt::print("done.\n");
    } catch (const orm::Error& e) {
        fmt::print(stderr, "demo failed: {} (SQLSTATE '{}')\n", e.what(), e.sqlstate());
        return 1;
    }
    return 0;
}
