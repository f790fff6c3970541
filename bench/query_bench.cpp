// Query-language benchmarks (issue 17), on SQLite and PostgreSQL in the same run, each against the
// equivalent hand-written SQL through the raw driver (a prepared sqlite3 statement / libpq
// PQexecPrepared), reading every column of every row:
//  (a) an annotated query with Case / When and a conditional Count over 10,000 rows:
//        values("genre").annotate(long = Count("id", filter=Q(pages__gt=300)),
//                                 weighted = Sum(Case(When(price__gt=20, then=2), default=1)))
//        .order_by("genre")           (10 groups of 1,000 books)
//  (b) an Exists subquery filter: the 100 authors with a book of more than 990 pages,
//        Author.objects.filter(Exists(Book.objects.filter(author=OuterRef("pk"), pages__gt=990)))
//      read as model objects.
// The ORM side builds its queryset every time, as application code does. Sync mode, one
// connection (pool_size=1), as the raw side has one. Target: ratio >= 0.90.
//   query_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick]
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "bench/bench_util.hpp"
#include "orm/orm.hpp"

using namespace weft::bench;

struct QbBook;

struct QbAuthor : orm::Model<QbAuthor> {
    std::int64_t id = 0;
    std::string name;
    std::string country;

    static void describe(orm::Meta<QbAuthor>& m) {
        m.table("bench_q_author");
        m.field(&QbAuthor::id, "id").primary_key();
        m.field(&QbAuthor::name, "name").max_length(60);
        m.field(&QbAuthor::country, "country").max_length(40);
    }
};

struct QbBook : orm::Model<QbBook> {
    std::int64_t id = 0;
    std::string title;
    std::int32_t pages = 0;
    double price = 0;
    std::int32_t genre = 0;
    orm::ForeignKey<QbAuthor> author;

    static void describe(orm::Meta<QbBook>& m) {
        m.table("bench_q_book");
        m.field(&QbBook::id, "id").primary_key();
        m.field(&QbBook::title, "title").max_length(100);
        m.field(&QbBook::pages, "pages");
        m.field(&QbBook::price, "price");
        m.field(&QbBook::genre, "genre");
        m.field(&QbBook::author, "author").related_name("books");
    }
};

