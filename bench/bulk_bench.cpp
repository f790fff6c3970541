// Bulk write benchmarks (issues 17 and 18), each against hand-written SQL through the raw driver in
// the same run, alternating rounds, medians of the per-round ratios:
//  - PostgreSQL bulk_create of 100,000 rows with explicit keys (no keys back: one binary COPY) vs.
//    raw libpq binary COPY of the same rows (target >= 0.80);
//  - the same with keys assigned by the database and set on the objects (one nextval statement
//    for all the keys, then the COPY) vs. the same raw COPY without keys;
//  - upsert bulk_create(update_conflicts) of 100,000 rows, half of them conflicting, vs. raw
//    INSERT ... ON CONFLICT DO UPDATE (libpq: 1,000 rows per prepared statement; sqlite3: one
//    prepared statement per row), both backends (target >= 0.90);
//  - bulk_update of 20,000 objects (two fields) vs. the same UPDATE ... CASE statements through the
//    raw driver, both backends (target >= 0.90).
//   bulk_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick]
#include <bit>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "bench/bench_util.hpp"
#include "orm/orm.hpp"

using namespace weft::bench;

struct Row : orm::Model<Row> {
    std::int64_t id = 0;
    std::string code;
    std::string name;
    double price = 0;
    std::int32_t qty = 0;

    static void describe(orm::Meta<Row>& m) {
        m.table("bench_bulk_row");
        m.field(&Row::id, "id").primary_key();
        m.field(&Row::code, "code").max_length(32).unique();
        m.field(&Row::name, "name");
        m.field(&Row::price, "price");
        m.field(&Row::qty, "qty");
    }
};

