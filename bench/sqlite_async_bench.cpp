// Async SQLite against sync SQLite on the same file (issue 18, item 4), in the same run:
//  - ORM get by pk, one fiber, one pooled connection: async mode (short queries run on the loop
//    thread, see drivers/sqlite/sqlite_connection.hpp) against sync mode (target ratio >= 0.80);
//  - the same get in async mode with async_inline=off (every statement on a worker, as before
//    issue 18) against sync mode: the baseline of the change;
//  - a 100-row list query, the same way (no target; shows the batch copy async mode makes);
//  - loop lag: the worst delay of a 1 ms ticker while 8 fibers run heavy SQLite queries in async
//    mode (target: under 5 ms).
//   sqlite_async_bench --sqlite PATH [--rounds N] [--json FILE] [--quick]
#include <algorithm>
#include <tuple>
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

std::string only;  // --only get|lag

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
        rows.push_back(compare("orm get by pk, SQLite, async with async_inline=off vs sync mode", "our sync mode, same file",
                               0, a.rounds, get_ops / 4,
                               [&](std::int64_t i) {
                                   in_async(true);
                                   AsyncItem it = AsyncItem::objects.using_db("off").get("pk", ids[static_cast<std::size_t>(i)]);
                                   sink.sum += it.id + it.qty + static_cast<std::int64_t>(it.name.size());
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
            fmt::print("  async placement: {} on the loop thread, {} moved (time budget), {} moved (lock), {} on a worker; "
                       "longest loop-thread run {} us\n",
                       s.inline_runs, s.moved_by_budget, s.moved_by_lock, s.worker_runs, s.longest_inline_us);
        }
    }
    return rows;
}

// Loop lag: worst delay of a 1 ms ticker while 8 fibers run heavy SQLite queries (async mode),
// with the loop-thread attempt on (the default) and off (every statement on a worker), in
// alternating rounds.
std::vector<Comparison> bench_loop_lag(const Args& a) {
    auto on = orm::db::Database::open("sqlite://" + a.sqlite_path + "?pool_size=8");
    auto off = orm::db::Database::open("sqlite://" + a.sqlite_path + "?pool_size=8&async_inline=off");
    {
        auto c = on->acquire();
        c->execute_script("DROP TABLE IF EXISTS lag_items; CREATE TABLE lag_items (id INTEGER PRIMARY KEY, v REAL)");
        orm::db::Transaction tx(*c);
        for (int i = 1; i <= 20'000; ++i) c->execute("INSERT INTO lag_items (id, v) VALUES (?, ?)", {i, i * 0.5});
        tx.commit();
    }
    const std::string heavy = "SELECT COUNT(*), SUM(a.v * b.v) FROM lag_items a JOIN lag_items b ON b.id % 97 = a.id % 89 "
                              "WHERE a.id < ?";
    const int queries_per_fiber = a.quick ? 2 : 6;
    auto round = [&](orm::db::Database& db) {
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
                        auto c = db.acquire();
                        c->execute(heavy, {400}).fetch_all();
                        // A short query between the heavy ones (on the loop thread when inline is on).
                        c->execute("SELECT v FROM lag_items WHERE id = ?", {q + 1}).fetch_all();
                    }
                }));
            for (auto& w : workers) w.get();
            done = true;
            ticker.get();
        });
        orm::set_async(false);
        std::uint64_t longest = 0;
        {
            std::vector<orm::db::PooledConnection> held;
            for (int i = 0; i < 8; ++i) held.push_back(db.acquire());
            for (auto& c : held)
                if (auto* s = dynamic_cast<orm::db::sqlite::SqliteConnection*>(c.get()))
                    longest = std::max(longest, s->offload_stats().longest_inline_us);
        }
        return std::tuple{worst, ticks, longest};
    };
    std::vector<double> worst_on, worst_off;
    for (int r = 0; r < a.rounds; ++r) {
        for (int k = 0; k < 2; ++k) {
            const bool inline_on = (r + k) % 2 == 0;
            auto [worst, ticks, longest] = round(inline_on ? *on : *off);
            (inline_on ? worst_on : worst_off).push_back(worst);
            // The longest wall time a statement spent on the loop thread, preemption included.
            fmt::print("  round {} ({}): ticker worst delay {:.2f} ms over {} ticks; longest loop-thread "
                       "statement so far {} us\n",
                       r + 1, inline_on ? "async_inline=on" : "async_inline=off", worst, ticks, longest);
        }
    }
    std::vector<Comparison> rows;
    for (bool inline_on : {true, false}) {
        Comparison c{fmt::format("loop lag: worst 1 ms ticker delay, 8 heavy SQLite fibers (async, async_inline={})",
                                 inline_on ? "on" : "off"),
                     "target 5 ms", 1.0, {median(inline_on ? worst_on : worst_off), 0}, {5.0, 0}};
        c.unit = "ms";
        c.lower_is_better = true;
        rows.push_back(c);
    }
    return rows;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    auto extra = [](const std::string& flag, const std::function<std::string()>& next) {
        if (flag != "--only") return false;
        only = next();
        return only == "get" || only == "lag";
    };
    if (!parse_args(argc, argv, a, "sqlite_async_bench --sqlite PATH [--rounds N] [--json FILE] [--quick] [--only get|lag]",
                    extra))
        return 2;
    if (a.sqlite_path.empty()) {
        fmt::print(stderr, "sqlite_async_bench: --sqlite PATH is required (a database file it may overwrite)\n");
        return 2;
    }
    std::vector<Comparison> rows;
    Sink sink;
    {
        // The sync-mode slices run on the root fiber without switching, by design: not news.
        auto o = orm::fiber_options();
        o.slow_fiber_threshold = std::chrono::hours(1);
        orm::set_fiber_options(o);
    }
    try {
        orm::connect("sqlite://" + a.sqlite_path + "?pool_size=1");
        orm::connect("sqlite://" + a.sqlite_path + "?pool_size=1&async_inline=off", "off");
        if (only.empty() || only == "get")
            for (auto& r : bench_orm(a, sink)) rows.push_back(r);
        if (only.empty() || only == "lag")
            for (auto& r : bench_loop_lag(a)) rows.push_back(r);
    } catch (const std::exception& e) {
        fmt::print(stderr, "sqlite_async_bench: {}\n", e.what());
        return 1;
    }
    print_table(rows);
    if (!a.json.empty()) write_json(a.json, rows);
    fmt::print("(checksum {})\n", sink.sum);
    return 0;
}
