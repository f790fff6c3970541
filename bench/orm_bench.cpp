// ORM benchmarks against raw drivers, in the same run:
//  - get by primary key through the ORM vs. a raw libpq PQexecPrepared loop and a raw sqlite3
//    prepared-statement loop (sync, one connection; target ratio >= 0.90);
//  - bulk_create of 100,000 rows vs. raw sqlite3 prepared inserts in one transaction and raw
//    libpq multi-row INSERTs of 1,000 rows per statement (target >= 0.80);
//  - a filtered, ordered list query returning 100 rows, ORM vs. raw (target >= 0.85).
//   orm_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick] [--only get|list|bulk]
//   (--only runs just that comparison: for profiling and quick A/B runs)
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "bench/bench_util.hpp"
#include "orm/orm.hpp"

using namespace weft::bench;

struct Item : orm::Model<Item> {
    std::int64_t id = 0;
    std::string name;
    double price = 0;
    std::int32_t qty = 0;

    static void describe(orm::Meta<Item>& m) {
        m.table("bench_orm_item");
        m.field(&Item::id, "id").primary_key();
        m.field(&Item::name, "name");
        m.field(&Item::price, "price");
        m.field(&Item::qty, "qty").index();
    }
};

namespace {

constexpr std::int64_t table_rows = 10'000;
std::string only;  // --only: run just this comparison ("get", "list" or "bulk"); empty: all
bool wanted(std::string_view what) { return only.empty() || only == what; }

struct Sink {
    std::int64_t ids = 0;
    std::size_t bytes = 0;
    double prices = 0;
};

std::vector<Item> make_items(std::int64_t n) {
    std::vector<Item> v;
    v.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 1; i <= n; ++i)
        v.push_back({.name = fmt::format("item {}", i), .price = static_cast<double>(i % 1000) * 0.25,
                     .qty = static_cast<std::int32_t>(i % 100)});
    return v;
}

void reset_table() {
    orm::drop_tables<Item>();
    orm::create_tables<Item>();
}

// The raw side of a backend: prepare once, run with one int64 parameter, visit rows.
struct Raw {
    virtual ~Raw() = default;
    virtual void prepare(const std::string& name, const std::string& sql) = 0;
    virtual void query(const std::string& name, std::int64_t a, Sink& sink) = 0;
    virtual void bulk_insert(const std::vector<Item>& items) = 0;
    virtual void exec(const std::string& sql) = 0;
};

struct RawPg : Raw {
    PGconn* c;
    explicit RawPg(const std::string& url) : c(PQconnectdb(orm::db::parse_url(url).target.c_str())) {
        if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c));
    }
    ~RawPg() override { PQfinish(c); }
    void check(PGresult* r, ExecStatusType want) {
        if (PQresultStatus(r) != want) {
            std::string m = PQerrorMessage(c);
            PQclear(r);
            throw std::runtime_error(m);
        }
    }
    void prepare(const std::string& name, const std::string& sql) override {
        PGresult* r = PQprepare(c, name.c_str(), sql.c_str(), 0, nullptr);
        check(r, PGRES_COMMAND_OK);
        PQclear(r);
    }
    void query(const std::string& name, std::int64_t a, Sink& sink) override {
        char buf[24];
        auto len = fmt::format_to_n(buf, sizeof buf - 1, "{}", a).size;
        buf[len] = '\0';
        const char* values[1] = {buf};
        PGresult* r = PQexecPrepared(c, name.c_str(), 1, values, nullptr, nullptr, 0);
        check(r, PGRES_TUPLES_OK);
        for (int row = 0; row < PQntuples(r); ++row) {
            sink.ids += std::strtoll(PQgetvalue(r, row, 0), nullptr, 10);
            sink.bytes += std::string(PQgetvalue(r, row, 1), static_cast<std::size_t>(PQgetlength(r, row, 1))).size();
            sink.prices += std::strtod(PQgetvalue(r, row, 2), nullptr);
            sink.ids += std::strtol(PQgetvalue(r, row, 3), nullptr, 10);
        }
        PQclear(r);
    }
    void exec(const std::string& sql) override {
        PGresult* r = PQexec(c, sql.c_str());
        check(r, PGRES_COMMAND_OK);
        PQclear(r);
    }
    // Multi-row INSERTs of 1,000 rows per statement, prepared once, in one transaction.
    void bulk_insert(const std::vector<Item>& items) override {
        constexpr std::size_t per = 1000;
        static bool prepared = false;
        if (!prepared) {
            std::string sql = "INSERT INTO bench_orm_item (name, price, qty) VALUES ";
            for (std::size_t i = 0; i < per; ++i)
                sql += fmt::format("{}(${}, ${}, ${})", i ? ", " : "", 3 * i + 1, 3 * i + 2, 3 * i + 3);
            prepare("raw_bulk", sql);
            prepared = true;
        }
        exec("BEGIN");
        std::vector<std::string> text(3 * per);
        std::vector<const char*> values(3 * per);
        for (std::size_t start = 0; start < items.size(); start += per) {
            for (std::size_t i = 0; i < per; ++i) {
                const Item& it = items[start + i];
                text[3 * i] = it.name;
                text[3 * i + 1] = orm::format_double(it.price);
                text[3 * i + 2] = std::to_string(it.qty);
            }
            for (std::size_t i = 0; i < 3 * per; ++i) values[i] = text[i].c_str();
            PGresult* r = PQexecPrepared(c, "raw_bulk", static_cast<int>(3 * per), values.data(), nullptr, nullptr, 0);
            check(r, PGRES_COMMAND_OK);
            PQclear(r);
        }
        exec("COMMIT");
    }
};

