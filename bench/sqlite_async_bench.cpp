// Async SQLite against sync SQLite on the same file (issue 18, item 4), in the same run:
//  - ORM get by pk, one fiber, one pooled connection: async mode (short queries run on the loop
//    thread, see drivers/sqlite/sqlite_connection.hpp) against sync mode (target ratio >= 0.80);
//  - a 100-row list query, the same way (no target; shows the batch copy async mode makes);
//  - loop lag: the worst delay of a 1 ms ticker while 8 fibers run heavy SQLite queries in async
//    mode (target: under 5 ms).
//   sqlite_async_bench --sqlite PATH [--rounds N] [--json FILE] [--quick]
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/bench_util.hpp"
#include "drivers/database.hpp"
#include "drivers/sqlite/sqlite_connection.hpp"
#include "orm/orm.hpp"

using namespace weft::bench;
using namespace std::chrono;

struct AsyncItem : orm::Model<AsyncItem> {
    std::int64_t id = 0;
    std::string name;
    double price = 0;
    std::int32_t qty = 0;

    static void describe(orm::Meta<AsyncItem>& m) {
        m.table("bench_sqlite_async_item");
        m.field(&AsyncItem::id, "id").primary_key();
        m.field(&AsyncItem::name, "name");
        m.field(&AsyncItem::price, "price");
        m.field(&AsyncItem::qty, "qty").index();
    }
};

