// Automatic pipelining (issue 18 item 1): ORM point selects by primary key from many fibers on
// one thread, PostgreSQL, async mode.
//  - 64 fibers over a pool of 8 (pipelining on) vs pgbench -M prepared -c 8 -j 1 running the
//    same SELECT (target >= 2.0);
//  - the same vs pgbench's own pipelined script: \startpipeline, 10 such selects, \endpipeline,
//    -c 8 -j 1, counted in selects (target >= 0.7);
//  - 1,000 fibers over a pool of 2, pipelining on vs off (target >= 3.0);
//  - one fiber, one connection, pipelining on vs off (target >= 0.95).
// Medians of --rounds rounds, each side alternating which goes first.
//   pipeline_bench --pg URL --pgbench "ARGS" [--rounds N] [--json FILE] [--quick]
//                  [--only pgbench|pgbench-pipeline|many|one|solo] [--seconds S]
// --only runs one comparison; `solo` runs only our side of the first two (64 fibers, pool of 8;
// the environment's SOLO_FIBERS and SOLO_POOL change them) for --seconds (default 5) and prints
// its rate, for profiling. --seconds also sets the length
// of a pgbench round (5, 2 with --quick).
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

struct Item : orm::Model<Item> {
    std::int64_t id = 0;
    std::string name;
    double price = 0;
    std::int32_t qty = 0;

    static void describe(orm::Meta<Item>& m) {
        m.table("bench_items");
        m.field(&Item::id, "id").primary_key();
        m.field(&Item::name, "name");
        m.field(&Item::price, "price");
        m.field(&Item::qty, "qty");
    }
};

// The SELECT the ORM sends for Item::objects.get("id", k), with pgbench's :id for $1 (read from
// the query log, so pgbench runs exactly our text).
std::string point_select;
int round_seconds = 0;  // --seconds

void fill_pg(orm::db::Database& db) {
    auto c = db.acquire();
    c->execute_script("DROP TABLE IF EXISTS bench_items; "
                      "CREATE TABLE bench_items (id bigint PRIMARY KEY, name text NOT NULL, "
                      "price double precision NOT NULL, qty integer NOT NULL)");
    c->execute_script(fmt::format("INSERT INTO bench_items SELECT i, 'item ' || i, i * 0.25, i % 100 "
                                  "FROM generate_series(1, {}) i; ANALYZE bench_items",
                                  table_rows));
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

std::int64_t checksum = 0;

// `fibers` fibers on one thread, each running Item::objects.get by a random key until `total`
// gets are done, on the database registered as "default" (`db`).
Sample fibers_get(const std::shared_ptr<orm::db::Database>& db, int fibers, std::int64_t total) {
    orm::connect(db, "default");
    orm::set_async(true);
    auto start = steady_clock::now();
    const double cpu0 = thread_cpu_seconds();
    orm::run([&] {
        std::int64_t next = 0;
        std::vector<orm::Task<void>> tasks;
        for (int f = 0; f < fibers; ++f)
            tasks.push_back(orm::spawn([&, f] {
                std::mt19937_64 rng(static_cast<std::uint64_t>(f) + 1);
                std::uniform_int_distribution<std::int64_t> dist(1, table_rows);
                while (next < total) {
                    ++next;
                    const std::int64_t key = dist(rng);
                    Item it = Item::objects.get("id", key);
                    if (it.id != key) throw std::runtime_error(fmt::format("get({}) returned row {}", key, it.id));
                    checksum += it.id + it.qty + static_cast<std::int64_t>(it.name.size());
                }
            }));
        orm::join_all(tasks);
    });
    const double secs = duration<double>(steady_clock::now() - start).count();
    const double cpu = thread_cpu_seconds() - cpu0;
    orm::set_async(false);
    return {static_cast<double>(total) / secs, cpu * 1e6 / static_cast<double>(total)};
}

// pgbench with `script`, 8 clients on one thread; `per_tx` selects per transaction.
Sample run_pgbench(const Args& a, const std::string& script, int seconds, int per_tx) {
    const double cpu0 = children_cpu_seconds();
    std::string cmd = fmt::format("/usr/lib/postgresql/15/bin/pgbench -n -M prepared -c 8 -j 1 -T {} -f {} {} 2>&1",
                                  seconds, script, a.pgbench_args);
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) throw std::runtime_error("cannot run pgbench");
    char line[512];
    double tps = 0;
    long long transactions = 0;
    std::string out;
    while (std::fgets(line, sizeof line, p)) {
        out += line;
        double v = 0;
        long long n = 0;
        if (std::sscanf(line, "tps = %lf", &v) == 1) tps = v;
        if (std::sscanf(line, "number of transactions actually processed: %lld", &n) == 1) transactions = n;
    }
    int rc = pclose(p);
    if (rc != 0 || tps <= 0) throw std::runtime_error("pgbench failed: " + out);
    const double cpu = children_cpu_seconds() - cpu0;
    const double selects = static_cast<double>(transactions) * per_tx;
    return {tps * per_tx, selects > 0 ? cpu * 1e6 / selects : 0};
}