namespace {

constexpr std::int64_t n_authors = 100;
constexpr std::int64_t n_books = 10'000;

// The hand-written statements (placeholders filled per backend).
constexpr const char case_sql[] =
    "SELECT genre, COUNT(CASE WHEN pages > {0} THEN id END), SUM(CASE WHEN price > {1} THEN {2} ELSE {3} END) "
    "FROM bench_q_book GROUP BY genre ORDER BY genre";
constexpr const char exists_sql[] =
    "SELECT a.id, a.name, a.country FROM bench_q_author a WHERE EXISTS (SELECT 1 FROM bench_q_book b WHERE "
    "b.author_id = a.id AND b.pages > {0})";

struct Sink {
    std::int64_t ints = 0;
    std::size_t bytes = 0;
    double reals = 0;
};

void fill_tables() {
    orm::drop_tables<QbAuthor, QbBook>();
    orm::create_tables<QbAuthor, QbBook>();
    std::vector<QbAuthor> authors;
    for (std::int64_t i = 1; i <= n_authors; ++i)
        authors.push_back({.name = fmt::format("author {}", i), .country = i % 3 ? "NZ" : "IS"});
    QbAuthor::objects.bulk_create(authors);
    std::vector<std::int64_t> keys = QbAuthor::objects.order_by("id").values_as<std::int64_t>("id");
    std::mt19937_64 rng(17);
    std::vector<QbBook> books;
    for (std::int64_t i = 1; i <= n_books; ++i)
        books.push_back({.title = fmt::format("book {}", i),
                         .pages = static_cast<std::int32_t>(rng() % 1000 + 1),
                         .price = static_cast<double>(rng() % 4000) / 100.0,
                         .genre = static_cast<std::int32_t>(i % 10),
                         .author = keys[static_cast<std::size_t>(rng() % n_authors)]});
    QbBook::objects.bulk_create(books);
}

// The raw side: both statements prepared once; parameters bound per run.
struct Raw {
    virtual ~Raw() = default;
    virtual void case_when(Sink& sink) = 0;
    virtual void exists(Sink& sink) = 0;
};

struct RawPg : Raw {
    PGconn* c;
    explicit RawPg(const std::string& url) : c(PQconnectdb(orm::db::parse_url(url).target.c_str())) {
        if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c));
        prepare("q_case", fmt::format(case_sql, "$1", "$2", "$3::bigint", "$4::bigint"));
        prepare("q_exists", fmt::format(exists_sql, "$1"));
    }
    ~RawPg() override { PQfinish(c); }
    void prepare(const char* name, const std::string& sql) {
        PGresult* r = PQprepare(c, name, sql.c_str(), 0, nullptr);
        check(r, PGRES_COMMAND_OK);
        PQclear(r);
    }
    void check(PGresult* r, ExecStatusType want) {
        if (PQresultStatus(r) != want) {
            std::string m = PQerrorMessage(c);
            PQclear(r);
            throw std::runtime_error(m);
        }
    }
    // Text parameters as libpq takes them; the types come from the statement.
    void case_when(Sink& sink) override {
        const char* values[4] = {"300", "20", "2", "1"};
        PGresult* r = PQexecPrepared(c, "q_case", 4, values, nullptr, nullptr, 0);
        check(r, PGRES_TUPLES_OK);
        for (int row = 0; row < PQntuples(r); ++row) {
            sink.ints += std::strtoll(PQgetvalue(r, row, 0), nullptr, 10);
            sink.ints += std::strtoll(PQgetvalue(r, row, 1), nullptr, 10);
            sink.ints += std::strtoll(PQgetvalue(r, row, 2), nullptr, 10);
        }
        PQclear(r);
    }
    void exists(Sink& sink) override {
        const char* values[1] = {"990"};
        PGresult* r = PQexecPrepared(c, "q_exists", 1, values, nullptr, nullptr, 0);
        check(r, PGRES_TUPLES_OK);
        for (int row = 0; row < PQntuples(r); ++row) {
            sink.ints += std::strtoll(PQgetvalue(r, row, 0), nullptr, 10);
            sink.bytes += std::string(PQgetvalue(r, row, 1), static_cast<std::size_t>(PQgetlength(r, row, 1))).size();
            sink.bytes += std::string(PQgetvalue(r, row, 2), static_cast<std::size_t>(PQgetlength(r, row, 2))).size();
        }
        PQclear(r);
    }
};

struct RawSqlite : Raw {
    sqlite3* db = nullptr;
    sqlite3_stmt* case_stmt = nullptr;
    sqlite3_stmt* exists_stmt = nullptr;
    explicit RawSqlite(const std::string& path) {
        if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
            throw std::runtime_error("sqlite3_open_v2 failed");
        sqlite3_busy_timeout(db, 5000);
        prepare(fmt::format(case_sql, "?", "?", "?", "?"), &case_stmt);
        prepare(fmt::format(exists_sql, "?"), &exists_stmt);
    }
    void prepare(const std::string& sql, sqlite3_stmt** out) {
        if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, out, nullptr) != SQLITE_OK)
            throw std::runtime_error(sqlite3_errmsg(db));
    }
    ~RawSqlite() override {
        sqlite3_finalize(case_stmt);
        sqlite3_finalize(exists_stmt);
        sqlite3_close(db);
    }
    std::string text(sqlite3_stmt* s, int col) {
        return std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, col)),
                           static_cast<std::size_t>(sqlite3_column_bytes(s, col)));
    }
    void case_when(Sink& sink) override {
        sqlite3_bind_int64(case_stmt, 1, 300);
        sqlite3_bind_double(case_stmt, 2, 20.0);
        sqlite3_bind_int64(case_stmt, 3, 2);
        sqlite3_bind_int64(case_stmt, 4, 1);
        while (sqlite3_step(case_stmt) == SQLITE_ROW) {
            sink.ints += sqlite3_column_int64(case_stmt, 0);
            sink.ints += sqlite3_column_int64(case_stmt, 1);
            sink.ints += sqlite3_column_int64(case_stmt, 2);
        }
        sqlite3_reset(case_stmt);
    }
    void exists(Sink& sink) override {
        sqlite3_bind_int64(exists_stmt, 1, 990);
        while (sqlite3_step(exists_stmt) == SQLITE_ROW) {
            sink.ints += sqlite3_column_int64(exists_stmt, 0);
            sink.bytes += text(exists_stmt, 1).size();
            sink.bytes += text(exists_stmt, 2).size();
        }
        sqlite3_reset(exists_stmt);
    }
};

