// Conformance: orm::PrimaryReplicaRouter against a real hot standby (issue 16, item 7). Needs
// --replica-url (a standby streaming from --url; scripts/test starts one) and a backend with
// replication positions (Dialect::wal_replay_position_sql); skipped otherwise.
//
// Replication lag is made deterministic by pausing replay on the standby (pg_wal_replay_pause(),
// PostgreSQL's, the only backend that reaches these tests): a write then stays invisible on the
// replica until replay resumes, which is exactly the window read-your-writes must cover.
#include <algorithm>

#include "drivers/bridge/join_all.hpp"
#include "orm/replica_router.hpp"
#include "tests/conformance/replica.hpp"
#include "tests/conformance/test_orm_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;
using namespace std::chrono_literals;

namespace weft::conformance {

std::string& replica_url() {
    static std::string url;
    return url;
}

}  // namespace weft::conformance

namespace {

std::int64_t position(std::string_view alias, bool replay) {
    auto& db = orm::database(alias);
    auto c = db.acquire();
    auto sql = replay ? db.dialect().wal_replay_position_sql() : db.dialect().wal_write_position_sql();
    return c->execute(sql).scalar<std::int64_t>().value_or(-1);
}

std::int64_t count_on(std::string_view alias) {
    return orm::database(alias).acquire()->execute(
        "SELECT COUNT(*) FROM " + orm::database(alias).dialect().quote_name("weft_ct_orm_author")).scalar<std::int64_t>().value_or(-1);
}

// The primary "default" (ctx.url()), the standby "replica", the Author table, and a router.
class PrimaryAndReplica {
public:
    explicit PrimaryAndReplica(Context& ctx, ReplicaRouterOptions options = {})
        : ctx_(ctx), tables_(check(ctx)) {
        orm::connect(replica_url(), "replica");
        auto probe = orm::database("replica").acquire();
        if (probe->execute(orm::database("replica").dialect().wal_replay_position_sql()).scalar<std::int64_t>() ==
            std::nullopt)
            throw Skip{"--replica-url is not a standby (it replays no WAL)"};
        probe.release();
        CT_REQUIRE(caught_up());  // the table exists on the replica too
        router = std::make_shared<PrimaryReplicaRouter>(std::move(options));
        orm::set_routers({router});
    }
    ~PrimaryAndReplica() {
        orm::clear_routers();
        try {
            resume();
        } catch (...) {
        }
        orm::disconnect("replica");
    }
    PrimaryAndReplica(const PrimaryAndReplica&) = delete;
    PrimaryAndReplica& operator=(const PrimaryAndReplica&) = delete;

    // Waits (up to 20 s) until the replica has replayed everything the primary wrote so far.
    bool caught_up() {
        const std::int64_t target = position("default", false);
        for (auto until = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < until;) {
            if (position("replica", true) >= target) return true;
            orm::sleep_for(5ms);
        }
        return false;
    }
    // Stops replay on the standby (and waits until it has stopped): the replica lags from here.
    void pause() {
        auto& ctx = ctx_;
        auto c = orm::database("replica").acquire();
        c->execute("SELECT pg_catalog.pg_wal_replay_pause()");
        paused_ = true;
        for (int i = 0; i < 2000; ++i) {
            if (c->execute("SELECT pg_catalog.pg_get_wal_replay_pause_state()").scalar<std::string>() ==
                std::optional<std::string>("paused"))
                return;
            orm::sleep_for(5ms);
        }
        CT_FAIL_AT("the standby did not pause replay within 10 s");
    }
    void resume() {
        if (!paused_) return;
        orm::database("replica").acquire()->execute("SELECT pg_catalog.pg_wal_replay_resume()");
        paused_ = false;
    }

    std::shared_ptr<PrimaryReplicaRouter> router;

private:
    static Context& check(Context& ctx) {
        if (replica_url().empty()) throw Skip{"needs a hot standby of --url: pass --replica-url"};
        if (ctx.db().dialect().wal_replay_position_sql().empty())
            throw Skip{"needs a backend with replication positions (Dialect::wal_replay_position_sql)"};
        return ctx;
    }
    Context& ctx_;
    Tables<Author> tables_;
    bool paused_ = false;
};

std::size_t on(const std::vector<std::string>& aliases, std::string_view alias) {
    return static_cast<std::size_t>(std::count(aliases.begin(), aliases.end(), alias));
}

}  // namespace

CONFORMANCE_TEST("replica router: reads go to the replica and writes to the primary") {
    PrimaryAndReplica pr(ctx);
    Capture cap;
    Author::objects.create({.name = "ann"});
    Author::objects.filter("name", "ann").update({{"email", "ann@x"}});
    CT_CHECK_EQ(cap.aliases(), (std::vector<std::string>{"default", "default"}));
    CT_REQUIRE(pr.caught_up());
    // A fiber that never wrote reads the replica, which has the row by now.
    cap.clear();
    auto reader = orm::spawn("reader", [] { return Author::objects.get("name", "ann").email; });
    CT_CHECK(reader.get() == std::optional<std::string>("ann@x"));
    CT_CHECK_EQ(Author::objects.using_db("default").count(), std::int64_t{1});  // explicit alias wins
    CT_CHECK_EQ(cap.aliases(), (std::vector<std::string>{"replica", "default"}));
    CT_CHECK(pr.router->stats().replica_reads >= 1);
    CT_CHECK(pr.router->stats().writes >= 2);
}

