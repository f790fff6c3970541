// ORM conformance: schema migrations (issue 15). A round trip through sixteen model versions
// (test_orm_migration_models.hpp) that together use every operation, each step's migration
// computed by detect_changes and applied by migrate, with rows in the tables throughout; after
// every step up and down, the database's introspection must equal what create_tables makes for
// that version in a scratch database, and every row must hold the values it should. Then the bad
// inputs: invalid migration files, NOT NULL columns without a value, unknown targets, databases
// made outside migrations, irreversible operations, two heads.
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "drivers/bridge/bridge.hpp"
#include "orm/migrations.hpp"
#include "tests/conformance/test_orm_migration_models.hpp"

using namespace orm;
using namespace weft::conformance;
namespace mig = orm::migrations;
namespace mm = weft::conformance::mig_models;

namespace {

const std::string A = mm::author_table, B = mm::book_table, T = mm::tag_table, J = mm::book_tags_table,
                  P = mm::publisher_table, R = mm::press_table;

bool ours(std::string_view table) {
    return table.starts_with("weft_ct_mig_") || table.starts_with("new__weft_ct_mig_") || table == "weft_migrations";
}

// Drops this test's tables (and the migrations record) on `alias`.
void drop_ours(std::string_view alias) {
    auto conn = orm::database(alias).acquire();
    std::vector<std::string> names;
    for (auto& t : conn->backend().introspection().table_names(*conn))
        if (ours(t)) names.push_back(t);
    for (const auto& sql : conn->backend().schema_editor().drop_tables_sql(names, true)) conn->execute_script(sql);
}

// --- Expected rows ------------------------------------------------------------------------

// Values as text, so that what each backend hands back compares (int32 and int64, SQLite's
// dates as text...). NULL is "NULL".
std::string canon(const Value& v) {
    switch (v.kind()) {
        case ValueKind::null: return "NULL";
        case ValueKind::boolean: return v.as_bool() ? "1" : "0";
        case ValueKind::int32:
        case ValueKind::int64: return std::to_string(v.as_int64());
        case ValueKind::float64: return fmt::format("{}", v.as_double());
        case ValueKind::text: return v.as_text();
        case ValueKind::date: return format_date(v.as_date());
        case ValueKind::timestamp: return format_timestamp(v.as_timestamp());
        case ValueKind::bytes: return v.debug_string();
    }
    return "?";
}

using RowData = std::map<std::string, std::string>;        // column -> value
using TableData = std::map<std::int64_t, RowData>;         // id -> row
using Data = std::map<std::string, TableData, std::less<>>;  // table -> rows

// What one step does to the rows, forwards (migrating up) and backwards (down).
struct Effect {
    std::function<void(Data&)> up, down;
};

Effect create_table(std::string t) {
    return {[t](Data& d) { d[t]; }, [t](Data& d) { d.erase(t); }};
}
// Backwards the table comes back empty: its rows are gone.
Effect drop_table(std::string t) {
    return {[t](Data& d) { d.erase(t); }, [t](Data& d) { d[t]; }};
}
Effect rename_table(std::string from, std::string to) {
    return {[=](Data& d) {
                d[to] = std::move(d[from]);
                d.erase(from);
            },
            [=](Data& d) {
                d[from] = std::move(d[to]);
                d.erase(to);
            }};
}
Effect add_column(std::string t, std::string c, std::string value) {
    return {[=](Data& d) {
                for (auto& [id, row] : d[t]) row[c] = value;
            },
            [=](Data& d) {
                for (auto& [id, row] : d[t]) row.erase(c);
            }};
}
// Backwards the column comes back holding `restored` (its default, NULL, or the type's zero).
Effect drop_column(std::string t, std::string c, std::string restored) {
    Effect e = add_column(std::move(t), std::move(c), std::move(restored));
    std::swap(e.up, e.down);
    return e;
}
Effect rename_column(std::string t, std::string from, std::string to) {
    auto move = [t](std::string a, std::string b) {
        return [=](Data& d) {
            for (auto& [id, row] : d[t]) {
                row[b] = row[a];
                row.erase(a);
            }
        };
    };
    return {move(from, to), move(to, from)};
}
Effect map_rows(std::string t, std::function<void(std::int64_t, RowData&)> up,
                std::function<void(std::int64_t, RowData&)> down) {
    return {[=](Data& d) {
                for (auto& [id, row] : d[t]) up(id, row);
            },
            [=](Data& d) {
                for (auto& [id, row] : d[t]) down(id, row);
            }};
}

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}
std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Inserts and updates rows on "default" and keeps the expected data in step.
class Seeder {
public:
    explicit Seeder(Data& d) : d_(d) {}
    // `expected_extra`: columns the statement leaves to their defaults, with the values they take.
    void insert(const std::string& table, std::vector<std::pair<std::string, Value>> values,
                RowData expected_extra = {}) {
        auto conn = orm::database().acquire();
        const auto& dialect = conn->dialect();
        std::string cols, vals;
        RowData row = std::move(expected_extra);
        std::int64_t id = 0;
        for (const auto& [c, v] : values) {
            cols += (cols.empty() ? "" : ", ") + dialect.quote_name(c);
            vals += (vals.empty() ? "" : ", ") + dialect.literal(v);
            row[c] = canon(v);
            if (c == "id") id = v.as_int64();
        }
        conn->execute(fmt::format("INSERT INTO {} ({}) VALUES ({})", dialect.quote_name(table), cols, vals));
        d_[table][id] = std::move(row);
    }
    void update(const std::string& table, std::int64_t id, const std::string& column, const Value& v) {
        auto conn = orm::database().acquire();
        const auto& dialect = conn->dialect();
        conn->execute(fmt::format("UPDATE {} SET {} = {} WHERE id = {}", dialect.quote_name(table),
                                  dialect.quote_name(column), dialect.literal(v), id));
        d_[table][id][column] = canon(v);
    }

private:
    Data& d_;
};

// --- Versions -----------------------------------------------------------------------------

// Answers makemigrations' questions from a list, and remembers what it was asked.
class Answers : public mig::Questioner {
public:
    std::set<std::string> yes;               // "field table.from->to", "model from->to"
    std::map<std::string, Value> fills;      // "table.column"
    std::vector<std::string> asked;
    bool ask_rename_field(const std::string& t, const std::string& from, const std::string& to) override {
        asked.push_back(fmt::format("field {}.{}->{}", t, from, to));
        return yes.count(asked.back()) > 0;
    }
    bool ask_rename_model(const std::string& from, const std::string& to) override {
        asked.push_back(fmt::format("model {}->{}", from, to));
        return yes.count(asked.back()) > 0;
    }
    std::optional<Value> ask_fill(const std::string& t, const db::ColumnSpec& c) override {
        asked.push_back(t + "." + c.name);
        auto it = fills.find(asked.back());
        if (it == fills.end()) return std::nullopt;
        return it->second;
    }
    std::optional<Value> ask_fill_nulls(const std::string& t, const db::ColumnSpec& c) override {
        return ask_fill(t, c);
    }
};

using Counts = std::vector<std::pair<std::string, std::int64_t>>;

struct Version {
    std::string label;
    std::vector<const ModelInfo*> models;
    std::function<void(std::string_view)> create;  // create_tables of the models on an alias
    std::function<Counts()> orm_counts;            // rows per table read through the models
    std::set<std::string> renames;
    std::map<std::string, Value> fills;
    // Hand-written migrations that follow the detected one (RunSQL, RunCode): built from the
    // name of the migration they follow and their own name.
    std::vector<std::function<mig::Migration(const std::string& after, const std::string& name)>> extra;
    std::vector<Effect> effects;  // of the detected migration and the extra ones, in order
    std::function<void(Seeder&)> seed;
};

template <class M>
void load_all(Counts& out) {
    std::int64_t n = 0;
    for (const auto& o : M::objects.all()) {
        (void)o;
        ++n;
    }
    out.emplace_back(orm::model_info<M>().table(), n);
}

template <class... Ms>
Version version(std::string label) {
    Version v;
    v.label = std::move(label);
    v.models = {&orm::model_info<Ms>()...};
    v.create = [](std::string_view alias) { orm::create_tables<Ms...>(alias); };
    v.orm_counts = [] {
        Counts out;
        (load_all<Ms>(out), ...);
        return out;
    };
    return v;
}

// Set by the C++ data migration of v5: how many tags it saw (Context::scalar).
std::shared_ptr<std::int64_t> tags_seen = std::make_shared<std::int64_t>(-1);

