// Async benchmarks (the fiber bridge):
//  - 64 fibers on one thread over a pool of 8 PostgreSQL connections, point select by primary
//    key, vs. pgbench -M prepared -c 8 -j 1 running the same SELECT (target ratio >= 1.0);
//  - one fiber, one connection: async vs. sync on the same point select (target >= 0.90);
//  - loop lag: a ticker fiber waking every millisecond while 8 fibers run heavy SQLite queries
//    in async mode (target worst delay < 5 ms).
//   async_bench --pg URL --pgbench "ARGS" [--sqlite PATH] [--rounds N] [--json FILE] [--quick]
//               [--offload-threads N] [--offload-nice N] [--offload-cpu-slots N] [--loop-slice-us N]
//               (FiberOptions for the loop-lag experiments)
#include <sys/resource.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/bench_util.hpp"
#include "drivers/bridge/bridge.hpp"
#include "orm/orm.hpp"

using namespace weft::bench;
using namespace std::chrono;

namespace {

constexpr std::int64_t table_rows = 10'000;
const std::string point_sql = "SELECT id, name, price, qty FROM bench_items WHERE id = $1";

void fill_pg(orm::db::Database& db) {
    auto c = db.acquire();
    c->execute_script("DROP TABLE IF EXISTS bench_items; "
                      "CREATE TABLE bench_items (id bigint PRIMARY KEY, name text NOT NULL, "
                      "price double precision NOT NULL, qty integer NOT NULL)");
    c->execute_script(fmt::format("INSERT INTO bench_items SELECT i, 'item ' || i, i * 0.25, i % 100 "
                                  "FROM generate_series(1, {}) i; ANALYZE bench_items",
                                  table_rows));
}

struct Sink {
    std::int64_t sum = 0;
};

void point_select(orm::db::Connection& c, std::int64_t id, Sink& sink) {
    auto r = c.execute(point_sql, {id});
    while (r.next()) {
        auto row = r.row();
        sink.sum += row.get<std::int64_t>(0) + row.get<std::int32_t>(3) +
                    static_cast<std::int64_t>(row.get<std::string_view>(1).size()) +
                    static_cast<std::int64_t>(row.get<double>(2));
    }
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double children_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_CHILDREN, &ru);
    auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// ours: `fibers` fibers share a pool; each runs point selects until `total` are done. The loop
// thread does all the client work, so its CPU time is the client CPU.
Sample fibers_over_pool(orm::db::Database& db, int fibers, std::int64_t total, Sink& sink) {
    orm::set_async(true);
    auto start = steady_clock::now();
    const double cpu0 = thread_cpu_seconds();
    orm::run([&] {
        std::int64_t next = 0;
        std::vector<orm::Task<void>> tasks;
        for (int f = 0; f < fibers; ++f)
            tasks.push_back(orm::spawn([&, f] {
                std::mt19937_64 rng(static_cast<std::uint64_t>(f));
                std::uniform_int_distribution<std::int64_t> dist(1, table_rows);
                while (next < total) {
                    ++next;
                    auto c = db.acquire();
                    point_select(*c, dist(rng), sink);
                }
            }));
        for (auto& t : tasks) t.get();
    });
    double secs = duration<double>(steady_clock::now() - start).count();
    const double cpu = thread_cpu_seconds() - cpu0;
    orm::set_async(false);
    return {static_cast<double>(total) / secs, cpu * 1e6 / static_cast<double>(total)};
}

// theirs: pgbench with the same statement, prepared, 8 clients on one thread. Its CPU (user +
// system, from the reaped child's rusage) per transaction is the client CPU.
Sample run_pgbench(const Args& a, const std::string& script, int seconds) {
    const double cpu0 = children_cpu_seconds();
    std::string cmd = fmt::format("/usr/lib/postgresql/15/bin/pgbench -n -M prepared -c 8 -j 1 -T {} -f {} {} 2>&1",
                                  seconds, script, a.pgbench_args);
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) throw std::runtime_error("cannot run pgbench");
    char line[512];
    double tps = 0;
    long long transactions = 0;
    std::string out;
    while (fgets(line, sizeof line, p)) {
        out += line;
        if (std::sscanf(line, "tps = %lf", &tps) == 1) {
        }
        if (std::sscanf(line, "number of transactions actually processed: %lld", &transactions) == 1) {
        }
    }
    int rc = pclose(p);
    if (rc != 0 || tps <= 0) throw std::runtime_error("pgbench failed: " + out);
    const double cpu = children_cpu_seconds() - cpu0;
    return {tps, transactions > 0 ? cpu * 1e6 / static_cast<double>(transactions) : 0};
}