std::string write_script(const std::string& path, bool pipelined) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write " + path);
    if (!pipelined) {
        fmt::print(f, "\\set id random(1, {})\n{};\n", table_rows, point_select);
    } else {
        for (int i = 0; i < 10; ++i) fmt::print(f, "\\set id{} random(1, {})\n", i, table_rows);
        fmt::print(f, "\\startpipeline\n");
        for (int i = 0; i < 10; ++i) fmt::print(f, "{}{};\n", point_select, i);
        fmt::print(f, "\\endpipeline\n");
    }
    std::fclose(f);
    return path;
}

std::shared_ptr<orm::db::Database> open(const Args& a, std::string_view options) {
    return orm::db::Database::open(a.pg_url + (a.pg_url.find('?') == std::string::npos ? "?" : "&") +
                                   std::string(options));
}

Comparison vs_pgbench(const Args& a, const std::shared_ptr<orm::db::Database>& db, bool pipelined) {
    const std::string script = write_script(pipelined ? "/tmp/weft-pipe-pgbench-10.sql" : "/tmp/weft-pipe-pgbench-1.sql",
                                            pipelined);
    const int per_tx = pipelined ? 10 : 1;
    const int seconds = round_seconds > 0 ? round_seconds : a.quick ? 2 : 5;
    std::vector<double> ours, theirs, ours_cpu, theirs_cpu;
    // Size our run to take about as long as pgbench's, from a first measurement.
    Sample warm = fibers_get(db, 64, a.quick ? 10'000 : 40'000);
    const auto total = static_cast<std::int64_t>(warm.ops_per_sec * seconds);
    for (int r = 0; r < a.rounds; ++r) {
        Sample x, y;
        if (r % 2 == 0) {
            x = fibers_get(db, 64, total);
            y = run_pgbench(a, script, seconds, per_tx);
        } else {
            y = run_pgbench(a, script, seconds, per_tx);
            x = fibers_get(db, 64, total);
        }
        ours.push_back(x.ops_per_sec);
        ours_cpu.push_back(x.cpu_us_per_op);
        theirs.push_back(y.ops_per_sec);
        theirs_cpu.push_back(y.cpu_us_per_op);
        fmt::print("  round {}: 64 fibers / pool of 8 {:>9.0f}/s ({:.2f} us cpu)   pgbench{} {:>9.0f} selects/s "
                   "({:.2f} us cpu)  ratio {:.2f}\n",
                   r + 1, x.ops_per_sec, x.cpu_us_per_op, pipelined ? " pipelined x10" : "", y.ops_per_sec,
                   y.cpu_us_per_op, x.ops_per_sec / y.ops_per_sec);
    }
    std::remove(script.c_str());
    Comparison c{pipelined ? "get by pk, 64 fibers / pool of 8 (pipelined) vs pgbench's pipeline"
                           : "get by pk, 64 fibers / pool of 8 (pipelined) vs pgbench",
                 pipelined ? "pgbench pipelined x10 -c8 -j1" : "pgbench -M prepared -c8 -j1", pipelined ? 0.7 : 2.0,
                 {median(ours), median(ours_cpu)}, {median(theirs), median(theirs_cpu)}};
    set_paired_ratio(c, ours, theirs);
    return c;
}

