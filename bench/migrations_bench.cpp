// Migrations on a large table (issue 15): a table of 1,000,000 rows (100,000 with --quick)
// gains a column with a default, then one of its columns is altered, each through
// orm::migrations::migrate as `migrate` runs it (one transaction, the record in weft_migrations,
// the lock). Every round starts from an empty database (migrate zero) and fills the table again.
//  PostgreSQL: adding a column with a default is a catalogue change (PostgreSQL 11 and later:
//    the default is stored once, no row is rewritten), so the migrate takes milliseconds against
//    the time to insert the rows (INSERT ... SELECT generate_series) and to copy them (CREATE
//    TABLE AS SELECT), both timed in the same round. The table's relfilenode is compared before
//    and after: a migrate that rewrote the table fails the run.
//  SQLite: ADD COLUMN with a constant default is a schema change as well; altering a column
//    (varchar(40) -> varchar(80)) is what ALTER TABLE cannot do, so the migration rebuilds the
//    table (create, copy, drop, rename, indexes, foreign key check). Reported in rows/s against
//    a raw INSERT INTO new SELECT * FROM old on the same connection, and against the rebuild
//    procedure written as raw SQL (copy, drop, rename, index, in one transaction).
// After each migrate the rows are counted with their new column's value (not timed).
// Medians over the rounds; the ratios are the medians of the per-round ratios.
//   migrations_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick]
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/bench_util.hpp"
#include "orm/orm.hpp"
#include "orm/migrations.hpp"

using namespace weft::bench;
namespace mig = orm::migrations;

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

constexpr const char* table = "bench_mig";

// 0001 creates the table, 0002 adds `pages` with a default, 0003 widens `label`.
mig::Project make_project() {
    mig::Project p;
    p.migrations.push_back(mig::Migration("0001_bench_mig")
                               .create_model(table, {
                                                        mig::Column("id", mig::Type::int64).primary_key().auto_increment(),
                                                        mig::Column("n", mig::Type::int64),
                                                        mig::Column("label", mig::Type::varchar).max_length(40),
                                                    },
                                             {mig::Index("bench_mig_n_idx", {"n"})}));
    p.migrations.push_back(mig::Migration("0002_bench_mig_pages")
                               .depends_on("0001_bench_mig")
                               .add_field(table, mig::Column("pages", mig::Type::int32).default_value(std::int64_t{7})));
    p.migrations.push_back(mig::Migration("0003_bench_mig_label")
                               .depends_on("0002_bench_mig_pages")
                               .alter_field(table, mig::Column("label", mig::Type::varchar).max_length(80)));
    return p;
}

void migrate_to(const mig::Project& p, const std::string& alias, const std::string& target) {
    mig::MigrateOptions o;
    o.alias = alias;
    o.target = target;
    (void)mig::migrate(p, o);
}

std::int64_t scalar_int(mig::Context& ctx, const std::string& sql) { return ctx.scalar(sql).as_int64(); }

struct Times {
    std::vector<double> fill, copy, add, alter, raw_rebuild;
};

