// A tour of weft on the embedded SQLite default: open a database from a URL, create tables
// through the schema editor, insert with bound parameters, query with typed rows, see a
// transaction roll back, and see errors that say what went wrong.
//   demo [URL]      (default: sqlite://weft-demo.db in the current directory)
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "orm/orm.hpp"

using namespace orm;
using namespace orm::db;

int main(int argc, char** argv) {
    const std::string url = argc > 1 ? argv[1] : "sqlite://weft-demo.db";
    try {
        auto db = Database::open(url);
        fmt::print("database: {} (backend {}, pool of {})\n", db->config().url, db->backend().name(),
                   db->config().pool.max_size);
        auto conn = db->acquire();
        const auto& d = conn->dialect();
        const auto& schema = conn->backend().schema_editor();

        schema.drop_table(*conn, "demo_book", true);
        schema.drop_table(*conn, "demo_author", true);
        schema.create_table(*conn, TableSpec{"demo_author",
                                             {{.name = "id", .type = ColumnType::int64, .primary_key = true, .auto_increment = true},
                                              {.name = "name", .type = ColumnType::varchar, .max_length = 100, .unique = true}},
                                             {}});
        schema.create_table(
            *conn, TableSpec{"demo_book",
                             {{.name = "id", .type = ColumnType::int64, .primary_key = true, .auto_increment = true},
                              {.name = "title", .type = ColumnType::text},
                              {.name = "price", .type = ColumnType::float64},
                              {.name = "published", .type = ColumnType::date, .nullable = true},
                              {.name = "author_id", .type = ColumnType::int64,
                               .references = ForeignKeySpec{"demo_author", "id", ReferentialAction::cascade}}},
                             {{.name = "", .columns = {"price"}, .unique = false}}});
        fmt::print("tables: ");
        for (const auto& t : conn->backend().introspection().table_names(*conn)) fmt::print("{} ", t);
        fmt::print("\n");

        auto ph = [&](std::size_t i) { return d.placeholder(i); };
        const std::string add_author = "INSERT INTO demo_author (name) VALUES (" + ph(1) + ") RETURNING id";
        const std::string add_book = "INSERT INTO demo_book (title, price, published, author_id) VALUES (" + ph(1) + ", " +
                                     ph(2) + ", " + ph(3) + ", " + ph(4) + ")";
        auto ann = conn->execute(add_author, {"Ann"}).scalar<std::int64_t>().value();
        auto bob = conn->execute(add_author, {"Bob O'Brien"}).scalar<std::int64_t>().value();
        using std::chrono::year;
        {
            Transaction tx(*conn);
            conn->execute(add_book, {"Fibers in Practice", 12.5, Date(year(2021) / 3 / 1), ann});
            conn->execute(add_book, {"Pools & Deadlines", 30.0, Value(), ann});
            conn->execute(add_book, {"L'été des requêtes", 8.75, Date(year(2019) / 7 / 14), bob});
            tx.commit();
        }

        fmt::print("\nbooks under 20, dearest first:\n");
        auto r = conn->execute(
            "SELECT b.title, b.price, b.published, a.name FROM demo_book b JOIN demo_author a ON a.id = b.author_id "
            "WHERE b.price < " + ph(1) + " ORDER BY b.price DESC",
            {20.0});
        for (auto row : r) {
            auto published = row.get<std::optional<Date>>(2);
            fmt::print("  {:<24} {:>6.2f}  {}  by {}\n", row.get<std::string_view>(0), row.get<double>(1),
                       published ? format_date(*published) : std::string("(unpublished)"), row.get<std::string_view>(3));
        }

        fmt::print("\na transaction that fails half-way rolls back entirely:\n");
        try {
            Transaction tx(*conn);
            conn->execute(add_book, {"Half Written", 1.0, Value(), bob});
            conn->execute(add_author, {"Ann"});  // duplicate name: unique violation
            tx.commit();
        } catch (const UniqueViolation& e) {
            fmt::print("  caught UniqueViolation (SQLSTATE {}): {}\n", e.sqlstate(), e.what());
        }
        fmt::print("  books now: {}\n", conn->execute("SELECT COUNT(*) FROM demo_book").scalar<std::int64_t>().value());

        fmt::print("\nerrors say what was wrong:\n");
        try {
            conn->execute("SELECT * FROM demo_book WHERE id = " + ph(1) + " AND price > " + ph(2), {1});
        } catch (const ProgrammingError& e) {
            fmt::print("  ProgrammingError: {}\n", e.what());
        }
        try {
            Database::open("sqlite://weft-demo.db?pool_size=lots");
        } catch (const InterfaceError& e) {
            fmt::print("  InterfaceError: {}\n", e.what());
        }

        // Statement cache: the same SQL text reuses its prepared statement.
        const std::string by_id = "SELECT title FROM demo_book WHERE id = " + ph(1);
        auto start = std::chrono::steady_clock::now();
        int found = 0;
        for (int i = 0; i < 20000; ++i) found += conn->execute(by_id, {1 + i % 3}).scalar<std::string>().has_value();
        auto us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
        auto st = conn->statement_cache_stats();
        fmt::print("\n20000 point selects: {:.0f} ms ({:.2f} us each, {} found); statement cache {} hits, {} misses\n",
                   us / 1000, us / 20000, found, st.hits, st.misses);
        schema.drop_table(*conn, "demo_book");
        schema.drop_table(*conn, "demo_author");
        fmt::print("done.\n");
    } catch (const Error& e) {
        fmt::print(stderr, "demo failed: {} (SQLSTATE '{}')\n", e.what(), e.sqlstate());
        return 1;
    }
    return 0;
}
