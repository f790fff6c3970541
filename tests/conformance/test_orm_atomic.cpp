// ORM conformance: atomic() (block and RAII forms, nesting as savepoints, on_commit hooks,
// failures inside a transaction) and the query log hook.
#include <stdexcept>

#include "tests/conformance/test_orm_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;

namespace {
struct Boom : std::runtime_error {
    Boom() : std::runtime_error("boom") {}
};
}  // namespace

CONFORMANCE_TEST("orm atomic: commit on return, rollback on exception (rethrown with its type)") {
    Tables<Author> tables(ctx);
    atomic([&] {
        Author::objects.create({.name = "Ann"});
        Author::objects.create({.name = "Bob"});
        CT_CHECK(in_atomic());
        CT_CHECK_EQ(Author::objects.count(), std::int64_t{2});  // the transaction sees its own rows
    });
    CT_CHECK(!in_atomic());
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{2});
    CT_CHECK_THROWS_AS(atomic([&] {
                           Author::objects.create({.name = "Cy"});
                           throw Boom();
                       }),
                       Boom);
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{2});
    CT_CHECK(!Author::objects.filter("name", "Cy").exists());
    // A value passes through.
    auto id = atomic([&] { return Author::objects.create({.name = "Dee"}).id; });
    CT_CHECK(Author::objects.filter("pk", id).exists());
}

CONFORMANCE_TEST("orm atomic: nested blocks are savepoints") {
    CT_REQUIRE_FEATURE(supports_savepoints);
    Tables<Author> tables(ctx);
    atomic([&] {
        Author::objects.create({.name = "outer-1"});
        try {
            atomic([&] {
                Author::objects.create({.name = "inner"});
                throw Boom();
            });
        } catch (const Boom&) {
        }
        atomic([&] { Author::objects.create({.name = "inner-kept"}); });
        Author::objects.create({.name = "outer-2"});
    });
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{3});
    CT_CHECK(!Author::objects.filter("name", "inner").exists());
    // An outer rollback takes the committed inner block with it.
    try {
        atomic([&] {
            atomic([&] { Author::objects.create({.name = "gone"}); });
            throw Boom();
        });
    } catch (const Boom&) {
    }
    CT_CHECK(!Author::objects.filter("name", "gone").exists());
}

CONFORMANCE_TEST("orm atomic: a failed statement rolls back; a savepoint lets the transaction go on") {
    CT_REQUIRE_FEATURE(supports_savepoints);
    Tables<Author> tables(ctx);
    CT_CHECK_THROWS_AS(atomic([&] {
                           Author::objects.create({.name = "Ann"});
                           Author::objects.create({.name = "Ann"});
                       }),
                       UniqueViolation);
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{0});
    atomic([&] {
        Author::objects.create({.name = "Ann"});
        try {
            atomic([&] { Author::objects.create({.name = "Ann"}); });
        } catch (const IntegrityError&) {
        }
        Author::objects.create({.name = "Bob"});  // the transaction is still usable (also on PostgreSQL)
    });
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{2});
}

CONFORMANCE_TEST("orm atomic: the RAII form commits on commit() and rolls back otherwise") {
    Tables<Author> tables(ctx);
    {
        Atomic tx;
        Author::objects.create({.name = "dropped"});
        CT_CHECK_EQ(tx.depth(), std::size_t{1});
    }
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{0});
    {
        Atomic tx;
        Author::objects.create({.name = "kept"});
        if (ctx.features().supports_savepoints) {
            Atomic inner;
            CT_CHECK_EQ(inner.depth(), std::size_t{2});
            Author::objects.create({.name = "inner dropped"});
            inner.rollback();
        }
        tx.commit();
        CT_CHECK_THROWS_AS(tx.commit(), InterfaceError);
    }
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{1});
    CT_CHECK(Author::objects.filter("name", "kept").exists());
}

