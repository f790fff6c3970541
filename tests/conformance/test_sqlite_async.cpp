// Conformance for issue 18 item 4 (async SQLite at sync speed): in async mode a SQLite query may
// start on the loop thread and, out of time or at a lock, be stopped and re-run on a worker;
// rows stream in batches. These tests hold on every backend and mode (the answers must not
// depend on where a statement ran); on SQLite in async mode they exercise each of those paths:
// repeated gets (the first run prepares on a worker, later ones run on the loop thread), a long
// query inside atomic() (stopped on the loop thread, re-run, the transaction untouched), and
// results far larger than a batch.
#include "drivers/bridge/bridge.hpp"
#include "orm/session.hpp"
#include "tests/conformance/test_orm_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;

namespace {

std::string counting_sql(std::int64_t n) {
    return fmt::format("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {}) "
                       "SELECT COUNT(*) FROM c",
                       n);
}

}  // namespace

CONFORMANCE_TEST("async sqlite: repeated gets and lists give the same answers wherever they run") {
    Tables<Author, Book> tables(ctx);
    std::vector<Author> authors;
    for (int i = 0; i < 20; ++i) authors.push_back(Author::objects.create({.name = fmt::format("a{:02}", i)}));
    for (int round = 0; round < 3; ++round) {
        for (const Author& a : authors) {
            Author got = Author::objects.get("pk", a.id);
            CT_CHECK_EQ(got.name, a.name);
            CT_CHECK(!got.email.has_value());
        }
        CT_CHECK_THROWS_AS(Author::objects.get("pk", std::int64_t{-1}), Author::DoesNotExist);
        auto listed = Author::objects.filter("name__gte", "a10").order_by("name").list();
        CT_REQUIRE(listed.size() == 10);
        CT_CHECK_EQ(listed.front().name, std::string("a10"));
        CT_CHECK_EQ(listed.back().name, std::string("a19"));
    }
}

CONFORMANCE_TEST("async sqlite: a long query inside atomic() leaves the transaction and its writes alone") {
    Tables<Author> tables(ctx);
    const std::string sql = counting_sql(1'000'000);
    auto count = [&] {  // on the transaction's connection when inside atomic()
        orm::detail::Lease lease("default");
        return lease.execute(sql, {}).scalar<std::int64_t>().value_or(-1);
    };
    CT_CHECK_EQ(count(), std::int64_t{1'000'000});  // prepared
    atomic([&] {
        Author::objects.create({.name = "before"});
        CT_CHECK_EQ(count(), std::int64_t{1'000'000});
        Author::objects.create({.name = "after"});
    });
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{2});
    CT_CHECK_EQ(Author::objects.filter("name", "before").count(), std::int64_t{1});
    // And a rollback still undoes everything, the long query in between included.
    try {
        atomic([&] {
            Author::objects.create({.name = "gone"});
            CT_CHECK_EQ(count(), std::int64_t{1'000'000});
            throw std::runtime_error("roll back");
        });
    } catch (const std::runtime_error&) {
    }
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{2});
}

CONFORMANCE_TEST("async sqlite: results larger than a batch arrive whole, in order, once; iterator() too") {
    Tables<Author, Book> tables(ctx);
    std::vector<Book> books;
    for (int i = 0; i < 5000; ++i) books.push_back({.title = fmt::format("b{:05}", i), .pages = i});
    Book::objects.bulk_create(books);
    for (int round = 0; round < 2; ++round) {
        auto all = Book::objects.order_by("pages").list();
        CT_REQUIRE(all.size() == 5000);
        bool in_order = true;
        for (std::size_t i = 0; i < all.size(); ++i) in_order = in_order && all[i].pages == static_cast<int>(i);
        CT_CHECK(in_order);
        std::int64_t n = 0, sum = 0;
        for (const Book& b : Book::objects.filter("pages__gte", 100).iterator(1500)) {
            ++n;
            sum += b.pages;
        }
        CT_CHECK_EQ(n, std::int64_t{4900});
        CT_CHECK_EQ(sum, std::int64_t{(100 + 4999) * 4900 / 2});
    }
    // A raw result read part-way, the mode flipped, the rest read: nothing lost or repeated.
    orm::detail::Lease lease("default");
    const bool was_async = orm::is_async();
    auto r = lease.execute("SELECT pages FROM weft_ct_orm_book ORDER BY pages", {});
    std::int64_t next = 0;
    bool ok = true;
    for (int i = 0; i < 2000 && r.next(); ++i) ok = ok && r.row().value(0).as_int64() == next++;
    orm::set_async(!was_async);
    while (r.next()) ok = ok && r.row().value(0).as_int64() == next++;
    orm::set_async(was_async);
    CT_CHECK(ok);
    CT_CHECK_EQ(next, std::int64_t{5000});
}
