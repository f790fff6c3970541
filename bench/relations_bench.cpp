// Relation benchmarks, on SQLite and PostgreSQL in the same run:
//  (a) 1,000 books, each with one of 100 authors: iterate the books touching book.author->name,
//      loading the authors lazily (N+1 statements), with select_related("author") (one statement
//      with a JOIN) and with prefetch_related("author") (two statements). Prints the statements
//      each issues (counted through the query log, and checked) and the time per iteration;
//      the comparisons are against the lazy N+1 loop (target: faster than it);
//  (b) select_related for one row (a book by primary key with its author) vs. the same JOIN
//      through a raw sqlite3 prepared statement / raw libpq PQexecPrepared (target >= 0.85).
// Sync mode, one connection (pool_size=1), as the raw loops have one.
//   relations_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick]
#include <atomic>
#include <functional>
#include <memory>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "bench/bench_util.hpp"
#include "orm/orm.hpp"

using namespace weft::bench;

struct BenchBook;

struct BenchAuthor : orm::Model<BenchAuthor> {
    std::int64_t id = 0;
    std::string name;
    std::string country;

    static void describe(orm::Meta<BenchAuthor>& m) {
        m.table("bench_rel_author");
        m.field(&BenchAuthor::id, "id").primary_key();
        m.field(&BenchAuthor::name, "name").max_length(60);
        m.field(&BenchAuthor::country, "country").max_length(40);
    }
};

struct BenchBook : orm::Model<BenchBook> {
    std::int64_t id = 0;
    std::string title;
    double price = 0;
    orm::ForeignKey<BenchAuthor> author;

    static void describe(orm::Meta<BenchBook>& m) {
        m.table("bench_rel_book");
        m.field(&BenchBook::id, "id").primary_key();
        m.field(&BenchBook::title, "title").max_length(100);
        m.field(&BenchBook::price, "price");
        m.field(&BenchBook::author, "author").on_delete(orm::OnDelete::cascade).related_name("books");
    }
};

namespace {

constexpr std::int64_t n_authors = 100;
constexpr std::int64_t n_books = 1000;

const char* const join_sql_tail =
    " FROM bench_rel_book b INNER JOIN bench_rel_author a ON a.id = b.author_id WHERE b.id = ";
const std::string join_select = "SELECT b.id, b.title, b.price, b.author_id, a.id, a.name, a.country";

struct Sink {
    std::int64_t ids = 0;
    std::size_t bytes = 0;
    double prices = 0;
};

void reset_tables() {
    orm::drop_tables<BenchAuthor, BenchBook>();
    orm::create_tables<BenchAuthor, BenchBook>();
}

void fill_tables() {
    std::vector<BenchAuthor> authors;
    for (std::int64_t i = 1; i <= n_authors; ++i)
        authors.push_back({.name = fmt::format("author {}", i), .country = i % 3 ? "NZ" : "IS"});
    BenchAuthor::objects.bulk_create(authors);
    std::vector<std::int64_t> keys = BenchAuthor::objects.order_by("id").values_as<std::int64_t>("id");
    std::vector<BenchBook> books;
    for (std::int64_t i = 1; i <= n_books; ++i)
        books.push_back({.title = fmt::format("book {}", i), .price = static_cast<double>(i % 50) + 0.5,
                         .author = keys[static_cast<std::size_t>((i * 7) % n_authors)]});
    BenchBook::objects.bulk_create(books);
}

// The raw side: the same JOIN, prepared once, by one int64 parameter; reads every column.
struct Raw {
    virtual ~Raw() = default;
    virtual void get(std::int64_t id, Sink& sink) = 0;
};

struct RawPg : Raw {
    PGconn* c;
    explicit RawPg(const std::string& url) : c(PQconnectdb(orm::db::parse_url(url).target.c_str())) {
        if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c));
        PGresult* r = PQprepare(c, "raw_join", (join_select + join_sql_tail + "$1").c_str(), 0, nullptr);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            std::string m = PQerrorMessage(c);
            PQclear(r);
            throw std::runtime_error(m);
        }
        PQclear(r);
    }
    ~RawPg() override { PQfinish(c); }
    void get(std::int64_t id, Sink& sink) override {
        char buf[24];
        auto len = fmt::format_to_n(buf, sizeof buf - 1, "{}", id).size;
        buf[len] = '\0';
        const char* values[1] = {buf};
        PGresult* r = PQexecPrepared(c, "raw_join", 1, values, nullptr, nullptr, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            std::string m = PQerrorMessage(c);
            PQclear(r);
            throw std::runtime_error(m);
        }
        for (int row = 0; row < PQntuples(r); ++row) {
            sink.ids += std::strtoll(PQgetvalue(r, row, 0), nullptr, 10);
            sink.bytes += std::string(PQgetvalue(r, row, 1), static_cast<std::size_t>(PQgetlength(r, row, 1))).size();
            sink.prices += std::strtod(PQgetvalue(r, row, 2), nullptr);
            sink.ids += std::strtoll(PQgetvalue(r, row, 3), nullptr, 10);
            sink.ids += std::strtoll(PQgetvalue(r, row, 4), nullptr, 10);
            sink.bytes += std::string(PQgetvalue(r, row, 5), static_cast<std::size_t>(PQgetlength(r, row, 5))).size();
            sink.bytes += std::string(PQgetvalue(r, row, 6), static_cast<std::size_t>(PQgetlength(r, row, 6))).size();
        }
        PQclear(r);
    }
};