// One round on `alias`: an empty table filled with `rows` rows, then 0002 and 0003 migrated, and
// the baseline copy. Throws when a migrate did not do what it should.
void round(const mig::Project& p, const std::string& alias, bool postgres, std::int64_t rows, Times& t) {
    mig::Context ctx(alias);
    migrate_to(p, alias, "zero");
    ctx.execute("DROP TABLE IF EXISTS bench_mig_copy");
    migrate_to(p, alias, "0001_bench_mig");
    const std::string fill =
        postgres ? fmt::format("INSERT INTO {} (n, label) SELECT g, 'row ' || g FROM generate_series(1, {}) g", table, rows)
                 : fmt::format("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {}) "
                               "INSERT INTO {} (n, label) SELECT x, 'row ' || x FROM c",
                               rows, table);
    auto t0 = Clock::now();
    ctx.execute(fill);
    t.fill.push_back(ms_since(t0));
    if (postgres) ctx.execute(fmt::format("ANALYZE {}", table));
    const std::string filenode = fmt::format("SELECT pg_relation_filenode('{}')", table);
    const std::int64_t node_before = postgres ? scalar_int(ctx, filenode) : 0;

    t0 = Clock::now();
    migrate_to(p, alias, "0002_bench_mig_pages");
    t.add.push_back(ms_since(t0));
    if (postgres && scalar_int(ctx, filenode) != node_before)
        throw std::runtime_error("adding a column with a default rewrote the table (its relfilenode changed)");
    if (scalar_int(ctx, fmt::format("SELECT COUNT(*) FROM {} WHERE pages = 7", table)) != rows)
        throw std::runtime_error("after 0002 not every row has pages = 7");

    t0 = Clock::now();
    migrate_to(p, alias, "0003_bench_mig_label");
    t.alter.push_back(ms_since(t0));
    if (scalar_int(ctx, fmt::format("SELECT COUNT(*) FROM {} WHERE label = 'row ' || n AND pages = 7", table)) != rows)
        throw std::runtime_error("after 0003 the rows are not what they were");

    // The baseline copy: the rows of the table after 0003 into a table like it.
    if (postgres) {
        t0 = Clock::now();
        ctx.execute(fmt::format("CREATE TABLE bench_mig_copy AS SELECT * FROM {}", table));
        t.copy.push_back(ms_since(t0));
    } else {
        ctx.execute("CREATE TABLE bench_mig_copy (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, n bigint NOT NULL, "
                    "label varchar(80) NOT NULL, pages integer NOT NULL DEFAULT 7)");
        t0 = Clock::now();
        ctx.execute(fmt::format("INSERT INTO bench_mig_copy SELECT * FROM {}", table));
        t.copy.push_back(ms_since(t0));
    }
    if (scalar_int(ctx, "SELECT COUNT(*) FROM bench_mig_copy") != rows) throw std::runtime_error("the copy lost rows");
    ctx.execute("DROP TABLE bench_mig_copy");
    if (postgres) return;
    // The second SQLite baseline: the rebuild procedure itself in raw SQL, in one transaction on
    // the same connection (what any rebuild must do: copy, drop, rename, index, check, commit).
    t0 = Clock::now();
    orm::atomic(alias, [&] {
        ctx.execute("CREATE TABLE new__bench_mig (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, n bigint NOT NULL, "
                    "label varchar(80) NOT NULL, pages integer NOT NULL DEFAULT 7)");
        ctx.execute("INSERT INTO new__bench_mig (id, n, label, pages) SELECT id, n, label, pages FROM bench_mig");
        ctx.execute("DROP TABLE bench_mig");
        ctx.execute("ALTER TABLE new__bench_mig RENAME TO bench_mig");
        ctx.execute("CREATE INDEX bench_mig_n_idx ON bench_mig (n)");
        (void)ctx.scalar("PRAGMA foreign_key_check");
    });
    t.raw_rebuild.push_back(ms_since(t0));
    if (scalar_int(ctx, fmt::format("SELECT COUNT(*) FROM {} WHERE label = 'row ' || n AND pages = 7", table)) != rows)
        throw std::runtime_error("the raw rebuild lost rows");
}

Comparison latency(std::string name, std::string baseline, double target, const std::vector<double>& ours,
                   const std::vector<double>& theirs) {
    Comparison c;
    c.name = std::move(name);
    c.baseline = std::move(baseline);
    c.target = target;
    c.unit = "ms";
    c.lower_is_better = true;
    c.ours.ops_per_sec = median(ours);
    c.theirs.ops_per_sec = median(theirs);
    set_paired_ratio(c, ours, theirs);
    return c;
}