struct RawSqlite : Raw {
    sqlite3* db = nullptr;
    std::vector<std::pair<std::string, sqlite3_stmt*>> stmts;
    explicit RawSqlite(const std::string& path) {
        if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
            throw std::runtime_error("sqlite3_open_v2 failed");
        sqlite3_busy_timeout(db, 5000);
    }
    ~RawSqlite() override {
        for (auto& [n, s] : stmts) sqlite3_finalize(s);
        sqlite3_close(db);
    }
    sqlite3_stmt* find(const std::string& name) {
        for (auto& [n, s] : stmts)
            if (n == name) return s;
        throw std::runtime_error("no statement " + name);
    }
    void prepare(const std::string& name, const std::string& sql) override {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
            throw std::runtime_error(sqlite3_errmsg(db));
        stmts.emplace_back(name, s);
    }
    void query(const std::string& name, std::int64_t a, Sink& sink) override {
        sqlite3_stmt* s = find(name);
        sqlite3_bind_int64(s, 1, a);
        while (sqlite3_step(s) == SQLITE_ROW) {
            sink.ids += sqlite3_column_int64(s, 0);
            sink.bytes += std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 1)),
                                      static_cast<std::size_t>(sqlite3_column_bytes(s, 1)))
                              .size();
            sink.prices += sqlite3_column_double(s, 2);
            sink.ids += sqlite3_column_int(s, 3);
        }
        sqlite3_reset(s);
    }
    void exec(const std::string& sql) override {
        if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
    }
    // One prepared INSERT per row, in one transaction.
    void bulk_insert(const std::vector<Item>& items) override {
        static sqlite3_stmt* ins = nullptr;
        if (!ins) {
            prepare("raw_insert", "INSERT INTO bench_orm_item (name, price, qty) VALUES (?, ?, ?)");
            ins = find("raw_insert");
        }
        exec("BEGIN");
        for (const Item& it : items) {
            sqlite3_bind_text(ins, 1, it.name.data(), static_cast<int>(it.name.size()), SQLITE_STATIC);
            sqlite3_bind_double(ins, 2, it.price);
            sqlite3_bind_int(ins, 3, it.qty);
            if (sqlite3_step(ins) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
            sqlite3_reset(ins);
        }
        exec("COMMIT");
    }
};

