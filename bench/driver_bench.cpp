// Driver benchmarks: point select by primary key through our drivers vs. raw libpq
// (PQexecPrepared) and raw sqlite3 (prepared statement), alternating, in the same run.
//   driver_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick]
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "bench/bench_util.hpp"
#include "orm/orm.hpp"

using namespace weft::bench;

namespace {

constexpr std::int64_t table_rows = 10'000;

std::vector<std::int64_t> random_ids(std::size_t n) {
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<std::int64_t> dist(1, table_rows);
    std::vector<std::int64_t> ids(n);
    for (auto& id : ids) id = dist(rng);
    return ids;
}

void fill_table(orm::db::Connection& c) {
    const auto& d = c.dialect();
    c.execute_script("DROP TABLE IF EXISTS bench_items");
    c.backend().schema_editor().create_table(
        c, orm::db::TableSpec{"bench_items",
                              {{.name = "id", .type = orm::db::ColumnType::int64, .primary_key = true},
                               {.name = "name", .type = orm::db::ColumnType::text},
                               {.name = "price", .type = orm::db::ColumnType::float64},
                               {.name = "qty", .type = orm::db::ColumnType::int32}},
                              {}});
    orm::db::Transaction tx(c);
    std::string sql = fmt::format("INSERT INTO bench_items (id, name, price, qty) VALUES ({}, {}, {}, {})",
                                  d.placeholder(1), d.placeholder(2), d.placeholder(3), d.placeholder(4));
    for (std::int64_t i = 1; i <= table_rows; ++i)
        c.execute(sql, {i, fmt::format("item {}", i), static_cast<double>(i) * 0.25, static_cast<std::int32_t>(i % 100)});
    tx.commit();
}

// What both sides do with a row: read every column into C++ values.
struct RowSink {
    std::int64_t id_sum = 0;
    std::size_t name_bytes = 0;
    double price_sum = 0;
    std::int64_t qty_sum = 0;
};

// Our side of a point select: run it through the driver and read every column.
void point_select(orm::db::Connection& c, const std::string& sql, std::int64_t id, RowSink& sink) {
    auto r = c.execute(sql, {id});
    while (r.next()) {
        auto row = r.row();
        sink.id_sum += row.get<std::int64_t>(0);
        sink.name_bytes += row.get<std::string_view>(1).size();
        sink.price_sum += row.get<double>(2);
        sink.qty_sum += row.get<std::int32_t>(3);
    }
}

Comparison bench_pg_point_select(const Args& a, RowSink& sink) {
    auto db = orm::db::Database::open(a.pg_url);
    auto conn = db->acquire();
    fill_table(*conn);
    const std::string ours_sql = "SELECT id, name, price, qty FROM bench_items WHERE id = $1";
    const std::int64_t ops = a.quick ? 2'000 : 20'000;
    auto ids = random_ids(static_cast<std::size_t>(ops));

    // Baseline: the same statement through raw libpq, prepared once, text results parsed.
    std::string conninfo = orm::db::parse_url(a.pg_url).target;
    PGconn* raw = PQconnectdb(conninfo.c_str());
    if (PQstatus(raw) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(raw));
    PGresult* prep = PQprepare(raw, "raw_point", ours_sql.c_str(), 1, nullptr);
    if (PQresultStatus(prep) != PGRES_COMMAND_OK) throw std::runtime_error(PQerrorMessage(raw));
    PQclear(prep);

    auto ours = [&](std::int64_t i) { point_select(*conn, ours_sql, ids[static_cast<std::size_t>(i)], sink); };
    auto theirs = [&](std::int64_t i) {
        char buf[24];
        auto len = fmt::format_to_n(buf, sizeof buf - 1, "{}", ids[static_cast<std::size_t>(i)]).size;
        buf[len] = '\0';
        const char* values[1] = {buf};
        PGresult* r = PQexecPrepared(raw, "raw_point", 1, values, nullptr, nullptr, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) throw std::runtime_error(PQerrorMessage(raw));
        for (int row = 0; row < PQntuples(r); ++row) {
            sink.id_sum += std::strtoll(PQgetvalue(r, row, 0), nullptr, 10);
            sink.name_bytes += static_cast<std::size_t>(PQgetlength(r, row, 1));
            sink.price_sum += std::strtod(PQgetvalue(r, row, 2), nullptr);
            sink.qty_sum += std::strtol(PQgetvalue(r, row, 3), nullptr, 10);
        }
        PQclear(r);
    };
    auto c = compare("point select by pk, postgresql sync", "raw libpq", 0.90, a.rounds, ops, ours, theirs);
    PQfinish(raw);
    conn->execute_script("DROP TABLE bench_items");
    return c;
}

Comparison bench_sqlite_point_select(const Args& a, RowSink& sink) {
    auto db = orm::db::Database::open("sqlite://" + a.sqlite_path);
    auto conn = db->acquire();
    fill_table(*conn);
    const std::string sql = "SELECT id, name, price, qty FROM bench_items WHERE id = ?";
    const std::int64_t ops = a.quick ? 20'000 : 200'000;
    auto ids = random_ids(static_cast<std::size_t>(ops));

    sqlite3* raw = nullptr;
    if (sqlite3_open_v2(a.sqlite_path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
        throw std::runtime_error("sqlite3_open_v2 failed");
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(raw, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK)
        throw std::runtime_error(sqlite3_errmsg(raw));

    auto ours = [&](std::int64_t i) { point_select(*conn, sql, ids[static_cast<std::size_t>(i)], sink); };
    auto theirs = [&](std::int64_t i) {
        sqlite3_bind_int64(stmt, 1, ids[static_cast<std::size_t>(i)]);
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            sink.id_sum += sqlite3_column_int64(stmt, 0);
            sink.name_bytes += static_cast<std::size_t>(sqlite3_column_bytes(stmt, 1));
            sink.price_sum += sqlite3_column_double(stmt, 2);
            sink.qty_sum += sqlite3_column_int(stmt, 3);
        }
        sqlite3_reset(stmt);
    };
    auto c = compare("point select by pk, sqlite sync", "raw sqlite3", 0.90, a.rounds, ops, ours, theirs);
    sqlite3_finalize(stmt);
    sqlite3_close(raw);
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parse_args(argc, argv, a, "driver_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick]")) return 2;
    std::vector<Comparison> rows;
    RowSink sink;
    try {
        if (!a.pg_url.empty()) rows.push_back(bench_pg_point_select(a, sink));
        if (!a.sqlite_path.empty()) rows.push_back(bench_sqlite_point_select(a, sink));
    } catch (const std::exception& e) {
        fmt::print(stderr, "driver_bench: {}\n", e.what());
        return 1;
    }
    print_table(rows);
    if (!a.json.empty()) write_json(a.json, rows);
    // Keep the sink observable so neither loop can be optimised away.
    fmt::print("(checksum {} {} {:.0f} {})\n", sink.id_sum, sink.name_bytes, sink.price_sum, sink.qty_sum);
    return 0;
}