CONFORMANCE_TEST("orm atomic: on_commit hooks run after the outermost commit, never after a rollback") {
    Tables<Author> tables(ctx);
    std::vector<std::string> ran;
    on_commit([&] { ran.push_back("now"); });  // no transaction: runs at once
    CT_CHECK_EQ(ran.size(), std::size_t{1});
    atomic([&] {
        Author::objects.create({.name = "Ann"});
        on_commit([&] {
            // The transaction is over and its connection back in the pool: the hook can query.
            ran.push_back(fmt::format("committed {}", Author::objects.count()));
        });
        if (ctx.features().supports_savepoints) {
            try {
                atomic([&] {
                    on_commit([&] { ran.push_back("inner rolled back"); });
                    throw Boom();
                });
            } catch (const Boom&) {
            }
            atomic([&] { on_commit([&] { ran.push_back("inner committed"); }); });
        }
        CT_CHECK_EQ(ran.size(), std::size_t{1});
    });
    try {
        atomic([&] {
            on_commit([&] { ran.push_back("rolled back"); });
            throw Boom();
        });
    } catch (const Boom&) {
    }
    std::vector<std::string> expected{"now", "committed 1"};
    if (ctx.features().supports_savepoints) expected.push_back("inner committed");
    CT_CHECK(ran == expected);
}

CONFORMANCE_TEST("orm atomic: the transaction is pinned to its caller; other connections do not see it") {
    ctx.require_multiple_connections();
    Tables<Author> tables(ctx);
    const std::string count_sql = "SELECT COUNT(*) FROM weft_ct_orm_author";
    atomic([&] {
        Author::objects.create({.name = "uncommitted"});
        CT_CHECK_EQ(Author::objects.count(), std::int64_t{1});
        CT_CHECK_EQ(ctx.conn().execute(count_sql).scalar<std::int64_t>().value_or(-1), std::int64_t{0});
    });
    CT_CHECK_EQ(ctx.conn().execute(count_sql).scalar<std::int64_t>().value_or(-1), std::int64_t{1});
}

CONFORMANCE_TEST("orm query log: statements with parameters, duration and alias; off when unset") {
    Tables<Author> tables(ctx);
    struct Event {
        std::string sql;
        std::vector<Value> params;
        std::string alias;
        bool failed;
        std::chrono::nanoseconds duration;
    };
    std::vector<Event> events;
    set_query_logger([&](const QueryEvent& e) {
        events.push_back({std::string(e.sql), {e.params.begin(), e.params.end()}, std::string(e.alias), e.failed, e.duration});
    });
    Author::objects.create({.name = "Ann", .email = "a@x"});
    CT_REQUIRE(events.size() == 1);
    CT_CHECK(events[0].sql.starts_with("INSERT INTO \"weft_ct_orm_author\""));
    CT_CHECK(events[0].params == (std::vector<Value>{Value("Ann"), Value("a@x")}));
    CT_CHECK_EQ(events[0].alias, std::string("default"));
    CT_CHECK(!events[0].failed);
    CT_CHECK(events[0].duration.count() >= 0);
    events.clear();
    CT_CHECK_THROWS_AS(Author::objects.create({.name = "Ann"}), IntegrityError);
    CT_REQUIRE(events.size() == 1);
    CT_CHECK(events[0].failed);
    events.clear();
    atomic([&] { (void)Author::objects.count(); });
    CT_REQUIRE(events.size() == 3);
    CT_CHECK_EQ(events[0].sql, orm::database().dialect().begin_sql());
    CT_CHECK(events[1].sql.starts_with("SELECT COUNT(*)"));
    CT_CHECK_EQ(events[2].sql, std::string("COMMIT"));
    events.clear();
    orm::connect(ctx.url(), "other");
    orm::create_tables<Setting>("other");
    CT_CHECK(!events.empty());
    for (const auto& e : events) CT_CHECK_EQ(e.alias, std::string("other"));
    orm::drop_tables<Setting>("other");
    orm::disconnect("other");
    set_query_logger({});
    events.clear();
    (void)Author::objects.count();
    CT_CHECK(events.empty());
}