struct RawSqlite : Raw {
    sqlite3* db = nullptr;
    sqlite3_stmt* stmt = nullptr;
    explicit RawSqlite(const std::string& path) {
        if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
            throw std::runtime_error("sqlite3_open_v2 failed");
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_prepare_v3(db, (join_select + join_sql_tail + "?").c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                               nullptr) != SQLITE_OK)
            throw std::runtime_error(sqlite3_errmsg(db));
    }
    ~RawSqlite() override {
        sqlite3_finalize(stmt);
        sqlite3_close(db);
    }
    void get(std::int64_t id, Sink& sink) override {
        sqlite3_bind_int64(stmt, 1, id);
        auto text = [&](int col) {
            return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, col)),
                               static_cast<std::size_t>(sqlite3_column_bytes(stmt, col)));
        };
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            sink.ids += sqlite3_column_int64(stmt, 0);
            sink.bytes += text(1).size();
            sink.prices += sqlite3_column_double(stmt, 2);
            sink.ids += sqlite3_column_int64(stmt, 3);
            sink.ids += sqlite3_column_int64(stmt, 4);
            sink.bytes += text(5).size();
            sink.bytes += text(6).size();
        }
        sqlite3_reset(stmt);
    }
};

// Counts the statements the ORM sends while it lives.
class StatementCounter {
public:
    StatementCounter() {
        orm::set_query_logger([this](const orm::QueryEvent&) { n_.fetch_add(1, std::memory_order_relaxed); });
    }
    ~StatementCounter() { orm::set_query_logger({}); }
    std::int64_t count() const { return n_.load(); }

private:
    std::atomic<std::int64_t> n_{0};
};

struct Strategy {
    const char* name;
    std::int64_t expected_statements;
    std::function<orm::QuerySet<BenchBook>()> query;
};

// One iteration: evaluate the books and read every book's author's name.
void iterate(const Strategy& s, Sink& sink) {
    for (const BenchBook& b : s.query()) {
        sink.bytes += b.author->name.size() + b.title.size();
        sink.ids += b.id;
    }
}

struct StrategyResult {
    std::string name;
    std::int64_t statements = 0;
    std::vector<double> per_sec, cpu_us;
};

using RawFactory = std::function<std::unique_ptr<Raw>()>;

