// The README's quick tour, compiled so that the README stays true. Run: build/examples/quick_tour
#include <fmt/format.h>

#include "orm/orm.hpp"

struct Book : orm::Model<Book> {
    std::int64_t id = 0;                        // integer "id": the auto-increment primary key
    std::string title;
    double price = 0;
    std::optional<orm::Date> published;         // std::optional: NULL allowed

    static void describe(orm::Meta<Book>& m) {  // one declaration beside the struct
        m.table("book");
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(200).index();
        m.field(&Book::price, "price").default_value(0.0);
        m.field(&Book::published, "published");
    }
};

int main(int argc, char** argv) {
    orm::connect(argc > 1 ? argv[1] : "sqlite://weft-quick-tour.db");            // or "postgresql://me@localhost/app?pool_size=8"
    orm::create_tables<Book>();                 // creates what is missing

    auto b = Book::objects.create({.title = "Fibers", .price = 12.5});   // b.id is filled in
    b.price = 14;
    b.save();                                   // UPDATE by primary key

    auto cheap = Book::objects.filter("price__lt", 20)          // lazy: no SQL yet
                              .exclude("title__icontains", "draft")
                              .order_by("-price", "title").slice(0, 10);
    for (const Book& x : cheap) fmt::print("{} {}\n", x.title, x.price);   // one SELECT, then cached

    auto n = Book::objects.filter(orm::Q("price__gt", 5) | orm::col(&Book::title).startswith("F")).count();
    Book::objects.filter("price__lt", 5).update({{"price", orm::F("price") * 1.1}});
    auto avg = Book::objects.aggregate(orm::Avg("price"));

    orm::set_async(true);                       // the same calls, now nonblocking under fibers
    std::vector<orm::Task<std::int64_t>> tasks;
    for (int i = 0; i < 100; ++i)
        tasks.push_back(orm::spawn([] { return Book::objects.filter("price__gt", 10).count(); }));
    for (auto& t : tasks) t.get();              // joins; rethrows a fiber's exception with its type

    fmt::print("{} books, {} over 5 or starting with F, average price {:.2f}\n", Book::objects.count(), n,
               avg.as_double());
    orm::set_async(false);
    orm::drop_tables<Book>();
}