// The ORM side of (a): rows of Values read by position.
void orm_case_when(Sink& sink) {
    using namespace orm;
    auto rows = QbBook::objects.values("genre")
                    .annotate("long", Count("id", {.filter = Q("pages__gt", 300)}))
                    .annotate("weighted", Sum(Case({When("price__gt", 20.0, 2)}, 1)))
                    .order_by("genre");
    for (const auto& r : rows) {
        sink.ints += r[0].as_int64();
        sink.ints += r[1].as_int64();
        sink.ints += r[2].as_int64();
    }
}

// The ORM side of (b): model objects.
void orm_exists(Sink& sink) {
    using namespace orm;
    for (const QbAuthor& a :
         QbAuthor::objects.filter(Exists(QbBook::objects.filter("author", OuterRef("pk")).filter("pages__gt", 990)))) {
        sink.ints += a.id;
        sink.bytes += a.name.size() + a.country.size();
    }
}

using RawFactory = std::function<std::unique_ptr<Raw>()>;

std::vector<Comparison> run_backend(const Args& a, const std::string& label, const std::string& url,
                                    const RawFactory& make_raw, const std::string& driver, bool& ok) {
    std::vector<Comparison> rows;
    orm::connect(url);
    fill_tables();
    const auto raw = make_raw();
    // Both sides must read the same answer.
    Sink ours, theirs;
    orm_case_when(ours);
    raw->case_when(theirs);
    orm_exists(ours);
    raw->exists(theirs);
    if (ours.ints != theirs.ints || ours.bytes != theirs.bytes) {
        fmt::print(stderr, "query_bench: {}: the ORM read {} / {}, the raw driver {} / {}\n", label, ours.ints, ours.bytes,
                   theirs.ints, theirs.bytes);
        ok = false;
    }
    Sink sink;
    const bool sqlite = label == "sqlite";
    const std::int64_t case_ops = a.quick ? 10 : (sqlite ? 200 : 200);
    rows.push_back(compare(fmt::format("Case/When + conditional Count over {} rows, {} sync", n_books, label),
                           "raw " + driver, 0.90, a.rounds, case_ops, [&](std::int64_t) { orm_case_when(sink); },
                           [&](std::int64_t) { raw->case_when(sink); }));
    const std::int64_t exists_ops = a.quick ? 10 : (sqlite ? 200 : 200);
    rows.push_back(compare(fmt::format("Exists(OuterRef) filter, {} authors x {} books, {} sync", n_authors, n_books,
                                       label),
                           "raw " + driver, 0.90, a.rounds, exists_ops, [&](std::int64_t) { orm_exists(sink); },
                           [&](std::int64_t) { raw->exists(sink); }));
    orm::drop_tables<QbAuthor, QbBook>();
    orm::disconnect("default");
    fmt::print("  (checksum {} {} {:.0f})\n", sink.ints, sink.bytes, sink.reals);
    return rows;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    if (!parse_args(argc, argv, a, "query_bench [--pg URL] [--sqlite PATH] [--rounds N] [--json FILE] [--quick]"))
        return 2;
    std::vector<Comparison> rows;
    bool ok = true;
    try {
        if (!a.sqlite_path.empty()) {
            const std::string url = "sqlite://" + a.sqlite_path + "?pool_size=1";
            const RawFactory raw = [&]() -> std::unique_ptr<Raw> { return std::make_unique<RawSqlite>(a.sqlite_path); };
            for (auto& r : run_backend(a, "sqlite", url, raw, "sqlite3", ok)) rows.push_back(r);
        }
        if (!a.pg_url.empty()) {
            const std::string url = a.pg_url + (a.pg_url.find('?') == std::string::npos ? "?" : "&") + "pool_size=1";
            const RawFactory raw = [&]() -> std::unique_ptr<Raw> { return std::make_unique<RawPg>(a.pg_url); };
            for (auto& r : run_backend(a, "postgresql", url, raw, "libpq", ok)) rows.push_back(r);
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "query_bench: {}\n", e.what());
        return 1;
    }
    print_table(rows);
    if (!a.json.empty()) write_json(a.json, rows);
    return ok ? 0 : 1;
}