namespace {

constexpr std::int64_t table_rows = 10'000;

struct Sink {
    std::int64_t sum = 0;
};

// Ours runs in async mode, the baseline in sync mode, both on the root fiber of one loop; the
// mode is set at the first operation of each slice (a relaxed load per operation otherwise).
void in_async(bool on) {
    if (orm::is_async() != on) orm::set_async(on);
}

std::vector<Comparison> bench_orm(const Args& a, Sink& sink) {
    std::vector<Comparison> rows;
    orm::drop_tables<AsyncItem>();
    orm::create_tables<AsyncItem>();
    {
        std::vector<AsyncItem> items;
        for (std::int64_t i = 1; i <= table_rows; ++i)
            items.push_back({.name = fmt::format("item {}", i), .price = static_cast<double>(i % 1000) * 0.25,
                             .qty = static_cast<std::int32_t>(i % 100)});
        AsyncItem::objects.bulk_create(items);
    }
    const std::int64_t get_ops = a.quick ? 20'000 : 200'000;
    std::mt19937_64 rng(7);
    std::vector<std::int64_t> ids(static_cast<std::size_t>(get_ops));
    for (auto& id : ids) id = static_cast<std::int64_t>(rng() % table_rows) + 1;
    auto get = [&](std::int64_t i) {
        AsyncItem it = AsyncItem::objects.get("pk", ids[static_cast<std::size_t>(i)]);
        sink.sum += it.id + it.qty + static_cast<std::int64_t>(it.name.size());
    };
    orm::run([&] {
        rows.push_back(compare("orm get by pk, SQLite, async vs sync mode (one fiber)", "our sync mode, same file", 0.80,
                               a.rounds, get_ops,
                               [&](std::int64_t i) {
                                   in_async(true);
                                   get(i);
                               },
                               [&](std::int64_t i) {
                                   in_async(false);
                                   get(i);
                               }));
        const std::int64_t list_ops = a.quick ? 200 : 2'000;
        auto list = [&](std::int64_t i) {
            for (const AsyncItem& it : AsyncItem::objects.filter("qty__lt", static_cast<std::int32_t>(i % 50 + 2))
                                           .order_by("-price", "id")
                                           .slice(0, 100))
                sink.sum += it.id;
        };
        rows.push_back(compare("orm list of 100 rows, SQLite, async vs sync mode (one fiber)", "our sync mode, same file",
                               0, a.rounds, list_ops,
                               [&](std::int64_t i) {
                                   in_async(true);
                                   list(i);
                               },
                               [&](std::int64_t i) {
                                   in_async(false);
                                   list(i);
                               }));
        in_async(false);
    });
    // Where async mode ran the statements of the pooled connection.
    {
        auto lease = orm::database().acquire();
        if (auto* c = dynamic_cast<orm::db::sqlite::SqliteConnection*>(lease.get())) {
            auto s = c->offload_stats();
            fmt::print("  async placement: {} on the loop thread, {} moved (time budget), {} moved (lock), {} on a worker\n",
                       s.inline_runs, s.moved_by_budget, s.moved_by_lock, s.worker_runs);
        }
    }
    return rows;
}

// Loop lag: worst delay of a 1 ms ticker while 8 fibers run heavy SQLite queries (async mode).
Comparison bench_loop_lag(const Args& a) {
    auto db = orm::db::Database::open("sqlite://" + a.sqlite_path + "?pool_size=8");
    {
        auto c = db->acquire();
        c->execute_script("DROP TABLE IF EXISTS lag_items; CREATE TABLE lag_items (id INTEGER PRIMARY KEY, v REAL)");
        orm::db::Transaction tx(*c);
        for (int i = 1; i <= 20'000; ++i) c->execute("INSERT INTO lag_items (id, v) VALUES (?, ?)", {i, i * 0.5});
        tx.commit();
    }
    const std::string heavy = "SELECT COUNT(*), SUM(a.v * b.v) FROM lag_items a JOIN lag_items b ON b.id % 97 = a.id % 89 "
                              "WHERE a.id < ?";
    const int queries_per_fiber = a.quick ? 2 : 6;
    std::vector<double> worst_ms;
    for (int r = 0; r < a.rounds; ++r) {
        orm::set_async(true);
        double worst = 0;
        std::int64_t ticks = 0;
        orm::run([&] {
            bool done = false;
            auto ticker = orm::spawn("ticker", [&] {
                auto expected = steady_clock::now() + milliseconds(1);
                while (!done) {
                    orm::sleep_until(expected);
                    auto now = steady_clock::now();
                    worst = std::max(worst, duration<double, std::milli>(now - expected).count());
                    ++ticks;
                    expected = now + milliseconds(1);
                }
            });
            std::vector<orm::Task<void>> workers;
            for (int w = 0; w < 8; ++w)
                workers.push_back(orm::spawn(fmt::format("sqlite-heavy-{}", w), [&] {
                    for (int q = 0; q < queries_per_fiber; ++q) {
                        auto c = db->acquire();
                        c->execute(heavy, {400}).fetch_all();
                        // A short query between the heavy ones: it runs on the loop thread.
                        c->execute("SELECT v FROM lag_items WHERE id = ?", {q + 1}).fetch_all();
                    }
                }));
            for (auto& w : workers) w.get();
            done = true;
            ticker.get();
        });
        orm::set_async(false);
        worst_ms.push_back(worst);
        fmt::print("  round {}: ticker worst delay {:.2f} ms over {} ticks\n", r + 1, worst, ticks);
    }
    Comparison c{"loop lag: worst 1 ms ticker delay, 8 heavy SQLite fibers (async)", "target 5 ms", 1.0,
                 {median(worst_ms), 0}, {5.0, 0}};
    c.unit = "ms";
    c.lower_is_better = true;
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parse_args(argc, argv, a, "sqlite_async_bench --sqlite PATH [--rounds N] [--json FILE] [--quick]")) return 2;
    if (a.sqlite_path.empty()) {
        fmt::print(stderr, "sqlite_async_bench: --sqlite PATH is required (a database file it may overwrite)\n");
        return 2;
    }
    std::vector<Comparison> rows;
    Sink sink;
    try {
        orm::connect("sqlite://" + a.sqlite_path + "?pool_size=1");
        for (auto& r : bench_orm(a, sink)) rows.push_back(r);
        rows.push_back(bench_loop_lag(a));
    } catch (const std::exception& e) {
        fmt::print(stderr, "sqlite_async_bench: {}\n", e.what());
        return 1;
    }
    print_table(rows);
    if (!a.json.empty()) write_json(a.json, rows);
    fmt::print("(checksum {})\n", sink.sum);
    return 0;
}