std::vector<Comparison> run_backend(const Args& a, const std::string& label, const std::string& url,
                                    const RawFactory& make_raw, const std::string& baseline, bool& ok) {
    std::vector<Comparison> rows;
    Sink sink;
    orm::connect(url);
    reset_tables();
    fill_tables();
    const auto raw = make_raw();  // prepares its JOIN against the tables just made

    // (a) lazy vs select_related vs prefetch_related
    const std::vector<Strategy> strategies{
        {"lazy (N+1)", n_books + 1, [] { return BenchBook::objects.order_by("id"); }},
        {"select_related", 1, [] { return BenchBook::objects.select_related("author").order_by("id"); }},
        {"prefetch_related", 2, [] { return BenchBook::objects.prefetch_related("author").order_by("id"); }},
    };
    std::vector<StrategyResult> results(strategies.size());
    for (std::size_t i = 0; i < strategies.size(); ++i) {
        results[i].name = strategies[i].name;
        StatementCounter counter;
        iterate(strategies[i], sink);  // also warms statement caches
        results[i].statements = counter.count();
        if (results[i].statements != strategies[i].expected_statements) {
            fmt::print(stderr, "relations_bench: {} on {} sent {} statements, expected {}\n", strategies[i].name, label,
                       results[i].statements, strategies[i].expected_statements);
            ok = false;
        }
    }
    // Iterations per measurement: the lazy loop costs n_books round trips.
    const std::int64_t iters = a.quick ? 2 : (label == "sqlite" ? 20 : 5);
    for (int r = 0; r < a.rounds; ++r) {
        for (std::size_t k = 0; k < strategies.size(); ++k) {
            // Rotate the order per round so drift on a shared machine hits all alike.
            const std::size_t i = (k + static_cast<std::size_t>(r)) % strategies.size();
            Sample s = measure(iters, [&](std::int64_t) { iterate(strategies[i], sink); });
            results[i].per_sec.push_back(s.ops_per_sec);
            results[i].cpu_us.push_back(s.cpu_us_per_op);
        }
    }
    fmt::print("  {}: {} books with their authors ({} authors), per iteration over all books\n", label, n_books, n_authors);
    fmt::print("    {:<18} {:>10} {:>12} {:>14}\n", "strategy", "statements", "ms", "cpu ms");
    for (const auto& res : results)
        fmt::print("    {:<18} {:>10} {:>12.2f} {:>14.2f}\n", res.name, res.statements, 1000.0 / median(res.per_sec),
                   median(res.cpu_us) / 1000.0);
    const Sample lazy{median(results[0].per_sec), median(results[0].cpu_us)};
    for (std::size_t i = 1; i < results.size(); ++i) {
        Comparison c{fmt::format("{} books+author, {} ({} stmt vs {}), {}", n_books, results[i].name,
                                 results[i].statements, results[0].statements, label),
                     "lazy N+1", 1.0, {median(results[i].per_sec), median(results[i].cpu_us)}, lazy};
        c.unit = "iter/s";
        rows.push_back(c);
    }

    // (b) one row with its author: select_related + get(pk) vs the hand-written JOIN
    const std::int64_t get_ops = a.quick ? (label == "sqlite" ? 20'000 : 2'000) : (label == "sqlite" ? 200'000 : 20'000);
    auto book_ids = BenchBook::objects.order_by("id").values_as<std::int64_t>("id");
    std::mt19937_64 rng(17);
    std::vector<std::int64_t> ids(static_cast<std::size_t>(get_ops));
    for (auto& id : ids) id = book_ids[rng() % book_ids.size()];
    {
        StatementCounter counter;
        auto b = BenchBook::objects.select_related("author").get("pk", ids[0]);
        sink.bytes += b.author->name.size();
        if (counter.count() != 1) {
            fmt::print(stderr, "relations_bench: select_related get on {} sent {} statements, expected 1\n", label,
                       counter.count());
            ok = false;
        }
    }
    rows.push_back(compare(
        fmt::format("select_related get by pk + author, {} sync", label), baseline, 0.85, a.rounds, get_ops,
        [&](std::int64_t i) {
            BenchBook b = BenchBook::objects.select_related("author").get("pk", ids[static_cast<std::size_t>(i)]);
            const BenchAuthor& au = *b.author;
            sink.ids += b.id + au.id + *b.author.id();
            sink.bytes += b.title.size() + au.name.size() + au.country.size();
            sink.prices += b.price;
        },
        [&](std::int64_t i) { raw->get(ids[static_cast<std::size_t>(i)], sink); }));

    orm::drop_tables<BenchAuthor, BenchBook>();
    fmt::print("  (checksum {} {} {:.0f})\n", sink.ids, sink.bytes, sink.prices);
    return rows;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parse_args(argc, argv, a, "relations_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick]"))
        return 2;
    std::vector<Comparison> rows;
    bool ok = true;
    try {
        if (!a.sqlite_path.empty()) {
            const std::string url = "sqlite://" + a.sqlite_path + "?pool_size=1";
            const RawFactory raw = [&]() -> std::unique_ptr<Raw> { return std::make_unique<RawSqlite>(a.sqlite_path); };
            for (auto& r : run_backend(a, "sqlite", url, raw, "raw sqlite3 JOIN", ok)) rows.push_back(r);
        }
        if (!a.pg_url.empty()) {
            const std::string url = a.pg_url + (a.pg_url.find('?') == std::string::npos ? "?" : "&") + "pool_size=1";
            const RawFactory raw = [&]() -> std::unique_ptr<Raw> { return std::make_unique<RawPg>(a.pg_url); };
            for (auto& r : run_backend(a, "postgresql", url, raw, "raw libpq JOIN", ok)) rows.push_back(r);
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "relations_bench: {}\n", e.what());
        return 1;
    }
    print_table(rows);
    if (!a.json.empty()) write_json(a.json, rows);
    return ok ? 0 : 1;
}
