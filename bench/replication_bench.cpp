// Replication and pooler benchmarks (issue 16): each row against its baseline in the same run.
//   replication_bench --pg PRIMARY_URL [--replica URL] [--pgbouncer URL] [--pgbouncer-session URL]
//                     [--rounds N] [--json FILE] [--quick]
// Rows:
//  - ORM point reads through orm::PrimaryReplicaRouter (they go to the hot standby) against the same
//    reads on the primary with no router;
//  - a write followed by a read of it through the router (read-your-writes: the read stays on the
//    primary and asks both servers for WAL positions) against the same on the primary alone;
//  - driver point selects through PgBouncer in transaction mode with unnamed statements
//    (transaction_pooling=on), through PgBouncer in session mode with named ones, and directly with
//    unnamed ones, each against direct connections with named (cached prepared) statements, on
//    one connection in sync mode (round-trip costs); and from 64 fibers on a pool of 8 in async
//    mode through PgBouncer in transaction mode against the same directly (throughput).
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench/bench_util.hpp"
#include "orm/orm.hpp"

using namespace weft::bench;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t table_rows = 10'000;

struct RItem : orm::Model<RItem> {
    std::int64_t id = 0;
    std::string name;
    double price = 0;
    static void describe(orm::Meta<RItem>& m) {
        m.table("bench_repl_item");
        m.field(&RItem::id, "id").primary_key();
        m.field(&RItem::name, "name");
        m.field(&RItem::price, "price");
    }
};

std::vector<std::int64_t> random_ids(std::size_t n) {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::int64_t> dist(1, table_rows);
    std::vector<std::int64_t> ids(n);
    for (auto& id : ids) id = dist(rng);
    return ids;
}

std::string with(const std::string& url, const std::string& options) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + options;
}

void wait_replayed(const std::string& primary, const std::string& replica) {
    auto pos = [](const std::string& alias, bool replay) {
        auto& db = orm::database(alias);
        auto sql = replay ? db.dialect().wal_replay_position_sql() : db.dialect().wal_write_position_sql();
        return db.acquire()->execute(sql).scalar<std::int64_t>().value_or(-1);
    };
    const auto target = pos(primary, false);
    for (int i = 0; i < 3000 && pos(replica, true) < target; ++i) std::this_thread::sleep_for(10ms);
}

void router_rows(const Args& a, const std::string& replica_url, std::vector<Comparison>& rows) {
    orm::connect(a.pg_url, "default");
    orm::connect(replica_url, "replica");
    orm::clear_routers();
    orm::drop_tables<RItem>();
    orm::create_tables<RItem>();
    {
        orm::Atomic tx;
        std::vector<RItem> items;
        for (std::int64_t i = 1; i <= table_rows; ++i) items.push_back({.id = i, .name = fmt::format("item {}", i), .price = double(i)});
        RItem::objects.bulk_create(items);
        tx.commit();
    }
    wait_replayed("default", "replica");
    auto router = std::make_shared<orm::PrimaryReplicaRouter>();
    bool routed = false;
    auto route = [&](bool on) {
        if (on == routed) return;
        if (on) orm::set_routers({router});
        else orm::clear_routers();
        routed = on;
    };
    const std::int64_t ops = a.quick ? 2'000 : 10'000;
    auto ids = random_ids(std::size_t(ops));
    double sink = 0;
    rows.push_back(compare(
        "ORM point read via replica router (standby)", "same read, primary only", 0.9, a.rounds, ops,
        [&](std::int64_t i) {
            route(true);
            sink += RItem::objects.get("pk", ids[std::size_t(i)]).price;
        },
        [&](std::int64_t i) {
            route(false);
            sink += RItem::objects.get("pk", ids[std::size_t(i)]).price;
        }));
    const std::int64_t wops = a.quick ? 300 : 2'000;
    rows.push_back(compare(
        "write + read-your-write via replica router", "same, primary only", 0.5, a.rounds, wops,
        [&](std::int64_t i) {
            route(true);
            const auto id = ids[std::size_t(i)];
            RItem::objects.filter("pk", id).update({{"price", double(i)}});
            sink += RItem::objects.get("pk", id).price;
        },
        [&](std::int64_t i) {
            route(false);
            const auto id = ids[std::size_t(i)];
            RItem::objects.filter("pk", id).update({{"price", double(i)}});
            sink += RItem::objects.get("pk", id).price;
        }));
    const auto s = router->stats();
    fmt::print("(router: {} replica reads, {} pinned reads, {} position queries, {} unpins; checksum {:.0f})\n",
               s.replica_reads, s.pinned_reads, s.position_queries, s.unpins, sink);
    orm::clear_routers();
    orm::drop_tables<RItem>();
    orm::disconnect("replica");
    orm::disconnect("default");
}