Comparison on_vs_off(const Args& a, const std::string& name, int fibers, int pool, std::int64_t total, double target) {
    auto on = open(a, fmt::format("pool_size={}", pool));
    auto off = open(a, fmt::format("pool_size={}&pipelining=off", pool));
    fibers_get(on, fibers, total / 4);  // warm: connections, prepared statements
    fibers_get(off, fibers, total / 4);
    std::vector<double> o, t, oc, tc;
    for (int r = 0; r < a.rounds; ++r) {
        Sample x, y;
        if (r % 2 == 0) {
            x = fibers_get(on, fibers, total);
            y = fibers_get(off, fibers, total);
        } else {
            y = fibers_get(off, fibers, total);
            x = fibers_get(on, fibers, total);
        }
        o.push_back(x.ops_per_sec);
        oc.push_back(x.cpu_us_per_op);
        t.push_back(y.ops_per_sec);
        tc.push_back(y.cpu_us_per_op);
        fmt::print("  round {}: {} fibers / pool of {}: pipelining on {:>9.0f}/s ({:.2f} us cpu)  off {:>9.0f}/s "
                   "({:.2f} us cpu)  ratio {:.2f}\n",
                   r + 1, fibers, pool, x.ops_per_sec, x.cpu_us_per_op, y.ops_per_sec, y.cpu_us_per_op,
                   x.ops_per_sec / y.ops_per_sec);
    }
    Comparison c{name, "pipelining=off", target, {median(o), median(oc)}, {median(t), median(tc)}};
    set_paired_ratio(c, o, t);
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    std::string only;
    const char* usage =
        "pipeline_bench --pg URL --pgbench ARGS [--rounds N] [--json F] [--quick] "
        "[--only pgbench|pgbench-pipeline|many|one|solo] [--seconds S]";
    if (!parse_args(argc, argv, a, usage, [&](const std::string& flag, const std::function<std::string()>& next) {
            if (flag == "--only") {
                only = next();
                return only == "pgbench" || only == "pgbench-pipeline" || only == "many" || only == "one" ||
                       only == "solo";
            }
            if (flag == "--seconds") {
                round_seconds = std::atoi(next().c_str());
                return round_seconds > 0;
            }
            return false;
        }))
        return 2;
    if (a.pg_url.empty() || a.pgbench_args.empty()) {
        fmt::print(stderr, "pipeline_bench: --pg and --pgbench are required\n");
        return 2;
    }
    std::vector<Comparison> rows;
    try {
        auto db8 = open(a, "pool_size=8");
        fill_pg(*db8);
        orm::connect(db8, "default");
        orm::set_query_logger([](const orm::QueryEvent& e) { point_select = std::string(e.sql); });
        (void)Item::objects.get("id", 1);
        orm::set_query_logger({});
        const auto dollar = point_select.find("$1");
        if (dollar == std::string::npos || dollar + 2 != point_select.size())
            throw std::runtime_error("unexpected SQL for a get by pk: " + point_select);
        point_select.replace(dollar, 2, ":id");
        fmt::print("point select: {}\n", point_select);
        auto part = [&](const char* name) { return only.empty() || only == name; };
        if (only == "solo") {
            const char* env_fibers = std::getenv("SOLO_FIBERS");
            const char* env_pool = std::getenv("SOLO_POOL");
            const int fibers = env_fibers ? std::atoi(env_fibers) : 64;
            const int pool = env_pool ? std::atoi(env_pool) : 8;
            auto db = pool == 8 ? db8 : open(a, fmt::format("pool_size={}", pool));
            Sample warm = fibers_get(db, fibers, 20'000);
            Sample x = fibers_get(db, fibers, static_cast<std::int64_t>(warm.ops_per_sec * (round_seconds > 0 ? round_seconds : 5)));
            fmt::print("{} fibers / pool of {}: {:.0f}/s ({:.2f} us cpu)\n", fibers, pool, x.ops_per_sec, x.cpu_us_per_op);
        }
        if (part("pgbench")) rows.push_back(vs_pgbench(a, db8, false));
        if (part("pgbench-pipeline")) rows.push_back(vs_pgbench(a, db8, true));
        if (part("many"))
            rows.push_back(on_vs_off(a, "get by pk, 1,000 fibers / pool of 2: pipelining on vs off", 1000, 2,
                                     a.quick ? 20'000 : 100'000, 3.0));
        if (part("one"))
            rows.push_back(on_vs_off(a, "get by pk, 1 fiber / 1 connection: pipelining on vs off", 1, 1,
                                     a.quick ? 5'000 : 30'000, 0.95));
        orm::disconnect("default");
    } catch (const std::exception& e) {
        fmt::print(stderr, "pipeline_bench: {}\n", e.what());
        return 1;
    }
    print_table(rows);
    if (!a.json.empty()) write_json(a.json, rows);
    fmt::print("(checksum {})\n", checksum);
    return 0;
}