namespace {

using Clock = std::chrono::steady_clock;

std::vector<Row> make_rows(std::int64_t n, std::int64_t first_key, bool keys, int variant) {
    std::vector<Row> v;
    v.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        Row r;
        if (keys) r.id = first_key + i;
        r.code = fmt::format("code-{}", first_key + i);
        r.name = fmt::format("item {} v{}", first_key + i, variant);
        r.price = static_cast<double>((i + variant) % 1000) * 0.25;
        r.qty = static_cast<std::int32_t>((i + variant) % 100);
        v.push_back(std::move(r));
    }
    return v;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

template <class T>
void put_be(std::string& out, T x) {
    using U = std::make_unsigned_t<T>;
    U u = static_cast<U>(x);
    for (int i = sizeof(T) - 1; i >= 0; --i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

struct RawPg {
    PGconn* c;
    explicit RawPg(const std::string& url) : c(PQconnectdb(orm::db::parse_url(url).target.c_str())) {
        if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c));
    }
    ~RawPg() { PQfinish(c); }
    void check(PGresult* r, ExecStatusType want) {
        bool ok = PQresultStatus(r) == want;
        std::string m = ok ? "" : PQerrorMessage(c);
        PQclear(r);
        if (!ok) throw std::runtime_error(m);
    }
    void exec(const std::string& sql) { check(PQexec(c, sql.c_str()), PGRES_COMMAND_OK); }
    // Binary COPY of rows (with their id when with_id), 256 KB per PQputCopyData, in a transaction.
    void copy(const std::vector<Row>& rows, bool with_id) {
        exec("BEGIN");
        check(PQexec(c, with_id ? "COPY bench_bulk_row (id, code, name, price, qty) FROM STDIN (FORMAT binary)"
                                : "COPY bench_bulk_row (code, name, price, qty) FROM STDIN (FORMAT binary)"),
              PGRES_COPY_IN);
        std::string buf;
        buf.reserve(300 * 1024);
        buf.append("PGCOPY\n\377\r\n\0", 11);
        put_be<std::int32_t>(buf, 0);
        put_be<std::int32_t>(buf, 0);
        auto send = [&] {
            if (PQputCopyData(c, buf.data(), static_cast<int>(buf.size())) != 1) throw std::runtime_error(PQerrorMessage(c));
            buf.clear();
        };
        for (const Row& r : rows) {
            put_be<std::int16_t>(buf, with_id ? 5 : 4);
            if (with_id) {
                put_be<std::int32_t>(buf, 8);
                put_be<std::int64_t>(buf, r.id);
            }
            put_be<std::int32_t>(buf, static_cast<std::int32_t>(r.code.size()));
            buf += r.code;
            put_be<std::int32_t>(buf, static_cast<std::int32_t>(r.name.size()));
            buf += r.name;
            put_be<std::int32_t>(buf, 8);
            put_be<std::uint64_t>(buf, std::bit_cast<std::uint64_t>(r.price));
            put_be<std::int32_t>(buf, 4);
            put_be<std::int32_t>(buf, r.qty);
            if (buf.size() >= 256 * 1024) send();
        }
        put_be<std::int16_t>(buf, -1);
        send();
        if (PQputCopyEnd(c, nullptr) != 1) throw std::runtime_error(PQerrorMessage(c));
        check(PQgetResult(c), PGRES_COMMAND_OK);
        while (PGresult* r = PQgetResult(c)) PQclear(r);
        exec("COMMIT");
    }
    // INSERT ... ON CONFLICT (code) DO UPDATE, 1,000 rows per prepared statement, in a transaction.
    void upsert(const std::vector<Row>& rows) {
        constexpr std::size_t per = 1000;
        static bool prepared = false;
        if (!prepared) {
            std::string sql = "INSERT INTO bench_bulk_row (code, name, price, qty) VALUES ";
            for (std::size_t i = 0; i < per; ++i)
                sql += fmt::format("{}(${}, ${}, ${}, ${})", i ? ", " : "", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4);
            sql += " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price, qty = EXCLUDED.qty";
            check(PQprepare(c, "raw_upsert", sql.c_str(), 0, nullptr), PGRES_COMMAND_OK);
            prepared = true;
        }
        exec("BEGIN");
        std::vector<std::string> text(4 * per);
        std::vector<const char*> values(4 * per);
        for (std::size_t start = 0; start < rows.size(); start += per) {
            for (std::size_t i = 0; i < per; ++i) {
                const Row& r = rows[start + i];
                text[4 * i] = r.code;
                text[4 * i + 1] = r.name;
                text[4 * i + 2] = orm::format_double(r.price);
                text[4 * i + 3] = std::to_string(r.qty);
            }
            for (std::size_t i = 0; i < 4 * per; ++i) values[i] = text[i].c_str();
            check(PQexecPrepared(c, "raw_upsert", static_cast<int>(4 * per), values.data(), nullptr, nullptr, 0),
                  PGRES_COMMAND_OK);
        }
        exec("COMMIT");
    }
    // The UPDATE ... CASE statement bulk_update sends, with the same batch size, in a transaction.
    void update(const std::vector<Row>& rows, std::size_t per) {
        exec("BEGIN");
        for (std::size_t start = 0; start < rows.size(); start += per) {
            std::size_t n = std::min(per, rows.size() - start);
            std::string sql = "UPDATE bench_bulk_row SET price = CASE";
            std::vector<std::string> text;
            text.reserve(5 * n);
            std::size_t p = 0;
            for (std::size_t k = 0; k < n; ++k) {
                sql += fmt::format(" WHEN id = ${}::bigint THEN ${}::double precision", p + 1, p + 2);
                p += 2;
                text.push_back(std::to_string(rows[start + k].id));
                text.push_back(orm::format_double(rows[start + k].price));
            }
            sql += " ELSE price END, qty = CASE";
            for (std::size_t k = 0; k < n; ++k) {
                sql += fmt::format(" WHEN id = ${}::bigint THEN ${}::integer", p + 1, p + 2);
                p += 2;
                text.push_back(std::to_string(rows[start + k].id));
                text.push_back(std::to_string(rows[start + k].qty));
            }
            sql += " ELSE qty END WHERE id IN (";
            for (std::size_t k = 0; k < n; ++k) {
                sql += fmt::format("{}${}", k ? ", " : "", ++p);
                text.push_back(std::to_string(rows[start + k].id));
            }
            sql += ")";
            std::vector<const char*> values;
            for (auto& t : text) values.push_back(t.c_str());
            check(PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0),
                  PGRES_COMMAND_OK);
        }
        exec("COMMIT");
    }
};