CONFORMANCE_TEST("replica router: after a write the writer reads the primary until the replica replayed it") {
    PrimaryAndReplica pr(ctx);
    pr.pause();
    Capture cap;
    Author::objects.create({.name = "mine"});
    CT_CHECK(pr.router->pinned());
    // The writer sees its write at once: its read goes to the primary.
    CT_CHECK_EQ(Author::objects.filter("name", "mine").count(), std::int64_t{1});
    CT_CHECK_EQ(cap.aliases(), (std::vector<std::string>{"default", "default"}));
    CT_CHECK(pr.router->pinned());
    CT_CHECK(pr.router->stats().pinned_reads >= 1);
    // Another fiber is not pinned: it reads the replica, where the write has not arrived (the lag
    // every reader but the writer sees).
    cap.clear();
    auto other = orm::spawn("other", [] { return Author::objects.filter("name", "mine").count(); });
    CT_CHECK_EQ(other.get(), std::int64_t{0});
    CT_CHECK_EQ(cap.aliases(), (std::vector<std::string>{"replica"}));
    CT_CHECK_EQ(count_on("replica"), std::int64_t{0});
    // Once the replica has replayed the write, the writer's reads go back to it and the pin is gone.
    pr.resume();
    CT_REQUIRE(pr.caught_up());
    cap.clear();
    const auto unpins = pr.router->stats().unpins;
    CT_CHECK_EQ(Author::objects.filter("name", "mine").count(), std::int64_t{1});
    CT_CHECK_EQ(cap.aliases(), (std::vector<std::string>{"replica"}));
    CT_CHECK(!pr.router->pinned());
    CT_CHECK_EQ(pr.router->stats().unpins, unpins + 1);
}

CONFORMANCE_TEST("replica router: each of 16 fibers reads its own write while the replica lags; non-writers read the replica") {
    PrimaryAndReplica pr(ctx);
    pr.pause();
    Capture cap;
    std::vector<Task<std::int64_t>> tasks;
    for (int i = 0; i < 16; ++i)
        tasks.push_back(orm::spawn(fmt::format("fiber-{}", i), [i, &pr] {
            if (i % 2 == 0) {
                Author::objects.create({.name = fmt::format("w{}", i)});
                orm::yield_now();  // the others run between the write and the read
                if (!pr.router->pinned()) return std::int64_t{-100};
                return Author::objects.filter("name", fmt::format("w{}", i)).count();
            }
            orm::yield_now();
            if (pr.router->pinned()) return std::int64_t{-200};
            return Author::objects.count();  // the replica: none of the writes yet
        }));
    auto got = orm::join_all(tasks);
    for (int i = 0; i < 16; ++i) CT_CHECK_EQ(got[std::size_t(i)], std::int64_t{i % 2 == 0 ? 1 : 0});
    const auto aliases = cap.aliases();
    // 8 inserts and 8 reads of their writers on the primary, 8 reads on the replica.
    CT_CHECK_EQ(on(aliases, "default"), std::size_t{16});
    CT_CHECK_EQ(on(aliases, "replica"), std::size_t{8});
    pr.resume();
    CT_REQUIRE(pr.caught_up());
    CT_CHECK_EQ(Author::objects.count(), std::int64_t{8});  // this fiber never wrote: the replica
}

CONFORMANCE_TEST("replica router: inside a transaction on the primary every read goes there; writes in it pin after") {
    PrimaryAndReplica pr(ctx);
    Capture cap;
    orm::atomic([&] {
        CT_CHECK_EQ(Author::objects.count(), std::int64_t{0});  // no write yet, still the primary
        Author::objects.create({.name = "tx"});
        CT_CHECK_EQ(Author::objects.count(), std::int64_t{1});  // its own uncommitted row
    });
    // Two reads and the insert (and BEGIN / COMMIT), all on the primary.
    CT_CHECK_EQ(cap.count("SELECT"), std::size_t{2});
    CT_CHECK_EQ(cap.count("INSERT"), std::size_t{1});
    CT_CHECK_EQ(on(cap.aliases(), "default"), cap.size());
    CT_CHECK(pr.router->stats().transaction_reads >= 2);
    CT_CHECK(pr.router->pinned());  // the committed write pins reads after the transaction
    cap.clear();
    CT_CHECK_EQ(Author::objects.filter("name", "tx").count(), std::int64_t{1});
    // Read-only transactions pin nothing: a fiber that only read goes back to the replica.
    CT_REQUIRE(pr.caught_up());
    auto other = orm::spawn("reader", [] {
        orm::atomic([] { (void)Author::objects.count(); });
        return Author::objects.count();
    });
    CT_CHECK_EQ(other.get(), std::int64_t{1});
    const auto aliases = cap.aliases();
    CT_CHECK_EQ(aliases.back(), std::string("replica"));
}

CONFORMANCE_TEST("replica router: a write that reaches the replica is a ReadOnlyError (SQLSTATE 25006)") {
    PrimaryAndReplica pr(ctx);
    CT_CHECK_THROWS_AS(Author::objects.using_db("replica").create({.name = "nope"}), ReadOnlyError);
    try {
        Author::objects.using_db("replica").create({.name = "nope"});
    } catch (const ReadOnlyError& e) {
        CT_CHECK_EQ(e.sqlstate(), std::string("25006"));
        CT_CHECK(std::string(e.what()).find("read-only") != std::string::npos);
    }
    auto c = orm::database("replica").acquire();
    CT_CHECK_THROWS_AS(c->execute("CREATE TABLE weft_ct_never (x int)"), ReadOnlyError);
    // The connection stays usable for reads: the error is the statement's, not the session's.
    CT_CHECK_EQ(c->execute("SELECT 1").scalar<std::int64_t>(), std::optional<std::int64_t>(1));
    c.release();
    CT_CHECK_EQ(count_on("default"), std::int64_t{0});
    // Tables are made on the primary only: allow_migrate refuses the replica.
    CT_CHECK(!orm::allow_migrate("replica", model_info<Author>()));
    CT_CHECK(orm::allow_migrate("default", model_info<Author>()));
}