Comparison bench_fibers_vs_pgbench(const Args& a, Sink& sink) {
    auto db = orm::db::Database::open(a.pg_url + (a.pg_url.find('?') == std::string::npos ? "?" : "&") +
                                      "pool_size=8");
    fill_pg(*db);
    std::string script = "/tmp/weft-pgbench-point.sql";
    {
        FILE* f = std::fopen(script.c_str(), "w");
        fmt::print(f, "\\set id random(1, {})\nSELECT id, name, price, qty FROM bench_items WHERE id = :id;\n",
                   table_rows);
        std::fclose(f);
    }
    const int seconds = a.quick ? 1 : 3;
    // Size our run to take about as long as pgbench's.
    const std::int64_t total = a.quick ? 20'000 : 120'000;
    fibers_over_pool(*db, 64, total / 10, sink);  // warm: open 8 connections, prepare
    std::vector<double> ours, theirs, ours_cpu, theirs_cpu;
    for (int r = 0; r < a.rounds; ++r) {
        Sample x, y;
        if (r % 2 == 0) {
            x = fibers_over_pool(*db, 64, total, sink);
            y = run_pgbench(a, script, seconds);
        } else {
            y = run_pgbench(a, script, seconds);
            x = fibers_over_pool(*db, 64, total, sink);
        }
        ours.push_back(x.ops_per_sec);
        ours_cpu.push_back(x.cpu_us_per_op);
        theirs.push_back(y.ops_per_sec);
        theirs_cpu.push_back(y.cpu_us_per_op);
        fmt::print("  round {}: 64 fibers / pool of 8 {:>9.0f}/s ({:.2f} us cpu)   pgbench -c 8 -j 1 {:>9.0f}/s ({:.2f} us cpu)\n",
                   r + 1, x.ops_per_sec, x.cpu_us_per_op, y.ops_per_sec, y.cpu_us_per_op);
    }
    std::remove(script.c_str());
    Comparison c{"point select, 64 fibers over pool of 8 (postgresql async)", "pgbench -c8 -j1", 1.0,
                 {median(ours), median(ours_cpu)}, {median(theirs), median(theirs_cpu)}};
    set_paired_ratio(c, ours, theirs);
    return c;
}

Comparison bench_async_vs_sync(const Args& a, Sink& sink) {
    auto db = orm::db::Database::open(a.pg_url);
    fill_pg(*db);
    auto conn = db->acquire();
    const std::int64_t ops = a.quick ? 2'000 : 20'000;
    std::mt19937_64 rng(7);
    std::vector<std::int64_t> ids(static_cast<std::size_t>(ops));
    for (auto& id : ids) id = static_cast<std::int64_t>(rng() % table_rows) + 1;
    // Async: one fiber on the loop. Sync: a plain loop on the thread, as sync-mode users run it
    // (inside a fiber the blocking calls would trip the slow-fiber report).
    auto batch = [&] { return measure(ops, [&](std::int64_t i) { point_select(*conn, ids[static_cast<std::size_t>(i)], sink); }); };
    auto run_batch = [&](bool async) {
        if (!async) return batch();
        orm::set_async(true);
        Sample s = orm::run(batch);
        orm::set_async(false);
        return s;
    };
    run_batch(true);
    run_batch(false);
    std::vector<double> o_ops, o_cpu, t_ops, t_cpu;
    for (int r = 0; r < a.rounds; ++r) {
        Sample x, y;
        if (r % 2 == 0) { x = run_batch(true); y = run_batch(false); }
        else { y = run_batch(false); x = run_batch(true); }
        o_ops.push_back(x.ops_per_sec); o_cpu.push_back(x.cpu_us_per_op);
        t_ops.push_back(y.ops_per_sec); t_cpu.push_back(y.cpu_us_per_op);
    }
    Comparison c{"point select, 1 fiber 1 connection: async vs sync", "ours sync", 0.90,
                 {median(o_ops), median(o_cpu)}, {median(t_ops), median(t_cpu)}};
    set_paired_ratio(c, o_ops, t_ops);
    fmt::print("  async {:>9.0f}/s ({:.2f} us cpu)  sync {:>9.0f}/s ({:.2f} us cpu)  ratio {:.3f}\n",
               c.ours.ops_per_sec, c.ours.cpu_us_per_op, c.theirs.ops_per_sec, c.theirs.cpu_us_per_op, c.ratio());
    return c;
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
    std::int64_t total_ticks = 0;
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
                    }
                }));
            for (auto& w : workers) w.get();
            done = true;
            ticker.get();
        });
        orm::set_async(false);
        worst_ms.push_back(worst);
        total_ticks += ticks;
        fmt::print("  round {}: ticker worst delay {:.2f} ms over {} ticks\n", r + 1, worst, ticks);
    }
    double w = median(worst_ms);
    // The target itself is the baseline; lower is better, so ratio = 5 ms / worst delay.
    Comparison c{"loop lag: worst 1 ms ticker delay, 8 SQLite fibers", "target 5 ms", 1.0, {w, 0}, {5.0, 0}};
    c.unit = "ms";
    c.lower_is_better = true;
    (void)total_ticks;
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    auto extra = [](const std::string& flag, const std::function<std::string()>& next) {
        auto o = orm::fiber_options();
        if (flag == "--offload-threads") o.offload_threads = static_cast<std::size_t>(std::atoi(next().c_str()));
        else if (flag == "--offload-nice") o.offload_nice = std::atoi(next().c_str());
        else if (flag == "--offload-cpu-slots") o.offload_cpu_slots = static_cast<std::size_t>(std::atoi(next().c_str()));
        else if (flag == "--loop-slice-us") o.loop_time_slice = std::chrono::microseconds(std::atoi(next().c_str()));
        else return false;
        orm::set_fiber_options(o);
        return true;
    };
    if (!parse_args(argc, argv, a,
                    "async_bench --pg URL --pgbench ARGS [--sqlite PATH] [--rounds N] [--json F] [--quick] "
                    "[--offload-threads N] [--offload-nice N] [--offload-cpu-slots N] [--loop-slice-us N]",
                    extra))
        return 2;
    std::vector<Comparison> rows;
    Sink sink;
    try {
        if (!a.pg_url.empty()) {
            rows.push_back(bench_async_vs_sync(a, sink));
            if (!a.pgbench_args.empty()) rows.push_back(bench_fibers_vs_pgbench(a, sink));
        }
        if (!a.sqlite_path.empty()) {
            auto lag = bench_loop_lag(a);
            rows.push_back(lag);
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "async_bench: {}\n", e.what());
        return 1;
    }
    print_table(rows);
    if (!a.json.empty()) write_json(a.json, rows);
    fmt::print("(checksum {})\n", sink.sum);
    return 0;
}