struct RawSqlite {
    sqlite3* db = nullptr;
    explicit RawSqlite(const std::string& path) {
        if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
            throw std::runtime_error("sqlite3_open_v2 failed");
        sqlite3_busy_timeout(db, 5000);
    }
    ~RawSqlite() { sqlite3_close(db); }
    void exec(const std::string& sql) {
        if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
    }
    sqlite3_stmt* prepare(const std::string& sql) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
        return s;
    }
    void step(sqlite3_stmt* s) {
        if (sqlite3_step(s) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
        sqlite3_reset(s);
    }
    // One prepared INSERT ... ON CONFLICT per row, in a transaction.
    void upsert(const std::vector<Row>& rows) {
        sqlite3_stmt* s = prepare(
            "INSERT INTO bench_bulk_row (code, name, price, qty) VALUES (?, ?, ?, ?) ON CONFLICT (code) DO UPDATE SET "
            "name = excluded.name, price = excluded.price, qty = excluded.qty");
        exec("BEGIN");
        for (const Row& r : rows) {
            sqlite3_bind_text(s, 1, r.code.data(), static_cast<int>(r.code.size()), SQLITE_STATIC);
            sqlite3_bind_text(s, 2, r.name.data(), static_cast<int>(r.name.size()), SQLITE_STATIC);
            sqlite3_bind_double(s, 3, r.price);
            sqlite3_bind_int(s, 4, r.qty);
            step(s);
        }
        exec("COMMIT");
        sqlite3_finalize(s);
    }
    // One prepared UPDATE per row, in a transaction (what a hand-writer does on SQLite).
    void update(const std::vector<Row>& rows) {
        sqlite3_stmt* s = prepare("UPDATE bench_bulk_row SET price = ?, qty = ? WHERE id = ?");
        exec("BEGIN");
        for (const Row& r : rows) {
            sqlite3_bind_double(s, 1, r.price);
            sqlite3_bind_int(s, 2, r.qty);
            sqlite3_bind_int64(s, 3, r.id);
            step(s);
        }
        exec("COMMIT");
        sqlite3_finalize(s);
    }
};

// Rounds of ours and theirs alternating (each goes first every other round); returns rows/s medians.
template <class Ours, class Theirs>
Comparison rounds(const Args& a, std::string name, std::string baseline, double target, double rows, Ours&& ours,
                  Theirs&& theirs) {
    std::vector<double> o, t;
    ours();
    theirs();  // warm-up
    for (int r = 0; r < a.rounds; ++r) {
        if (r % 2 == 0) {
            o.push_back(rows / ours());
            t.push_back(rows / theirs());
        } else {
            t.push_back(rows / theirs());
            o.push_back(rows / ours());
        }
    }
    Comparison c{std::move(name), std::move(baseline), target, {median(o), 0}, {median(t), 0}};
    c.unit = "rows/s";
    set_paired_ratio(c, o, t);
    fmt::print("  {:<58} ours {:>9.0f} rows/s  {} {:>9.0f} rows/s  ratio {:.3f}\n", c.name, c.ours.ops_per_sec,
               c.baseline, c.theirs.ops_per_sec, c.ratio());
    return c;
}