std::vector<Version> all_versions() {
    using namespace mm;
    std::vector<Version> vs;
    {
        auto v = version<v1::Author, v1::Book>("v1");
        v.effects = {create_table(A), create_table(B)};
        v.seed = [](Seeder& s) {
            s.insert(A, {{"id", std::int64_t{1}}, {"name", "Ann"}});
            s.insert(A, {{"id", std::int64_t{2}}, {"name", "Bob"}});
            s.insert(B, {{"id", std::int64_t{1}}, {"title", "Fibers in Practice"}, {"author_id", std::int64_t{1}}});
            s.insert(B, {{"id", std::int64_t{2}}, {"title", "Pools and Deadlines"}, {"author_id", std::int64_t{2}}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v2::Author, v2::Book>("v2");
        // RunSQL with SQL of its own for each backend, both ways.
        v.extra.push_back([](const std::string& after, const std::string& name) {
            return mig::Migration(name).depends_on(after).run_sql(
                {{"sqlite", fmt::format("UPDATE {} SET pages = length(title) * 10", B)},
                 {"postgresql", fmt::format("UPDATE {} SET pages = char_length(title) * 10", B)}},
                mig::SqlByBackend{{"sqlite", fmt::format("UPDATE {} SET pages = 0", B)},
                                  {"postgresql", fmt::format("UPDATE {} SET pages = 0", B)}});
        });
        v.effects = {add_column(A, "email", "NULL"), add_column(B, "pages", "0"),
                     map_rows(
                         B, [](std::int64_t, RowData& r) { r["pages"] = std::to_string(r["title"].size() * 10); },
                         [](std::int64_t, RowData& r) { r["pages"] = "0"; })};
        v.seed = [](Seeder& s) {
            s.insert(A, {{"id", std::int64_t{3}}, {"name", "Cy"}, {"email", "cy@example.org"}});
            s.insert(B, {{"id", std::int64_t{3}}, {"title", "Zero"}, {"author_id", std::int64_t{3}}, {"pages", std::int32_t{7}}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v3::Author, v3::Book>("v3");
        v.fills = {{B + ".isbn", Value("unknown")}};
        // RunSQL for any backend ("*"), both ways.
        v.extra.push_back([](const std::string& after, const std::string& name) {
            return mig::Migration(name).depends_on(after).run_sql(
                {{"*", fmt::format("UPDATE {} SET isbn = 'isbn-' || CAST(id AS TEXT) WHERE isbn = 'unknown'", B)}},
                mig::SqlByBackend{{"*", fmt::format("UPDATE {} SET isbn = 'unknown' WHERE isbn LIKE 'isbn-%'", B)}});
        });
        v.effects = {add_column(B, "isbn", "unknown"),
                     map_rows(
                         B,
                         [](std::int64_t id, RowData& r) {
                             if (r["isbn"] == "unknown") r["isbn"] = "isbn-" + std::to_string(id);
                         },
                         [](std::int64_t, RowData& r) {
                             if (r["isbn"].starts_with("isbn-")) r["isbn"] = "unknown";
                         })};
        v.seed = [](Seeder& s) {
            s.insert(B, {{"id", std::int64_t{4}}, {"title", "Deadlines"}, {"author_id", std::int64_t{1}}, {"pages", std::int32_t{40}},
                         {"isbn", "444"}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v4::Author, v4::Book, v4::Tag>("v4");
        v.effects = {create_table(T)};
        v.seed = [](Seeder& s) {
            s.insert(T, {{"id", std::int64_t{1}}, {"label", "async"}});
            s.insert(T, {{"id", std::int64_t{2}}, {"label", "sql"}});
            s.insert(T, {{"id", std::int64_t{3}}, {"label", "c++"}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v5::Author, v5::Book, v5::Tag>("v5");
        // A data migration in C++, both ways.
        v.extra.push_back([](const std::string& after, const std::string& name) {
            return mig::Migration(name).depends_on(after).run_code(
                "upper-case the tag labels",
                [](mig::Context& c) {
                    *tags_seen = c.scalar(fmt::format("SELECT count(*) FROM {}", T)).as_int64();
                    if (c.backend() != "sqlite" && c.backend() != "postgresql")
                        throw std::runtime_error("unknown backend " + std::string(c.backend()));
                    c.execute(fmt::format("UPDATE {} SET label = upper(label)", T));
                },
                mig::Code([](mig::Context& c) { c.execute(fmt::format("UPDATE {} SET label = lower(label)", T)); }));
        });
        v.effects = {create_table(J), map_rows(
                                          T, [](std::int64_t, RowData& r) { r["label"] = upper(r["label"]); },
                                          [](std::int64_t, RowData& r) { r["label"] = lower(r["label"]); })};
        v.seed = [](Seeder& s) {
            s.insert(J, {{"id", std::int64_t{1}}, {"book_id", std::int64_t{1}}, {"tag_id", std::int64_t{1}}});
            s.insert(J, {{"id", std::int64_t{2}}, {"book_id", std::int64_t{1}}, {"tag_id", std::int64_t{2}}});
            s.insert(J, {{"id", std::int64_t{3}}, {"book_id", std::int64_t{2}}, {"tag_id", std::int64_t{2}}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v6::Author, v6::Book, v6::Tag>("v6");
        v.renames = {fmt::format("field {}.name->full_name", A)};
        v.effects = {rename_column(A, "name", "full_name")};
        v.seed = [](Seeder& s) {
            s.insert(A, {{"id", std::int64_t{4}}, {"full_name", "Dee"}, {"email", "dee@example.org"}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v7::Author, v7::Book, v7::Tag>("v7");
        v.seed = [](Seeder& s) {
            s.insert(B, {{"id", std::int64_t{5}}, {"title", "A Longer Title About Migrations"},
                         {"author_id", std::int64_t{2}}, {"pages", std::int64_t{9}}, {"isbn", "555"}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v8::Author, v8::Book, v8::Tag>("v8");
        v.fills = {{A + ".email", Value("none@example.com")}};
        v.effects = {map_rows(
            A,
            [](std::int64_t, RowData& r) {
                if (r["email"] == "NULL") r["email"] = "none@example.com";
            },
            [](std::int64_t, RowData&) {})};
        v.seed = [](Seeder& s) {
            s.insert(T, {{"id", std::int64_t{4}}, {"label", "fibers"}});
            s.insert(A, {{"id", std::int64_t{5}}, {"full_name", "Eve"}, {"email", "eve@example.org"}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v9::Author, v9::Book, v9::Tag>("v9");
        v.seed = [](Seeder& s) {
            s.insert(B, {{"id", std::int64_t{6}}, {"title", "Indexes"}, {"author_id", std::int64_t{4}},
                         {"pages", std::int64_t{120}}, {"isbn", "666"}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v10::Author, v10::Book, v10::Tag>("v10");
        v.seed = [](Seeder& s) {
            s.insert(B, {{"id", std::int64_t{7}}, {"title", "Unique Together"}, {"author_id", std::int64_t{4}},
                         {"pages", std::int64_t{5}}, {"isbn", "777"}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v11::Author, v11::Book, v11::Tag, v11::Publisher>("v11");
        v.effects = {create_table(P), add_column(B, "publisher_id", "NULL")};
        v.seed = [](Seeder& s) {
            s.insert(P, {{"id", std::int64_t{1}}, {"name", "Orly"}});
            s.update(B, 1, "publisher_id", std::int64_t{1});
            s.insert(B, {{"id", std::int64_t{8}}, {"title", "Published"}, {"author_id", std::int64_t{1}},
                         {"pages", std::int64_t{8}}, {"isbn", "888"}, {"publisher_id", std::int64_t{1}}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v12::Author, v12::Book, v12::Tag, v12::Press>("v12");
        v.renames = {fmt::format("model {}->{}", P, R)};
        v.effects = {rename_table(P, R)};
        v.seed = [](Seeder& s) {
            s.insert(R, {{"id", std::int64_t{2}}, {"name", "Manning"}});
            s.update(B, 2, "publisher_id", std::int64_t{2});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v13::Author, v13::Book, v13::Tag, v13::Press>("v13");
        v.fills = {{B + ".imprint_id", Value(std::int64_t{2})}};
        v.effects = {drop_column(B, "pages", "1"), add_column(B, "imprint_id", "2")};
        v.seed = [](Seeder& s) {
            s.insert(T, {{"id", std::int64_t{5}}, {"label", "db"}});
            s.insert(J, {{"id", std::int64_t{4}}, {"book_id", std::int64_t{8}}, {"tag_id", std::int64_t{5}}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v14::Author, v14::Book, v14::Press>("v14");
        v.effects = {drop_table(J), drop_table(T)};
        v.seed = [](Seeder& s) {
            s.insert(B, {{"id", std::int64_t{9}}, {"title", "No Tags"}, {"author_id", std::int64_t{2}}, {"isbn", "999"},
                         {"publisher_id", Value()}, {"imprint_id", std::int64_t{1}}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v15::Author, v15::Book, v15::Press>("v15");
        v.effects = {add_column(A, "born", "NULL"), add_column(A, "nickname", "NULL")};
        v.seed = [](Seeder& s) {
            using std::chrono::year;
            s.insert(A, {{"id", std::int64_t{6}}, {"full_name", "Fay"}, {"email", "fay@example.org"},
                         {"born", Date(year(1990) / 5 / 17)}, {"nickname", "fay"}});
            // email left to its new default
            s.insert(A, {{"id", std::int64_t{7}}, {"full_name", "Gus"}}, {{"email", "n/a"}, {"born", "NULL"}, {"nickname", "NULL"}});
        };
        vs.push_back(std::move(v));
    }
    {
        auto v = version<v16::Author, v16::Book, v16::Press>("v16");
        v.renames = {fmt::format("field {}.author_id->writer_id", B)};
        v.effects = {drop_column(B, "publisher_id", "NULL"), rename_column(B, "author_id", "writer_id")};
        v.seed = [](Seeder& s) {
            s.insert(B, {{"id", std::int64_t{10}}, {"title", "Last"}, {"writer_id", std::int64_t{6}}, {"isbn", "1010"},
                         {"imprint_id", std::int64_t{2}}});
        };
        vs.push_back(std::move(v));
    }
    return vs;
}

// --- Comparing a database with create_tables ----------------------------------------------

using Shape = std::map<std::string, std::vector<std::string>>;  // table -> sorted description lines

// What introspection says about this test's tables on `alias`. Index names count only where
// they are the ones the models give (`named`); the rest are the database's own choice
// (SQLite's sqlite_autoindex_*, PostgreSQL's constraint names, which keep a renamed table's old
// name) and are left out.
Shape shape_of(std::string_view alias, const std::set<std::string>& named) {
    Shape out;
    auto conn = orm::database(alias).acquire();
    const auto& in = conn->backend().introspection();
    for (const auto& t : in.table_names(*conn)) {
        if (!ours(t) || t == "weft_migrations") continue;
        auto& lines = out[t];
        for (const auto& c : in.columns(*conn, t))
            lines.push_back(fmt::format("column {} {} {}{} default={}", c.name, c.type, c.nullable ? "null" : "not null",
                                        c.primary_key ? " primary key" : "", c.default_sql.value_or("none")));
        for (const auto& ix : in.indexes(*conn, t))
            lines.push_back(fmt::format("{} ({}) {}", ix.primary ? "primary" : ix.unique ? "unique" : "index",
                                        fmt::join(ix.columns, ", "), named.count(ix.name) ? ix.name : "-"));
        for (const auto& fk : in.foreign_keys(*conn, t))
            lines.push_back(fmt::format("foreign key {} -> {}.{} on delete {}", fk.column, fk.referenced_table,
                                        fk.referenced_column.empty() ? "<pk>" : fk.referenced_column, fk.on_delete));
        std::sort(lines.begin(), lines.end());
    }
    return out;
}

std::set<std::string> index_names(const std::vector<const ModelInfo*>& models) {
    std::set<std::string> out;
    for (const auto& t : mig::state_of(models).tables)
        for (const auto& ix : t.indexes) out.insert(ix.name);
    return out;
}

void compare_shapes(Context& ctx, const std::string& where, const Shape& got, const Shape& want) {
    for (const auto& [t, lines] : want) {
        auto it = got.find(t);
        if (it == got.end()) {
            ctx.fail(fmt::format("{}: table {} is missing", where, t));
            continue;
        }
        for (const auto& l : lines)
            if (std::find(it->second.begin(), it->second.end(), l) == it->second.end())
                ctx.fail(fmt::format("{}: {}: create_tables has '{}', the migrated database not", where, t, l));
        for (const auto& l : it->second)
            if (std::find(lines.begin(), lines.end(), l) == lines.end())
                ctx.fail(fmt::format("{}: {}: the migrated database has '{}', create_tables not", where, t, l));
    }
    for (const auto& [t, lines] : got)
        if (!want.count(t)) ctx.fail(fmt::format("{}: table {} should not exist", where, t));
}

// The rows of every table of `v` against `d` (columns by name), and the models reading them.
void compare_rows(Context& ctx, const std::string& where, const Version& v, const Data& d) {
    const mig::State state = mig::state_of(v.models);
    std::set<std::string> tables;
    for (const auto& t : state.tables) tables.insert(t.name);
    for (const auto& [t, rows] : d)
        if (!tables.count(t)) ctx.fail(fmt::format("{}: (test) expected rows for table {}, which {} lacks", where, t, v.label));
    auto conn = orm::database().acquire();
    const auto& dialect = conn->dialect();
    for (const auto& t : state.tables) {
        auto expected = d.find(t.name);
        if (expected == d.end()) {
            ctx.fail(fmt::format("{}: (test) no expected rows for table {}", where, t.name));
            continue;
        }
        std::string cols;
        for (const auto& c : t.columns) cols += (cols.empty() ? "" : ", ") + dialect.quote_name(c.name);
        TableData got;
        auto r = conn->execute(fmt::format("SELECT {} FROM {} ORDER BY id", cols, dialect.quote_name(t.name)));
        while (r.next()) {
            auto row = r.row();
            RowData values;
            for (std::size_t i = 0; i < t.columns.size(); ++i) values[t.columns[i].name] = canon(row.value(i));
            got[std::stoll(values["id"])] = std::move(values);
        }
        if (got.size() != expected->second.size())
            ctx.fail(fmt::format("{}: table {} has {} rows, expected {}", where, t.name, got.size(), expected->second.size()));
        for (const auto& [id, want] : expected->second) {
            auto g = got.find(id);
            if (g == got.end()) {
                ctx.fail(fmt::format("{}: table {} lost row {}", where, t.name, id));
                continue;
            }
            for (const auto& c : t.columns)
                if (!want.count(c.name)) ctx.fail(fmt::format("{}: (test) no expected value for {}.{}", where, t.name, c.name));
            for (const auto& [c, value] : want) {
                auto gv = g->second.find(c);
                if (gv == g->second.end())
                    ctx.fail(fmt::format("{}: {} row {}: column {} is missing", where, t.name, id, c));
                else if (gv->second != value)
                    ctx.fail(fmt::format("{}: {} row {}: {} is '{}', expected '{}'", where, t.name, id, c, gv->second, value));
            }
        }
    }
    conn.release();
    // The version's models read every row (the model and the migrated table agree).
    for (const auto& [table, n] : v.orm_counts()) {
        auto expected = d.find(table);
        const std::size_t want = expected == d.end() ? 0 : expected->second.size();
        if (static_cast<std::size_t>(n) != want)
            ctx.fail(fmt::format("{}: {}'s model reads {} rows of {}, expected {}", where, v.label, n, table, want));
    }
}

// The database on "default" against create_tables of `v` on "scratch", and the rows against `d`.
void verify(Context& ctx, const std::string& where, const Version& v, const Data& d) {
    drop_ours("scratch");
    v.create("scratch");
    const auto named = index_names(v.models);
    const Shape want = shape_of("scratch", named);
    drop_ours("scratch");
    compare_shapes(ctx, where, shape_of("default", named), want);
    compare_rows(ctx, where, v, d);
}

std::vector<std::string> applied_names(const mig::Project& p) {
    std::vector<std::string> out;
    for (const auto& s : mig::show_migrations(p))
        if (s.applied) out.push_back(s.name);
    return out;
}

std::string numbered(const std::vector<mig::Migration>& ms, std::string_view suffix) {
    return fmt::format("{:04d}_{}", ms.size() + 1, suffix);
}

// "default" on the runner's database and "scratch" on a second one, both without this test's
// tables before and after.
class Fixture {
public:
    explicit Fixture(Context& ctx, bool scratch = false) : scratch_(scratch) {
        orm::connect(ctx.url(), "default");
        drop_ours("default");
        if (scratch_) {
            orm::connect(ctx.second_url(), "scratch");
            drop_ours("scratch");
        }
    }
    ~Fixture() {
        try {
            drop_ours("default");
            if (scratch_) drop_ours("scratch");
        } catch (...) {
        }
        if (scratch_) orm::disconnect("scratch");
        orm::disconnect("default");
    }
    Fixture(const Fixture&) = delete;
    Fixture& operator=(const Fixture&) = delete;

private:
    bool scratch_;
};

std::int64_t count_rows(const std::string& table) {
    auto conn = orm::database().acquire();
    auto r = conn->execute(fmt::format("SELECT count(*) FROM {}", conn->dialect().quote_name(table)));
    r.next();
    return r.row().value(0).as_int64();
}

std::vector<std::string> column_names(const std::string& table) {
    auto conn = orm::database().acquire();
    std::vector<std::string> out;
    for (const auto& c : conn->backend().introspection().columns(*conn, table)) out.push_back(c.name);
    return out;
}

bool has_table(const std::string& table) {
    auto conn = orm::database().acquire();
    return conn->backend().introspection().table_exists(*conn, table);
}

}  // namespace

CONFORMANCE_TEST("orm migrations: 16 model versions up and down; each step equals create_tables and keeps the rows") {
    Fixture fx(ctx, true);
    const auto versions = all_versions();
    CT_REQUIRE(versions.size() >= 15);
    Data data;
    Seeder seeder(data);
    std::vector<mig::Migration> migs;
    std::vector<std::string> heads;  // the last migration of each version
    std::set<mig::OpKind> kinds;
    *tags_seen = -1;

    for (std::size_t k = 0; k < versions.size(); ++k) {
        const Version& v = versions[k];
        const std::string where = "up to " + v.label;
        mig::Project p{migs, v.models};
        // Drift: the models changed and no migration covers it yet.
        const auto drift = mig::check(p);
        CT_CHECK(!drift.empty());
        Answers q;
        q.yes = v.renames;
        q.fills = v.fills;
        auto m = mig::detect_changes(p, q);
        CT_REQUIRE(m.has_value());
        for (const auto& y : v.renames)
            if (std::find(q.asked.begin(), q.asked.end(), y) == q.asked.end()) ctx.fail(where + ": not asked " + y);
        for (const auto& [f, value] : v.fills)
            if (std::find(q.asked.begin(), q.asked.end(), f) == q.asked.end()) ctx.fail(where + ": no value asked for " + f);
        if (v.renames.empty()) {
            // check() names exactly the operations makemigrations writes.
            std::vector<std::string> described;
            for (const auto& op : m->operations()) described.push_back(op.describe());
            CT_CHECK_EQ(drift, described);
        } else {
            // Without a yes, a rename is never guessed: check() sees a column or table go.
            bool names_old = false;
            for (const auto& line : drift)
                names_old = names_old || line.find(k == 5 ? std::string(".name") : k == 11 ? P : ".author_id") != std::string::npos;
            CT_CHECK(names_old);
        }
        for (const auto& op : m->operations()) kinds.insert(op.kind);
        const std::string cpp = mig::to_cpp(*m);
        CT_CHECK(cpp.find(fmt::format("Migration(\"{}\")", m->name())) != std::string::npos);
        migs.push_back(std::move(*m));
        for (const auto& make : v.extra) {
            migs.push_back(make(migs.back().name(), numbered(migs, "by_hand")));
            for (const auto& op : migs.back().operations()) kinds.insert(op.kind);
        }
        p.migrations = migs;
        CT_REQUIRE(mig::heads(p).size() == 1);
        const std::string sql = mig::sql_migrate(p, migs.back().name());
        CT_CHECK(sql.find("BEGIN;") != std::string::npos && sql.find("COMMIT;") != std::string::npos);

        const std::size_t before = heads.empty() ? 0 : applied_names(p).size();
        std::ostringstream progress;
        const std::size_t ran = mig::migrate(p, {.out = &progress});
        CT_CHECK_EQ(ran, migs.size() - before);
        CT_CHECK(progress.str().find("Applying " + migs.back().name() + "... OK") != std::string::npos);
        CT_CHECK_EQ(mig::migrate(p, {}), std::size_t{0});  // nothing left to do
        for (const auto& e : v.effects) e.up(data);
        verify(ctx, where + " (before new rows)", v, data);
        v.seed(seeder);
        verify(ctx, where, v, data);
        heads.push_back(migs.back().name());

        // Unchanged models: nothing to write, nothing to report.
        Answers again;
        again.yes = v.renames;
        CT_CHECK(!mig::detect_changes(p, again).has_value());
        CT_CHECK(mig::check(p).empty());
        for (const auto& s : mig::show_migrations(p)) {
            CT_CHECK(s.applied);
            CT_CHECK(s.applied_at.has_value());  // recorded with the time it was applied
        }
        if (!ctx.failures().empty()) throw Abort{};  // the steps after build on this one
    }
    CT_CHECK_EQ(*tags_seen, std::int64_t{3});
    // Every operation was used.
    for (auto kind : {mig::OpKind::create_model, mig::OpKind::delete_model, mig::OpKind::rename_model,
                      mig::OpKind::add_field, mig::OpKind::remove_field, mig::OpKind::alter_field,
                      mig::OpKind::rename_field, mig::OpKind::add_index, mig::OpKind::remove_index,
                      mig::OpKind::run_sql, mig::OpKind::run_code})
        if (!kinds.count(kind)) ctx.fail(fmt::format("operation {} was never used", mig::to_string(kind)));

    // Down to every earlier version, one at a time.
    const mig::Project all{migs, versions.back().models};
    for (std::size_t k = versions.size() - 1; k-- > 0;) {
        const Version& v = versions[k];
        const std::string where = "down to " + v.label;
        mig::migrate(all, {.target = heads[k]});
        const auto& undone = versions[k + 1].effects;
        for (auto it = undone.rbegin(); it != undone.rend(); ++it) it->down(data);
        verify(ctx, where, v, data);
        const auto applied = applied_names(all);
        CT_CHECK_EQ(applied.back(), heads[k]);
        CT_CHECK(std::find(applied.begin(), applied.end(), heads[k + 1]) == applied.end());
        if (!ctx.failures().empty()) throw Abort{};
    }
    // And to nothing.
    mig::migrate(all, {.target = "zero"});
    CT_CHECK(applied_names(all).empty());
    CT_CHECK(shape_of("default", {}).empty());
    // All the way up again in one call: the latest schema, every table empty.
    CT_CHECK_EQ(mig::migrate(all, {}), migs.size());
    Data empty;
    for (const auto& t : mig::state_of(versions.back().models).tables) empty[t.name];
    verify(ctx, "up again to " + versions.back().label, versions.back(), empty);
}

CONFORMANCE_TEST("orm migrations: unchanged models need nothing; a change without a migration is drift that check names") {
    Fixture fx(ctx);
    using namespace mm;
    const std::vector<const ModelInfo*> m1{&orm::model_info<v1::Author>(), &orm::model_info<v1::Book>()};
    const std::vector<const ModelInfo*> m2{&orm::model_info<v2::Author>(), &orm::model_info<v2::Book>()};
    mig::FixedAnswers no;
    auto first = mig::detect_changes(mig::Project{{}, m1}, no);
    CT_REQUIRE(first.has_value());
    CT_CHECK_EQ(first->name(), std::string("0001_initial"));
    mig::Project p{{*first}, m1};
    CT_CHECK(!mig::detect_changes(p, no).has_value());
    CT_CHECK(mig::check(p).empty());
    p.models = m2;
    const auto drift = mig::check(p);
    CT_CHECK(std::find(drift.begin(), drift.end(), fmt::format("add_field {}.email", A)) != drift.end());
    CT_CHECK(std::find(drift.begin(), drift.end(), fmt::format("add_field {}.pages", B)) != drift.end());
    CT_CHECK_EQ(drift.size(), std::size_t{2});
    // A rename without a yes is a column removed and one added, never guessed.
    const std::vector<const ModelInfo*> m6{&orm::model_info<v6::Author>(), &orm::model_info<v6::Book>()};
    p.models = m2;
    auto second = mig::detect_changes(p, no);
    CT_REQUIRE(second.has_value());
    p.migrations.push_back(*second);
    p.models = m6;
    mig::FixedAnswers fixed;
    auto no_rename = mig::detect_changes(p, fixed);
    CT_REQUIRE(no_rename.has_value());
    bool renamed = false, removed = false;
    for (const auto& op : no_rename->operations()) {
        renamed = renamed || op.kind == mig::OpKind::rename_field;
        removed = removed || (op.kind == mig::OpKind::remove_field && op.name == "name");
    }
    CT_CHECK(!renamed);
    CT_CHECK(removed);
    fixed.renames = true;
    auto yes_rename = mig::detect_changes(p, fixed);
    CT_REQUIRE(yes_rename.has_value());
    std::vector<std::string> renames;
    for (const auto& op : yes_rename->operations())
        if (op.kind == mig::OpKind::rename_field || op.kind == mig::OpKind::remove_field) renames.push_back(op.describe());
    CT_CHECK_EQ(renames, std::vector<std::string>{fmt::format("rename_field {}.name -> full_name", A)});
}

CONFORMANCE_TEST("orm migrations: a migration edited into an invalid state names its file and operation") {
    Fixture fx(ctx);
    std::vector<mig::Migration> ms;
    ms.push_back(mig::Migration("0001_initial").create_model(
        B, {mig::Column("id", mig::Type::int64).primary_key().auto_increment(),
            mig::Column("title", mig::Type::text)}));
    ms.push_back(mig::Migration("0002_edited").depends_on("0001_initial").remove_field(B, "nope"));
    const mig::Project p{ms, {}};
    CT_CHECK_THROWS_WITH(mig::migrate(p, {}), mig::MigrationError, "test_orm_migrations.cpp", "0002_edited",
                         fmt::format("remove_field {}.nope", B), "operation 1", "no column 'nope'");
    // Every file is checked before anything runs.
    CT_CHECK(!has_table(B));
    // Other ways to break one: an index on a column that is not there, a table that is not.
    std::vector<mig::Migration> ms2{ms[0]};
    ms2.push_back(mig::Migration("0002_index").depends_on("0001_initial").add_field(B, mig::Column("pages", mig::Type::int32).null())
                      .add_index(B, mig::Index("book_nope_idx", {"nope"})));
    CT_CHECK_THROWS_WITH(mig::migrate(mig::Project{ms2, {}}, {}), mig::MigrationError, "test_orm_migrations.cpp",
                         "0002_index", "operation 2", "add_index book_nope_idx", "'nope'");
    std::vector<mig::Migration> ms3{ms[0]};
    ms3.push_back(mig::Migration("0002_missing").depends_on("0001_initial").alter_field("weft_ct_mig_nothing",
                                                                                         mig::Column("x", mig::Type::text)));
    CT_CHECK_THROWS_WITH(mig::migrate(mig::Project{ms3, {}}, {}), mig::MigrationError, "0002_missing",
                         "alter_field weft_ct_mig_nothing.x", "no table 'weft_ct_mig_nothing'");
    std::vector<mig::Migration> ms4{ms[0]};
    ms4.push_back(mig::Migration("0002_lost").depends_on("0001_gone"));
    CT_CHECK_THROWS_WITH(mig::migrate(mig::Project{ms4, {}}, {}), mig::MigrationError, "0002_lost", "0001_gone");
    CT_CHECK(!has_table(B));
    // The connection is still usable, and the valid migration applies.
    CT_CHECK_EQ(mig::migrate(mig::Project{{ms[0]}, {}}, {}), std::size_t{1});
    CT_CHECK_EQ(count_rows(B), std::int64_t{0});
}

CONFORMANCE_TEST("orm migrations: a NOT NULL column without a default on a table with rows needs a value") {
    Fixture fx(ctx);
    std::vector<mig::Migration> ms;
    ms.push_back(mig::Migration("0001_initial").create_model(
        B, {mig::Column("id", mig::Type::int64).primary_key().auto_increment(),
            mig::Column("title", mig::Type::text)}));
    CT_REQUIRE(mig::migrate(mig::Project{ms, {}}, {}) == 1);
    {
        auto conn = orm::database().acquire();
        conn->execute(fmt::format("INSERT INTO {} (title) VALUES ('one'), ('two')", B));
    }
    const auto columns_before = column_names(B);
    // A nullable column first, so that a half-applied migration would show.
    auto refused = ms;
    refused.push_back(mig::Migration("0002_isbn")
                          .depends_on("0001_initial")
                          .add_field(B, mig::Column("note", mig::Type::text).null())
                          .add_field(B, mig::Column("isbn", mig::Type::varchar).max_length(20)));
    const mig::Project bad{refused, {}};
    std::ostringstream out;
    CT_CHECK_THROWS_WITH(mig::migrate(bad, {.out = &out}), mig::MigrationError, "0002_isbn",
                         fmt::format("add_field {}.isbn", B), "NOT NULL without a default", "2 row(s)",
                         "one-off default", "Nothing of this migration was applied");
    CT_CHECK(out.str().find("FAILED") != std::string::npos);
    CT_CHECK_EQ(column_names(B), columns_before);
    CT_CHECK_EQ(applied_names(bad), std::vector<std::string>{"0001_initial"});
    CT_CHECK_EQ(count_rows(B), std::int64_t{2});
    // With a one-off default it works; the column keeps no default of its own.
    auto fixed = ms;
    fixed.push_back(mig::Migration("0002_isbn")
                        .depends_on("0001_initial")
                        .add_field(B, mig::Column("note", mig::Type::text).null())
                        .add_field(B, mig::Column("isbn", mig::Type::varchar).max_length(20), Value("n/a")));
    const mig::Project good{fixed, {}};
    CT_CHECK_EQ(mig::migrate(good, {}), std::size_t{1});
    {
        auto conn = orm::database().acquire();
        auto r = conn->execute(fmt::format("SELECT isbn, note FROM {} ORDER BY id", B));
        std::size_t n = 0;
        while (r.next()) {
            ++n;
            CT_CHECK_EQ(canon(r.row().value(0)), std::string("n/a"));
            CT_CHECK(r.row().is_null(1));
        }
        CT_CHECK_EQ(n, std::size_t{2});
        for (const auto& c : conn->backend().introspection().columns(*conn, B))
            if (c.name == "isbn") {
                CT_CHECK(!c.nullable);
                CT_CHECK(!c.default_sql.has_value());
            }
        // Without a value a new row is refused: the one-off default is not the column's.
        CT_CHECK_THROWS_AS(conn->execute(fmt::format("INSERT INTO {} (title) VALUES ('three')", B)), IntegrityError);
    }
    CT_CHECK_EQ(count_rows(B), std::int64_t{2});
    // Back down and up: a reversal of an add_field drops the column again.
    CT_CHECK_EQ(mig::migrate(good, {.target = "0001_initial"}), std::size_t{1});
    CT_CHECK_EQ(column_names(B), columns_before);
    // A column that becomes NOT NULL while rows hold NULL: refused the same way, unless a value is given.
    auto nulls = ms;
    nulls.push_back(mig::Migration("0002_note").depends_on("0001_initial").add_field(B, mig::Column("note", mig::Type::text).null()));
    nulls.push_back(mig::Migration("0003_note_required").depends_on("0002_note").alter_field(B, mig::Column("note", mig::Type::text)));
    CT_CHECK_THROWS_WITH(mig::migrate(mig::Project{nulls, {}}, {}), mig::MigrationError, "0003_note_required",
                         "becomes NOT NULL", "2 row(s) hold NULL", "Nothing of this migration was applied");
    CT_CHECK_EQ(applied_names(mig::Project{nulls, {}}), (std::vector<std::string>{"0001_initial", "0002_note"}));
    nulls.back() = mig::Migration("0003_note_required").depends_on("0002_note").alter_field(B, mig::Column("note", mig::Type::text), Value("-"));
    CT_CHECK_EQ(mig::migrate(mig::Project{nulls, {}}, {}), std::size_t{1});
    {
        auto conn = orm::database().acquire();
        auto r = conn->execute(fmt::format("SELECT count(*) FROM {} WHERE note = '-'", B));
        r.next();
        CT_CHECK_EQ(r.row().value(0).as_int64(), std::int64_t{2});
    }
}

CONFORMANCE_TEST("orm migrations: makemigrations asks for a one-off default and writes it into the migration") {
    Fixture fx(ctx);
    using namespace mm;
    const std::vector<const ModelInfo*> m2{&orm::model_info<v2::Author>(), &orm::model_info<v2::Book>()};
    const std::vector<const ModelInfo*> m3{&orm::model_info<v3::Author>(), &orm::model_info<v3::Book>()};
    mig::FixedAnswers answers;
    auto first = mig::detect_changes(mig::Project{{}, m2}, answers);
    CT_REQUIRE(first.has_value());
    mig::Project p{{*first}, m3};
    auto without = mig::detect_changes(p, answers);
    CT_REQUIRE(without.has_value() && without->operations().size() == 1);
    CT_CHECK(!without->operations().front().fill.has_value());
    answers.fills[B + ".isbn"] = "unknown";
    auto with = mig::detect_changes(p, answers);
    CT_REQUIRE(with.has_value() && with->operations().size() == 1);
    CT_REQUIRE(with->operations().front().fill.has_value());
    CT_CHECK_EQ(canon(*with->operations().front().fill), std::string("unknown"));
    CT_CHECK(mig::to_cpp(*with).find("\"unknown\"") != std::string::npos);
    // On an empty table no value is needed; on one with rows, only with it.
    CT_CHECK_EQ(mig::migrate(mig::Project{{*first}, m2}, {}), std::size_t{1});
    auto conn_insert = [](const std::string& sql) {
        auto conn = orm::database().acquire();
        conn->execute(sql);
    };
    conn_insert(fmt::format("INSERT INTO {} (id, name) VALUES (1, 'Ann')", A));
    conn_insert(fmt::format("INSERT INTO {} (id, title, author_id, pages) VALUES (1, 'T', 1, 3)", B));
    CT_CHECK_THROWS_WITH(mig::migrate(mig::Project{{*first, *without}, m3}, {}), mig::MigrationError, "one-off default");
    CT_CHECK_EQ(v2::Book::objects.count(), std::int64_t{1});  // the connection and the models still work
    CT_CHECK_EQ(mig::migrate(mig::Project{{*first, *with}, m3}, {}), std::size_t{1});
    CT_CHECK_EQ(v3::Book::objects.get("pk", std::int64_t{1}).isbn, std::string("unknown"));
}

CONFORMANCE_TEST("orm migrations: an unknown target lists the valid names") {
    Fixture fx(ctx);
    std::vector<mig::Migration> ms;
    ms.push_back(mig::Migration("0001_initial").create_model(B, {mig::Column("id", mig::Type::int64).primary_key().auto_increment()}));
    ms.push_back(mig::Migration("0002_title").depends_on("0001_initial").add_field(B, mig::Column("title", mig::Type::text).null()));
    const mig::Project p{ms, {}};
    CT_CHECK_THROWS_WITH(mig::migrate(p, {.target = "0003_nothing"}), mig::MigrationError, "0003_nothing",
                         "0001_initial", "0002_title", "zero");
    CT_CHECK(!has_table(B));
    CT_CHECK_THROWS_WITH(mig::sql_migrate(p, "0009_nope"), mig::MigrationError, "0009_nope", "0001_initial");
    CT_CHECK_EQ(mig::migrate(p, {.target = "0001_initial"}), std::size_t{1});
    CT_CHECK_EQ(applied_names(p), std::vector<std::string>{"0001_initial"});
    CT_CHECK_EQ(count_rows(B), std::int64_t{0});
}

CONFORMANCE_TEST("orm migrations: a database made by create_tables is adopted only with fake_initial") {
    Fixture fx(ctx);
    using namespace mm;
    const std::vector<const ModelInfo*> m1{&orm::model_info<v1::Author>(), &orm::model_info<v1::Book>()};
    const std::vector<const ModelInfo*> m2{&orm::model_info<v2::Author>(), &orm::model_info<v2::Book>()};
    orm::create_tables<v1::Author, v1::Book>();
    auto ann = v1::Author::objects.create({.name = "Ann"});
    v1::Book::objects.create({.title = "Kept", .author = ann});
    mig::FixedAnswers no;
    auto initial = mig::detect_changes(mig::Project{{}, m1}, no);
    CT_REQUIRE(initial.has_value());
    mig::Project p{{*initial}, m1};
    CT_CHECK_THROWS_WITH(mig::migrate(p, {}), mig::MigrationError, initial->name(), "exist already", A, B,
                         "--fake-initial");
    CT_CHECK(applied_names(p).empty());
    CT_CHECK_EQ(v1::Book::objects.count(), std::int64_t{1});  // nothing touched, the connection works
    std::ostringstream out;
    CT_CHECK_EQ(mig::migrate(p, {.fake_initial = true, .out = &out}), std::size_t{1});
    CT_CHECK(out.str().find("FAKED") != std::string::npos);
    CT_CHECK_EQ(applied_names(p), std::vector<std::string>{initial->name()});
    CT_CHECK_EQ(v1::Book::objects.get("title", "Kept").author->name, std::string("Ann"));
    // From there on, migrations run as usual.
    p.models = m2;
    auto next = mig::detect_changes(p, no);
    CT_REQUIRE(next.has_value());
    p.migrations.push_back(*next);
    CT_CHECK_EQ(mig::migrate(p, {}), std::size_t{1});
    CT_CHECK_EQ(v2::Book::objects.get("title", "Kept").pages, std::int32_t{0});
    // fake_initial does not adopt half a schema.
    drop_ours("default");
    orm::create_tables<v1::Author>();
    CT_CHECK_THROWS_WITH(mig::migrate(mig::Project{{*initial}, m1}, {.fake_initial = true}), mig::MigrationError,
                         "missing", B);
    CT_CHECK(applied_names(mig::Project{{*initial}, m1}).empty());
    CT_CHECK_EQ(v1::Author::objects.count(), std::int64_t{0});
}

CONFORMANCE_TEST("orm migrations: an irreversible operation refuses to unapply and names itself") {
    Fixture fx(ctx);
    for (bool code : {false, true}) {
        drop_ours("default");
        std::vector<mig::Migration> ms;
        ms.push_back(mig::Migration("0001_initial").create_model(
            B, {mig::Column("id", mig::Type::int64).primary_key().auto_increment(), mig::Column("title", mig::Type::text)}));
        if (code) {
            ms.push_back(mig::Migration("0002_one_way").depends_on("0001_initial").run_code("fill titles", [](mig::Context& c) {
                c.execute(fmt::format("INSERT INTO {} (title) VALUES ('from code')", B));
            }));
        } else {
            ms.push_back(mig::Migration("0002_one_way").depends_on("0001_initial").run_sql(
                {{"*", fmt::format("INSERT INTO {} (title) VALUES ('from sql')", B)}}));
        }
        ms.push_back(mig::Migration("0003_pages").depends_on("0002_one_way").add_field(B, mig::Column("pages", mig::Type::int32).default_value(0)));
        const mig::Project p{ms, {}};
        CT_CHECK_EQ(mig::migrate(p, {}), std::size_t{3});
        CT_CHECK_THROWS_WITH(mig::migrate(p, {.target = "0001_initial"}), mig::MigrationError, "0002_one_way",
                             code ? "run_code \"fill titles\"" : "run_sql", "irreversible", "test_orm_migrations.cpp");
        // Checked before anything is undone: 0003 is still applied, its column still there.
        CT_CHECK_EQ(applied_names(p).size(), std::size_t{3});
        const auto cols = column_names(B);
        CT_CHECK(std::find(cols.begin(), cols.end(), "pages") != cols.end());
        CT_CHECK_EQ(count_rows(B), std::int64_t{1});
        CT_CHECK_THROWS_WITH(mig::sql_migrate(p, "0002_one_way", "default", true), mig::MigrationError, "irreversible");
        // Undoing only what is reversible works.
        CT_CHECK_EQ(mig::migrate(p, {.target = "0002_one_way"}), std::size_t{1});
        CT_CHECK_EQ(applied_names(p).size(), std::size_t{2});
    }
}

CONFORMANCE_TEST("orm migrations: two heads are an error naming both") {
    Fixture fx(ctx);
    std::vector<mig::Migration> ms;
    ms.push_back(mig::Migration("0001_initial").create_model(B, {mig::Column("id", mig::Type::int64).primary_key().auto_increment()}));
    ms.push_back(mig::Migration("0002_left").depends_on("0001_initial").add_field(B, mig::Column("a", mig::Type::text).null()));
    ms.push_back(mig::Migration("0002_right").depends_on("0001_initial").add_field(B, mig::Column("b", mig::Type::text).null()));
    const mig::Project p{ms, {}};
    CT_CHECK_EQ(mig::heads(p), (std::vector<std::string>{"0002_left", "0002_right"}));
    CT_CHECK_THROWS_WITH(mig::migrate(p, {}), mig::MigrationError, "0002_left", "0002_right", "merge");
    CT_CHECK(!has_table(B));
    mig::FixedAnswers no;
    CT_CHECK_THROWS_WITH(mig::detect_changes(p, no), mig::MigrationError, "0002_left", "0002_right", "merge");
    const auto problems = mig::check(p);
    CT_REQUIRE(!problems.empty());
    CT_CHECK(problems.front().find("0002_left") != std::string::npos && problems.front().find("0002_right") != std::string::npos);
    // A merge migration that follows both ends it.
    auto merged = ms;
    merged.push_back(mig::Migration("0003_merge").depends_on("0002_left").depends_on("0002_right"));
    const mig::Project ok{merged, {}};
    CT_CHECK_EQ(mig::heads(ok), std::vector<std::string>{"0003_merge"});
    CT_CHECK_EQ(mig::migrate(ok, {}), std::size_t{4});
    const auto cols = column_names(B);
    CT_CHECK(std::find(cols.begin(), cols.end(), "a") != cols.end() && std::find(cols.begin(), cols.end(), "b") != cols.end());
    CT_CHECK_EQ(count_rows(B), std::int64_t{0});
}

CONFORMANCE_TEST("orm migrations: a shorter max_length never cuts a value silently") {
    Fixture fx(ctx);
    std::vector<mig::Migration> ms;
    ms.push_back(mig::Migration("0001_initial").create_model(
        T, {mig::Column("id", mig::Type::int64).primary_key().auto_increment(),
            mig::Column("label", mig::Type::varchar).max_length(60)}));
    CT_REQUIRE(mig::migrate(mig::Project{ms, {}}, {}) == 1);
    const std::string long_label(40, 'x');
    {
        auto conn = orm::database().acquire();
        conn->execute(fmt::format("INSERT INTO {} (label) VALUES ('{}')", T, long_label));
    }
    ms.push_back(mig::Migration("0002_shorter").depends_on("0001_initial").alter_field(
        T, mig::Column("label", mig::Type::varchar).max_length(30)));
    const mig::Project p{ms, {}};
    bool applied = false;
    try {
        applied = mig::migrate(p, {}) == 1;
    } catch (const orm::Error& e) {
        // Where the database enforces lengths, it refuses; nothing of the migration stays.
        CT_CHECK(ctx.features().enforces_max_length);
        CT_CHECK_EQ(applied_names(p), std::vector<std::string>{"0001_initial"});
    }
    if (applied) CT_CHECK(!ctx.features().enforces_max_length);
    auto conn = orm::database().acquire();
    auto r = conn->execute(fmt::format("SELECT label FROM {}", T));
    CT_REQUIRE(r.next());
    CT_CHECK_EQ(canon(r.row().value(0)), long_label);
}

CONFORMANCE_TEST("orm migrations: a migrate that fails half-way keeps what it finished and the next one continues") {
    Fixture fx(ctx);
    auto fail_now = std::make_shared<bool>(true);
    std::vector<mig::Migration> ms;
    ms.push_back(mig::Migration("0001_initial").create_model(
        B, {mig::Column("id", mig::Type::int64).primary_key().auto_increment(), mig::Column("title", mig::Type::text)}));
    ms.push_back(mig::Migration("0002_pages").depends_on("0001_initial").add_field(B, mig::Column("pages", mig::Type::int32).default_value(0)));
    ms.push_back(mig::Migration("0003_flaky")
                     .depends_on("0002_pages")
                     .add_field(B, mig::Column("isbn", mig::Type::text).null())
                     .run_code(
                         "a step that fails the first time",
                         [fail_now](mig::Context& c) {
                             c.execute(fmt::format("INSERT INTO {} (title) VALUES ('written by 0003')", B));
                             if (*fail_now) throw std::runtime_error("the data migration failed");
                         },
                         mig::Code{}));
    ms.push_back(mig::Migration("0004_rating").depends_on("0003_flaky").add_field(B, mig::Column("rating", mig::Type::float64).null()));
    const mig::Project p{ms, {}};
    CT_CHECK_THROWS_WITH(mig::migrate(p, {}), std::runtime_error, "the data migration failed");
    CT_CHECK_EQ(applied_names(p), (std::vector<std::string>{"0001_initial", "0002_pages"}));
    auto cols = column_names(B);
    CT_CHECK(std::find(cols.begin(), cols.end(), "pages") != cols.end());
    CT_CHECK(std::find(cols.begin(), cols.end(), "isbn") == cols.end());
    CT_CHECK_EQ(count_rows(B), std::int64_t{0});
    *fail_now = false;
    CT_CHECK_EQ(mig::migrate(p, {}), std::size_t{2});
    CT_CHECK_EQ(applied_names(p).size(), std::size_t{4});
    cols = column_names(B);
    CT_CHECK(std::find(cols.begin(), cols.end(), "isbn") != cols.end());
    CT_CHECK(std::find(cols.begin(), cols.end(), "rating") != cols.end());
    CT_CHECK_EQ(count_rows(B), std::int64_t{1});
    // fake records without running; a fake unapply unrecords without running.
    CT_CHECK_EQ(mig::migrate(p, {.target = "0002_pages", .fake = true}), std::size_t{2});
    CT_CHECK_EQ(applied_names(p).size(), std::size_t{2});
    cols = column_names(B);
    CT_CHECK(std::find(cols.begin(), cols.end(), "rating") != cols.end());
    CT_CHECK_EQ(mig::migrate(p, {.fake = true}), std::size_t{2});
    CT_CHECK_EQ(count_rows(B), std::int64_t{1});
}

namespace {

// Runs `fn` beside the test body: on a fiber in async mode, on a thread in sync mode.
class Beside {
public:
    explicit Beside(std::function<void()> fn) {
        if (orm::is_async()) {
            task_.emplace(orm::spawn("beside", std::move(fn)));
        } else {
            thread_ = std::thread([this, fn = std::move(fn)] {
                try {
                    fn();
                } catch (...) {
                    error_ = std::current_exception();
                }
            });
        }
    }
    ~Beside() {
        try {
            join();
        } catch (...) {
        }
    }
    Beside(const Beside&) = delete;
    Beside& operator=(const Beside&) = delete;
    void join() {
        if (task_) {
            auto t = std::move(*task_);
            task_.reset();
            t.get();
            return;
        }
        weft::conformance::join(thread_);
        if (auto e = std::exchange(error_, nullptr)) std::rethrow_exception(e);
    }

private:
    std::optional<orm::Task<void>> task_;
    std::thread thread_;
    std::exception_ptr error_;
};

}  // namespace

CONFORMANCE_TEST("orm migrations: two migrates at once apply each migration exactly once") {
    ctx.require_multiple_connections();
    Fixture fx(ctx);
    orm::connect(ctx.url(), "other");  // a second pool on the same database: another process's view
    std::vector<mig::Migration> ms;
    ms.push_back(mig::Migration("0001_initial").create_model(
        B, {mig::Column("id", mig::Type::int64).primary_key().auto_increment(), mig::Column("title", mig::Type::text)}));
    for (int i = 2; i <= 8; ++i) {
        const std::string name = fmt::format("{:04d}_step", i);
        ms.push_back(mig::Migration(name)
                         .depends_on(ms.back().name())
                         .add_field(B, mig::Column(fmt::format("c{}", i), mig::Type::int32).default_value(i))
                         .run_code("count the run", [i](mig::Context& c) {
                             c.execute(fmt::format("INSERT INTO {} (title) VALUES ('one run')", B));
                             // Holds the lock a while, so that the other side waits for it with
                             // these migrations still unapplied when it looked.
                             if (i == 2) {
                                 if (orm::in_fiber()) orm::sleep_for(std::chrono::milliseconds(200));
                                 else std::this_thread::sleep_for(std::chrono::milliseconds(200));
                             }
                         }, mig::Code{}));
    }
    const mig::Project p{ms, {}};
    std::size_t ran_other = 0, ran_here = 0;
    std::ostringstream said_here, said_other;
    {
        Beside other([&] { ran_other = mig::migrate(p, {.alias = "other", .out = &said_other}); });
        ran_here = mig::migrate(p, {.out = &said_here});
        other.join();
    }
    // The side that waited for the lock found the work done ("already applied"), never twice.
    CT_CHECK(said_here.str().find("FAILED") == std::string::npos && said_other.str().find("FAILED") == std::string::npos);
    orm::disconnect("other");
    CT_CHECK_EQ(ran_here + ran_other, ms.size());
    CT_CHECK_EQ(applied_names(p).size(), ms.size());
    CT_CHECK_EQ(count_rows("weft_migrations"), static_cast<std::int64_t>(ms.size()));
    CT_CHECK_EQ(count_rows(B), static_cast<std::int64_t>(ms.size() - 1));
    CT_CHECK_EQ(column_names(B).size(), ms.size() + 1);
    ctx.note(fmt::format("this side applied {}, the other {}", ran_here, ran_other));
}

CONFORMANCE_TEST("orm migrations: unapplying remove_field brings the column back with its type's zero, and the indexes with it") {
    Fixture fx(ctx);
    std::vector<mig::Migration> ms;
    ms.push_back(mig::Migration("0001_initial").create_model(
        T,
        {mig::Column("id", mig::Type::int64).primary_key().auto_increment(), mig::Column("b", mig::Type::boolean),
         mig::Column("i", mig::Type::int32), mig::Column("f", mig::Type::float64), mig::Column("s", mig::Type::text),
         mig::Column("v", mig::Type::varchar).max_length(10), mig::Column("y", mig::Type::bytes),
         mig::Column("ts", mig::Type::timestamp), mig::Column("d", mig::Type::date),
         mig::Column("keep", mig::Type::text)},
        {mig::Index("mig_zero_i_s", {"i", "s"}), mig::Index("mig_zero_v", {"v"}).unique()}));
    ms.push_back(mig::Migration("0002_remove").depends_on("0001_initial"));
    for (const char* c : {"b", "i", "f", "s", "v", "y", "ts", "d"}) ms.back().remove_field(T, c);
    const mig::Project p{ms, {}};
    CT_REQUIRE(mig::migrate(p, {.target = "0001_initial"}) == 1);
    {
        auto conn = orm::database().acquire();
        conn->execute(fmt::format("INSERT INTO {} (b, i, f, s, v, y, ts, d, keep) VALUES ({}, 7, 1.5, 'x', 'y', {}, {}, {}, 'row')",
                                  T, conn->dialect().literal(Value(true)), conn->dialect().literal(Value(Bytes{1, 2})),
                                  conn->dialect().literal(Value(Timestamp(std::chrono::seconds(86400)))),
                                  conn->dialect().literal(Value(Date(std::chrono::days(3))))));
    }
    CT_REQUIRE(mig::migrate(p, {}) == 1);
    CT_CHECK_EQ(column_names(T), (std::vector<std::string>{"id", "keep"}));
    CT_CHECK_EQ(mig::migrate(p, {.target = "0001_initial"}), std::size_t{1});
    {
        auto conn = orm::database().acquire();
        const auto& in = conn->backend().introspection();
        for (const auto& c : in.columns(*conn, T)) CT_CHECK(!c.nullable);
        std::set<std::string> indexes;
        for (const auto& ix : in.indexes(*conn, T)) indexes.insert(fmt::format("{}{}", ix.name, ix.unique ? " unique" : ""));
        CT_CHECK(indexes.count("mig_zero_i_s") == 1);
        CT_CHECK(indexes.count("mig_zero_v unique") == 1);
        auto r = conn->execute(fmt::format("SELECT b, i, f, s, v, y, ts, d, keep FROM {}", T));
        CT_REQUIRE(r.next());
        auto row = r.row();
        CT_CHECK_EQ(row.get<bool>(0), false);
        CT_CHECK_EQ(row.get<std::int32_t>(1), std::int32_t{0});
        CT_CHECK_EQ(row.get<double>(2), 0.0);
        CT_CHECK_EQ(row.get<std::string>(3), std::string());
        CT_CHECK_EQ(row.get<std::string>(4), std::string());
        CT_CHECK(row.get<Bytes>(5).empty());
        CT_CHECK(row.get<Timestamp>(6) == Timestamp{});
        CT_CHECK(row.get<Date>(7) == Date{});
        CT_CHECK_EQ(row.get<std::string>(8), std::string("row"));
    }
}

CONFORMANCE_TEST("orm migrations: keys of deleted rows are not handed out again after a table is rebuilt") {
    Fixture fx(ctx);
    std::vector<mig::Migration> ms;
    ms.push_back(mig::Migration("0001_initial").create_model(
        B, {mig::Column("id", mig::Type::int64).primary_key().auto_increment(), mig::Column("title", mig::Type::text)}));
    ms.push_back(mig::Migration("0002_title").depends_on("0001_initial").alter_field(B, mig::Column("title", mig::Type::varchar).max_length(40)));
    const mig::Project p{ms, {}};
    CT_REQUIRE(mig::migrate(p, {.target = "0001_initial"}) == 1);
    auto insert = [] {
        auto conn = orm::database().acquire();
        conn->execute(fmt::format("INSERT INTO {} (title) VALUES ('t')", B));
    };
    for (int i = 0; i < 3; ++i) insert();
    {
        auto conn = orm::database().acquire();
        conn->execute(fmt::format("DELETE FROM {} WHERE id = 3", B));
    }
    CT_REQUIRE(mig::migrate(p, {}) == 1);
    insert();
    auto conn = orm::database().acquire();
    auto r = conn->execute(fmt::format("SELECT max(id) FROM {}", B));
    CT_REQUIRE(r.next());
    CT_CHECK_EQ(r.row().value(0).as_int64(), std::int64_t{4});
}

CONFORMANCE_TEST("orm migrations: a constraint the rows break fails the migration; nothing changes and the connection works") {
    Fixture fx(ctx);
    std::vector<mig::Migration> ms;
    ms.push_back(mig::Migration("0001_initial").create_model(
        B, {mig::Column("id", mig::Type::int64).primary_key().auto_increment(), mig::Column("isbn", mig::Type::text)}));
    CT_REQUIRE(mig::migrate(mig::Project{ms, {}}, {}) == 1);
    {
        auto conn = orm::database().acquire();
        conn->execute(fmt::format("INSERT INTO {} (isbn) VALUES ('same'), ('same')", B));
    }
    auto unique = ms;
    unique.push_back(mig::Migration("0002_unique")
                         .depends_on("0001_initial")
                         .add_field(B, mig::Column("note", mig::Type::text).null())
                         .alter_field(B, mig::Column("isbn", mig::Type::text).unique()));
    auto index = ms;
    index.push_back(mig::Migration("0002_unique")
                        .depends_on("0001_initial")
                        .add_field(B, mig::Column("note", mig::Type::text).null())
                        .add_index(B, mig::Index("mig_isbn_uniq", {"isbn"}).unique()));
    for (const auto& attempt : {unique, index}) {
        const mig::Project p{attempt, {}};
        CT_CHECK_THROWS_AS(mig::migrate(p, {}), IntegrityError);
        CT_CHECK_EQ(applied_names(p), std::vector<std::string>{"0001_initial"});
        CT_CHECK_EQ(column_names(B), (std::vector<std::string>{"id", "isbn"}));
        CT_CHECK_EQ(count_rows(B), std::int64_t{2});
        auto conn = orm::database().acquire();
        for (const auto& ix : conn->backend().introspection().indexes(*conn, B)) CT_CHECK(ix.primary);
    }
    // A reference to a row that does not exist, added with a one-off default.
    auto reference = ms;
    reference.push_back(mig::Migration("0002_ref").depends_on("0001_initial").create_model(
        A, {mig::Column("id", mig::Type::int64).primary_key().auto_increment()}));
    reference.push_back(mig::Migration("0003_ref").depends_on("0002_ref").add_field(
        B, mig::Column("author_id", mig::Type::int64).references(A), Value(std::int64_t{42})));
    const mig::Project p{reference, {}};
    CT_CHECK_THROWS_AS(mig::migrate(p, {}), IntegrityError);
    CT_CHECK_EQ(applied_names(p), (std::vector<std::string>{"0001_initial", "0002_ref"}));
    CT_CHECK_EQ(column_names(B), (std::vector<std::string>{"id", "isbn"}));
    // Still usable, foreign key checks included (SQLite turned them off for the migration).
    {
        auto conn = orm::database().acquire();
        conn->execute(fmt::format("INSERT INTO {} (isbn) VALUES ('third')", B));
    }
    CT_CHECK_EQ(count_rows(B), std::int64_t{3});
    reference.back() = mig::Migration("0003_ref").depends_on("0002_ref").add_field(
        B, mig::Column("author_id", mig::Type::int64).null().references(A));
    CT_CHECK_EQ(mig::migrate(mig::Project{reference, {}}, {}), std::size_t{1});
    auto conn = orm::database().acquire();
    CT_CHECK_THROWS_AS(conn->execute(fmt::format("UPDATE {} SET author_id = 42", B)), IntegrityError);
    conn->execute("SELECT 1");
}

namespace {

struct CycShip;
struct CycPort : orm::Model<CycPort> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<CycShip> flagship;
    static void describe(orm::Meta<CycPort>& m);
};
struct CycShip : orm::Model<CycShip> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<CycPort> home;
    static void describe(orm::Meta<CycShip>& m) {
        m.table("weft_ct_mig_ship");
        m.field(&CycShip::id, "id").primary_key();
        m.field(&CycShip::name, "name");
        m.field(&CycShip::home, "home").on_delete(orm::OnDelete::do_nothing).related_name("ships");
    }
};
void CycPort::describe(orm::Meta<CycPort>& m) {
    m.table("weft_ct_mig_port");
    m.field(&CycPort::id, "id").primary_key();
    m.field(&CycPort::name, "name");
    m.field(&CycPort::flagship, "flagship").null().on_delete(orm::OnDelete::do_nothing).related_name("flagship_of");
}

}  // namespace

CONFORMANCE_TEST("orm migrations: tables whose foreign keys form a cycle are created and deleted, rows and all") {
    Fixture fx(ctx, true);
    const Version v = version<CycPort, CycShip>("cycle");
    mig::FixedAnswers no;
    std::vector<mig::Migration> ms;
    auto create = mig::detect_changes(mig::Project{{}, v.models}, no);
    CT_REQUIRE(create.has_value());
    ms.push_back(*create);
    CT_CHECK_EQ(mig::migrate(mig::Project{ms, v.models}, {}), std::size_t{1});
    Data empty{{"weft_ct_mig_port", {}}, {"weft_ct_mig_ship", {}}};
    verify(ctx, "cycle created", v, empty);
    auto port = CycPort::objects.create({.name = "Lerwick"});
    auto ship = CycShip::objects.create({.name = "Shetlander", .home = port});
    port.flagship = ship;
    port.save();
    CT_CHECK_EQ(CycPort::objects.get("pk", port.id).flagship->name, std::string("Shetlander"));
    // Both models gone: the references inside the cycle go first, then the tables.
    auto drop = mig::detect_changes(mig::Project{ms, {}}, no);
    CT_REQUIRE(drop.has_value());
    ms.push_back(*drop);
    const mig::Project p{ms, {}};
    CT_CHECK_EQ(mig::migrate(p, {}), std::size_t{1});
    CT_CHECK(!has_table("weft_ct_mig_port") && !has_table("weft_ct_mig_ship"));
    // Back: the tables come back (empty) with their references, as create_tables makes them.
    CT_CHECK_EQ(mig::migrate(p, {.target = ms.front().name()}), std::size_t{1});
    verify(ctx, "cycle restored", v, empty);
    // And to nothing, with rows referring to each other across the cycle.
    port = CycPort::objects.create({.name = "Lerwick"});
    ship = CycShip::objects.create({.name = "Shetlander", .home = port});
    port.flagship = ship;
    port.save();
    CT_CHECK_EQ(mig::migrate(p, {.target = "zero"}), std::size_t{1});
    CT_CHECK(!has_table("weft_ct_mig_port") && !has_table("weft_ct_mig_ship"));
}