// Point selects on `ours` against the same on `theirs` (both URLs of the same data).
Comparison point_selects(const Args& a, std::string name, std::string baseline, const std::string& ours_url,
                         const std::string& theirs_url) {
    auto ours_db = orm::db::Database::open(ours_url);
    auto theirs_db = orm::db::Database::open(theirs_url);
    auto ours = ours_db->acquire();
    auto theirs = theirs_db->acquire();
    const std::string sql = "SELECT id, name, price FROM bench_repl_item WHERE id = $1";
    const std::int64_t ops = a.quick ? 2'000 : 10'000;
    auto ids = random_ids(std::size_t(ops));
    double sink = 0;
    auto run = [&](orm::db::Connection& c, std::int64_t i) {
        auto r = c.execute(sql, {ids[std::size_t(i)]});
        while (r.next()) sink += r.row().get<double>(2);
    };
    auto c = compare(std::move(name), std::move(baseline), 0.5, a.rounds, ops, [&](std::int64_t i) { run(*ours, i); },
                     [&](std::int64_t i) { run(*theirs, i); });
    if (sink < 0) fmt::print("{}\n", sink);
    return c;
}

// Point selects from 64 fibers sharing a pool of 8 (async mode), `ours` against `theirs`, in
// alternating rounds: the throughput a service gets, where the pooler's extra hop overlaps.
Comparison concurrent_selects(const Args& a, std::string name, std::string baseline, const std::string& ours_url,
                              const std::string& theirs_url) {
    orm::set_async(true);
    auto ours_db = orm::db::Database::open(with(ours_url, "pool_size=8"));
    auto theirs_db = orm::db::Database::open(with(theirs_url, "pool_size=8"));
    const std::string sql = "SELECT id, name, price FROM bench_repl_item WHERE id = $1";
    constexpr int fibers = 64;
    const std::int64_t ops = a.quick ? 6'400 : 32'000;
    auto ids = random_ids(std::size_t(ops));
    double sink = 0;
    auto round = [&](orm::db::Database& db) {
        const auto start = std::chrono::steady_clock::now();
        orm::run([&] {
            std::vector<orm::Task<void>> tasks;
            for (int f = 0; f < fibers; ++f)
                tasks.push_back(orm::spawn([&, f] {
                    for (std::int64_t i = f; i < ops; i += fibers) {
                        auto c = db.acquire();
                        auto r = c->execute(sql, {ids[std::size_t(i)]});
                        while (r.next()) sink += r.row().get<double>(2);
                    }
                }));
            orm::join_all(tasks);
        });
        return double(ops) / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    round(*ours_db);  // warm-up: opens the pools
    round(*theirs_db);
    std::vector<double> o, t;
    for (int r = 0; r < a.rounds; ++r) {
        o.push_back(round(*ours_db));
        t.push_back(round(*theirs_db));
    }
    orm::set_async(false);
    Comparison c;
    c.name = std::move(name);
    c.baseline = std::move(baseline);
    c.target = 0.5;
    c.ours.ops_per_sec = median(o);
    c.theirs.ops_per_sec = median(t);
    set_paired_ratio(c, o, t);
    if (sink < 0) fmt::print("{}\n", sink);
    return c;
}

void pooler_rows(const Args& a, const std::string& pgbouncer, const std::string& pgbouncer_session,
                 std::vector<Comparison>& rows) {
    {
        auto db = orm::db::Database::open(a.pg_url);
        auto c = db->acquire();
        c->execute_script("DROP TABLE IF EXISTS bench_repl_item; CREATE TABLE bench_repl_item (id bigint PRIMARY KEY, name text, price float8)");
        c->execute_script(fmt::format("INSERT INTO bench_repl_item SELECT i, 'item ' || i, i FROM generate_series(1, {}) i", table_rows));
    }
    const std::string direct_named = a.pg_url;
    rows.push_back(point_selects(a, "point select, direct, unnamed statements", "direct, named statements",
                                 with(a.pg_url, "transaction_pooling=on"), direct_named));
    if (!pgbouncer.empty())
        rows.push_back(point_selects(a, "point select, PgBouncer transaction mode, unnamed", "direct, named statements",
                                     with(pgbouncer, "transaction_pooling=on"), direct_named));
    if (!pgbouncer_session.empty())
        rows.push_back(point_selects(a, "point select, PgBouncer session mode, named", "direct, named statements",
                                     pgbouncer_session, direct_named));
    if (!pgbouncer.empty())
        rows.push_back(concurrent_selects(a, "64 fibers/pool 8, PgBouncer transaction, unnamed",
                                          "direct, named statements", with(pgbouncer, "transaction_pooling=on"),
                                          direct_named));
    auto db = orm::db::Database::open(a.pg_url);
    db->acquire()->execute_script("DROP TABLE bench_repl_item");
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    std::string replica, pgbouncer, pgbouncer_session;
    auto extra = [&](const std::string& flag, const std::function<std::string()>& next) {
        if (flag == "--replica") replica = next();
        else if (flag == "--pgbouncer") pgbouncer = next();
        else if (flag == "--pgbouncer-session") pgbouncer_session = next();
        else return false;
        return true;
    };
    if (!parse_args(argc, argv, a,
                    "replication_bench --pg PRIMARY_URL [--replica URL] [--pgbouncer URL] [--pgbouncer-session URL] "
                    "[--rounds N] [--json FILE] [--quick]",
                    extra) ||
        a.pg_url.empty())
        return 2;
    std::vector<Comparison> rows;
    try {
        if (!replica.empty()) router_rows(a, replica, rows);
        pooler_rows(a, pgbouncer, pgbouncer_session, rows);
    } catch (const std::exception& e) {
        fmt::print(stderr, "replication_bench: {}\n", e.what());
        return 1;
    }
    print_table(rows);
    if (!a.json.empty()) write_json(a.json, rows);
    return 0;
}