void reset() {
    orm::drop_tables<Row>();
    orm::create_tables<Row>();
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parse_args(argc, argv, a, "bulk_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick]")) return 2;
    std::vector<Comparison> out;
    const std::int64_t n = a.quick ? 20'000 : 100'000;
    const std::int64_t n_update = a.quick ? 5'000 : 20'000;
    try {
        if (!a.pg_url.empty()) {
            orm::connect(a.pg_url + (a.pg_url.find('?') == std::string::npos ? "?" : "&") + "pool_size=1");
            reset();
            RawPg raw(a.pg_url);
            const auto keyed = make_rows(n, 1, true, 0);
            const auto unkeyed = make_rows(n, 1, false, 0);
            auto clear = [&] { raw.exec("TRUNCATE bench_bulk_row"); };
            out.push_back(rounds(
                a, fmt::format("bulk_create {} rows, explicit keys, postgresql", n), "raw libpq COPY binary", 0.80,
                static_cast<double>(n),
                [&] {
                    clear();
                    auto rows = keyed;
                    auto t0 = Clock::now();
                    Row::objects.bulk_create(rows);
                    return seconds_since(t0);
                },
                [&] {
                    clear();
                    auto t0 = Clock::now();
                    raw.copy(keyed, true);
                    return seconds_since(t0);
                }));
            out.push_back(rounds(
                a, fmt::format("bulk_create {} rows, keys back, postgresql", n), "raw libpq COPY binary", 0.80,
                static_cast<double>(n),
                [&] {
                    clear();
                    auto rows = unkeyed;
                    auto t0 = Clock::now();
                    Row::objects.bulk_create(rows);
                    double s = seconds_since(t0);
                    if (rows.back().id == 0) throw std::runtime_error("bulk_create did not set the keys");
                    return s;
                },
                [&] {
                    clear();
                    auto t0 = Clock::now();
                    raw.copy(unkeyed, false);
                    return seconds_since(t0);
                }));
            // Upsert: half of the rows are there already.
            const auto half = make_rows(n / 2, 1, false, 0);
            const auto upserts = make_rows(n, n / 4 + 1, false, 1);
            out.push_back(rounds(
                a, fmt::format("upsert bulk_create {} rows (half conflict), postgresql", n),
                "raw libpq INSERT..ON CONFLICT 1000/stmt", 0.90, static_cast<double>(n),
                [&] {
                    clear();
                    raw.copy(half, false);
                    auto rows = upserts;
                    auto t0 = Clock::now();
                    Row::objects.bulk_create(rows, {.update_conflicts = true,
                                                    .update_fields = {&Row::name, &Row::price, &Row::qty},
                                                    .unique_fields = {&Row::code}});
                    return seconds_since(t0);
                },
                [&] {
                    clear();
                    raw.copy(half, false);
                    auto t0 = Clock::now();
                    raw.upsert(upserts);
                    return seconds_since(t0);
                }));
            // bulk_update of n_update objects, two fields.
            clear();
            raw.copy(make_rows(n_update, 1, true, 0), true);
            auto changed = make_rows(n_update, 1, true, 7);
            const std::size_t per = 7498 / 5;  // what bulk_update fits in PostgreSQL's parameter limit
            int flip = 0;
            out.push_back(rounds(
                a, fmt::format("bulk_update {} objects (2 fields), postgresql", n_update), "raw libpq same UPDATE..CASE",
                0.90, static_cast<double>(n_update),
                [&] {
                    for (auto& r : changed) r.qty = (r.qty + 1 + flip) % 100;
                    ++flip;
                    auto t0 = Clock::now();
                    Row::objects.bulk_update(changed, {&Row::price, &Row::qty});
                    return seconds_since(t0);
                },
                [&] {
                    for (auto& r : changed) r.qty = (r.qty + 1 + flip) % 100;
                    ++flip;
                    auto t0 = Clock::now();
                    raw.update(changed, per);
                    return seconds_since(t0);
                }));
            orm::drop_tables<Row>();
            orm::disconnect("default");
        }
        if (!a.sqlite_path.empty()) {
            orm::connect("sqlite://" + a.sqlite_path + "?pool_size=1");
            reset();
            RawSqlite raw(a.sqlite_path);
            auto clear = [&] { raw.exec("DELETE FROM bench_bulk_row"); };
            const auto half = make_rows(n / 2, 1, false, 0);
            const auto upserts = make_rows(n, n / 4 + 1, false, 1);
            auto fill_half = [&] {
                auto rows = half;
                Row::objects.bulk_create(rows);
            };
            out.push_back(rounds(
                a, fmt::format("upsert bulk_create {} rows (half conflict), sqlite", n),
                "raw sqlite3 INSERT..ON CONFLICT per row", 0.90, static_cast<double>(n),
                [&] {
                    clear();
                    fill_half();
                    auto rows = upserts;
                    auto t0 = Clock::now();
                    Row::objects.bulk_create(rows, {.update_conflicts = true,
                                                    .update_fields = {&Row::name, &Row::price, &Row::qty},
                                                    .unique_fields = {&Row::code}});
                    return seconds_since(t0);
                },
                [&] {
                    clear();
                    fill_half();
                    auto t0 = Clock::now();
                    raw.upsert(upserts);
                    return seconds_since(t0);
                }));
            clear();
            {
                auto rows = make_rows(n_update, 1, true, 0);
                Row::objects.bulk_create(rows);
            }
            auto changed = make_rows(n_update, 1, true, 7);
            int flip = 0;
            out.push_back(rounds(
                a, fmt::format("bulk_update {} objects (2 fields), sqlite", n_update), "raw sqlite3 UPDATE per row", 0.90,
                static_cast<double>(n_update),
                [&] {
                    for (auto& r : changed) r.qty = (r.qty + 1 + flip) % 100;
                    ++flip;
                    auto t0 = Clock::now();
                    Row::objects.bulk_update(changed, {&Row::price, &Row::qty});
                    return seconds_since(t0);
                },
                [&] {
                    for (auto& r : changed) r.qty = (r.qty + 1 + flip) % 100;
                    ++flip;
                    auto t0 = Clock::now();
                    raw.update(changed);
                    return seconds_since(t0);
                }));
            orm::drop_tables<Row>();
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "bulk_bench: {}\n", e.what());
        return 1;
    }
    print_table(out);
    if (!a.json.empty()) write_json(a.json, out);
    return 0;
}