Comparison rows_per_sec(std::string name, std::string baseline, double target, std::int64_t rows,
                        const std::vector<double>& ours_ms, const std::vector<double>& theirs_ms) {
    std::vector<double> ours, theirs;
    for (double ms : ours_ms) ours.push_back(static_cast<double>(rows) / ms * 1000);
    for (double ms : theirs_ms) theirs.push_back(static_cast<double>(rows) / ms * 1000);
    Comparison c;
    c.name = std::move(name);
    c.baseline = std::move(baseline);
    c.target = target;
    c.unit = "rows/s";
    c.ours.ops_per_sec = median(ours);
    c.theirs.ops_per_sec = median(theirs);
    set_paired_ratio(c, ours, theirs);
    return c;
}

void run_backend(const std::string& alias, bool postgres, int rounds, std::int64_t rows, std::vector<Comparison>& out) {
    const mig::Project p = make_project();
    Times t;
    {
        Times warm;  // one round not counted: caches, the record table, the first connection
        round(p, alias, postgres, rows / 10, warm);
    }
    for (int r = 0; r < rounds; ++r) {
        round(p, alias, postgres, rows, t);
        std::fprintf(stderr,
                     "  %s round %d: fill %.0f ms, copy %.0f ms, migrate add_field %.1f ms, alter_field %.1f ms%s\n",
                     alias.c_str(), r + 1, t.fill.back(), t.copy.back(), t.add.back(), t.alter.back(),
                     postgres ? "" : fmt::format(", raw rebuild {:.0f} ms", t.raw_rebuild.back()).c_str());
    }
    migrate_to(p, alias, "zero");
    const std::string n = fmt::format("{}k rows", rows / 1000);
    if (postgres) {
        out.push_back(latency(fmt::format("pg: migrate add_field with default, {}", n), "insert the rows", 10, t.add, t.fill));
        out.push_back(latency(fmt::format("pg: migrate add_field with default, {}", n), "CREATE TABLE AS", 10, t.add, t.copy));
        out.push_back(latency(fmt::format("pg: migrate alter_field varchar(40->80), {}", n), "insert the rows", 10, t.alter,
                              t.fill));
    } else {
        out.push_back(latency(fmt::format("sqlite: migrate add_field with default, {}", n), "insert the rows", 10, t.add,
                              t.fill));
        // A rebuild does more than copy the rows: it drops the old table, rebuilds its indexes and
        // commits twice the pages; against the bare copy it cannot come near 1 (the raw procedure
        // alone is at 0.3-0.45 of it, 100k-1M rows), so the target there is what the procedure allows, and the
        // second row holds the rebuild to the raw procedure's speed.
        out.push_back(rows_per_sec(fmt::format("sqlite: migrate alter_field (table rebuild), {}", n),
                                   "INSERT..SELECT *", 0.2, rows, t.alter, t.copy));
        out.push_back(rows_per_sec(fmt::format("sqlite: migrate alter_field (table rebuild), {}", n),
                                   "raw rebuild SQL", 0.8, rows, t.alter, t.raw_rebuild));
    }
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    a.rounds = 5;
    if (!parse_args(argc, argv, a, "usage: migrations_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick]"))
        return 2;
    const std::int64_t rows = a.quick ? 100'000 : 1'000'000;
    const int rounds = a.quick ? std::min(a.rounds, 3) : a.rounds;
    std::vector<Comparison> out;
    try {
        if (!a.pg_url.empty()) {
            orm::connect(a.pg_url, "pg");
            std::fprintf(stderr, "postgresql: %d rounds of %lld rows\n", rounds, static_cast<long long>(rows));
            run_backend("pg", true, rounds, rows, out);
        }
        if (!a.sqlite_path.empty()) {
            std::remove(a.sqlite_path.c_str());
            orm::connect("sqlite://" + a.sqlite_path, "lite");
            std::fprintf(stderr, "sqlite: %d rounds of %lld rows\n", rounds, static_cast<long long>(rows));
            run_backend("lite", false, rounds, rows, out);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "migrations_bench: %s\n", e.what());
        return 1;
    }
    print_table(out);
    if (!a.json.empty()) write_json(a.json, out);
    return 0;
}