std::vector<Comparison> run_backend(const Args& a, const std::string& label, const std::string& url, Raw& raw,
                                    const std::string& baseline, const std::string& ph) {
    std::vector<Comparison> rows;
    Sink sink;
    orm::connect(url);
    reset_table();
    {
        auto items = make_items(table_rows);
        Item::objects.bulk_create(items);
    }
    raw.prepare("raw_get", "SELECT id, name, price, qty FROM bench_orm_item WHERE id = " + ph);
    raw.prepare("raw_list", "SELECT id, name, price, qty FROM bench_orm_item WHERE qty < " + ph +
                                " ORDER BY price DESC, id LIMIT 100");

    // get by primary key
    const std::int64_t get_ops = a.quick ? (label == "sqlite" ? 20'000 : 2'000) : (label == "sqlite" ? 200'000 : 20'000);
    std::mt19937_64 rng(11);
    std::vector<std::int64_t> ids(static_cast<std::size_t>(get_ops));
    for (auto& id : ids) id = static_cast<std::int64_t>(rng() % table_rows) + 1;
    if (wanted("get")) rows.push_back(compare(
        fmt::format("orm get by pk, {} sync", label), baseline, 0.90, a.rounds, get_ops,
        [&](std::int64_t i) {
            Item it = Item::objects.get("pk", ids[static_cast<std::size_t>(i)]);
            sink.ids += it.id + it.qty;
            sink.bytes += it.name.size();
            sink.prices += it.price;
        },
        [&](std::int64_t i) { raw.query("raw_get", ids[static_cast<std::size_t>(i)], sink); }));

    // a filtered, ordered list of 100 rows
    const std::int64_t list_ops = a.quick ? 200 : 2'000;
    if (wanted("list")) rows.push_back(compare(
        fmt::format("orm filtered ordered list (100 rows), {} sync", label), baseline, 0.85, a.rounds, list_ops,
        [&](std::int64_t i) {
            for (const Item& it : Item::objects.filter("qty__lt", 20 + i % 50).order_by("-price", "id").slice(0, 100)) {
                sink.ids += it.id + it.qty;
                sink.bytes += it.name.size();
                sink.prices += it.price;
            }
        },
        [&](std::int64_t i) { raw.query("raw_list", 20 + i % 50, sink); }));

    // bulk_create: rows per second, each round into an empty table
    if (!wanted("bulk")) {
        orm::drop_tables<Item>();
        fmt::print("  (checksum {} {} {:.0f})\n", sink.ids, sink.bytes, sink.prices);
        return rows;
    }
    const std::int64_t bulk_rows = a.quick ? 20'000 : 100'000;
    const auto source = make_items(bulk_rows);
    std::vector<double> ours, theirs;
    auto clear = [&] { raw.exec("DELETE FROM bench_orm_item"); };
    auto time_ours = [&] {
        clear();
        auto items = source;
        auto t0 = std::chrono::steady_clock::now();
        Item::objects.bulk_create(items);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (items.back().id == 0 && orm::database().features().can_return_rows_from_bulk_insert)
            throw std::runtime_error("bulk_create did not fill primary keys");
        return static_cast<double>(bulk_rows) / s;
    };
    auto time_theirs = [&] {
        clear();
        auto t0 = std::chrono::steady_clock::now();
        raw.bulk_insert(source);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return static_cast<double>(bulk_rows) / s;
    };
    time_ours();
    time_theirs();
    for (int r = 0; r < a.rounds; ++r) {
        if (r % 2 == 0) {
            ours.push_back(time_ours());
            theirs.push_back(time_theirs());
        } else {
            theirs.push_back(time_theirs());
            ours.push_back(time_ours());
        }
    }
    Comparison bulk{fmt::format("orm bulk_create {} rows, {} (rows/s)", bulk_rows, label),
                    label == "sqlite" ? "raw sqlite3 tx" : "raw libpq 1000/stmt", 0.80, {median(ours), 0},
                    {median(theirs), 0}};
    bulk.unit = "rows/s";
    set_paired_ratio(bulk, ours, theirs);
    fmt::print("  {:<44} ours {:>10.0f} rows/s  {} {:>10.0f} rows/s  ratio {:.3f}\n", bulk.name, bulk.ours.ops_per_sec,
               bulk.baseline, bulk.theirs.ops_per_sec, bulk.ratio());
    rows.push_back(bulk);
    orm::drop_tables<Item>();
    fmt::print("  (checksum {} {} {:.0f})\n", sink.ids, sink.bytes, sink.prices);
    return rows;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    auto extra = [](const std::string& flag, const std::function<std::string()>& next) {
        if (flag != "--only") return false;
        only = next();
        return only == "get" || only == "list" || only == "bulk";
    };
    if (!parse_args(argc, argv, a,
                    "orm_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick] [--only get|list|bulk]",
                    extra))
        return 2;
    std::vector<Comparison> rows;
    try {
        if (!a.pg_url.empty()) {
            // One pooled connection, as the raw loop has one.
            const std::string url = a.pg_url + (a.pg_url.find('?') == std::string::npos ? "?" : "&") + "pool_size=1";
            RawPg raw(a.pg_url);
            for (auto& r : run_backend(a, "postgresql", url, raw, "raw libpq", "$1")) rows.push_back(r);
        }
        if (!a.sqlite_path.empty()) {
            const std::string url = "sqlite://" + a.sqlite_path + "?pool_size=1";
            orm::connect(url);
            reset_table();  // the raw connection needs the table to exist before it opens
            RawSqlite raw(a.sqlite_path);
            for (auto& r : run_backend(a, "sqlite", url, raw, "raw sqlite3", "?")) rows.push_back(r);
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "orm_bench: {}\n", e.what());
        return 1;
    }
    print_table(rows);
    if (!a.json.empty()) write_json(a.json, rows);
    return 0;
}
