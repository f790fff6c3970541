// ORM conformance in async mode: many fibers making ORM calls at once (queries, saves,
// transactions pinned to each fiber). Skipped in sync mode.
#include <atomic>

#include "drivers/bridge/bridge.hpp"
#include "drivers/bridge/join_all.hpp"
#include "tests/conformance/test_orm_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;

CONFORMANCE_TEST("orm fibers: many fibers run ORM calls concurrently") {
    require_async();
    Tables<Author, Book> tables(ctx);
    constexpr int fibers = 40;
    std::vector<Task<std::int64_t>> tasks;
    for (int i = 0; i < fibers; ++i) {
        tasks.push_back(orm::spawn(fmt::format("orm-{}", i), [i] {
            auto a = Author::objects.create({.name = fmt::format("author {}", i)});
            std::vector<Book> books;
            for (int k = 0; k < 5; ++k)
                books.push_back({.title = fmt::format("book {}-{}", i, k), .price = double(k), .author_id = a.id});
            Book::objects.bulk_create(books);
            atomic([&] {
                Book::objects.filter("author_id", a.id).update({{"price", F("price") + 1}});
                a.email = fmt::format("a{}@x", i);
                a.save();
            });
            auto same = Author::objects.get("name", a.name);
            if (same.email != a.email) throw std::runtime_error("lost update");
            return Book::objects.filter("author_id", a.id).aggregate(Sum("price")).as_double() > 0
                       ? Book::objects.filter("author_id", a.id).count()
                       : -1;
        }));
    }
    std::int64_t total = 0;
    for (auto n : orm::join_all(tasks)) total += n;
    CT_CHECK_EQ(total, std::int64_t{fibers * 5});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{fibers});
    CT_CHECK_EQ(Author::objects.filter("email__isnull", true).count(), std::int64_t{0});
    CT_CHECK_EQ(Book::objects.aggregate(Sum("price")), Value(double(fibers * (1 + 2 + 3 + 4 + 5))));
}

CONFORMANCE_TEST("orm fibers: each fiber's transaction is its own (pinned connection)") {
    require_async();
    ctx.require_multiple_connections();
    Tables<Author> tables(ctx);
    orm::Event inserted, checked;
    std::int64_t seen_by_other = -1;
    auto writer = orm::spawn("writer", [&] {
        Atomic tx;
        Author::objects.create({.name = "uncommitted"});
        inserted.set();
        checked.wait_until(orm::deadline_after(std::chrono::seconds(30)));
        tx.rollback();
    });
    auto reader = orm::spawn("reader", [&] {
        inserted.wait_until(orm::deadline_after(std::chrono::seconds(30)));
        CT_CHECK(!orm::in_atomic());
        seen_by_other = Author::objects.count();
        checked.set();
    });
    writer.get();
    reader.get();
    CT_CHECK_EQ(seen_by_other, std::int64_t{0});
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{0});
}

CONFORMANCE_TEST("orm fibers: chunked iteration and querysets interleave across fibers") {
    require_async();
    Tables<Author, Book> tables(ctx);
    std::vector<Book> books;
    for (int i = 0; i < 300; ++i) books.push_back({.title = fmt::format("b{:03}", i), .pages = i});
    Book::objects.bulk_create(books);
    std::vector<Task<std::int64_t>> tasks;
    for (int f = 0; f < 8; ++f) {
        tasks.push_back(orm::spawn([f] {
            std::int64_t sum = 0;
            for (const Book& b : Book::objects.filter("pages__gte", f).iterator(50)) sum += b.pages;
            return sum;
        }));
    }
    auto sums = orm::join_all(tasks);
    for (int f = 0; f < 8; ++f) {
        std::int64_t expected = 0;
        for (int i = f; i < 300; ++i) expected += i;
        CT_CHECK_EQ(sums[f], expected);
    }
}
