// Schema migrations, Django's way. A migration is a list of operations on tables (create,
// delete and rename models; add, remove, alter and rename fields; indexes; RunSQL; C++ code),
// written by `makemigrations` as a readable C++ file in the user's source tree and compiled into
// the program (docs/migrations.md says why). Migrations are computed from the models against
// the state the existing migrations build, never against a live database.
//
//     int main(int argc, char** argv) {
//         orm::connections().configure("default", "sqlite:///app.db");
//         orm::register_models<Author, Book>();
//         return orm::manage(argc, argv);   // makemigrations, migrate, showmigrations, sqlmigrate, check
//     }
//
// A generated migration (migrations/0002_book_pages.hpp):
//
//     inline orm::migrations::Migration weft_migration_0002_book_pages() {
//         using namespace orm::migrations;
//         return Migration("0002_book_pages")
//             .depends_on("0001_initial")
//             .add_field("book", Column("pages", Type::int64).default_value(0));
//     }
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/schema.hpp"
#include "drivers/value.hpp"
#include "orm/errors.hpp"

namespace orm {

class ModelInfo;
template <class T>
const ModelInfo& model_info();

namespace migrations {

using Type = db::ColumnType;
using db::ReferentialAction;

// A column as a migration declares it.
class Column {
public:
    Column(std::string name, Type type) {
        spec.name = std::move(name);
        spec.type = type;
    }
    explicit Column(db::ColumnSpec s) : spec(std::move(s)) {}
    Column& max_length(std::size_t n) { spec.max_length = n; return *this; }
    Column& null(bool on = true) { spec.nullable = on; return *this; }
    Column& primary_key(bool on = true) { spec.primary_key = on; return *this; }
    Column& auto_increment(bool on = true) { spec.auto_increment = on; return *this; }
    Column& unique(bool on = true) { spec.unique = on; return *this; }
    Column& default_value(Value v) { spec.default_value = std::move(v); return *this; }
    Column& references(std::string table, std::string column = "id",
                       ReferentialAction on_delete = ReferentialAction::no_action) {
        spec.references = db::ForeignKeySpec{std::move(table), std::move(column), on_delete};
        return *this;
    }
    db::ColumnSpec spec;
};

// An index (unique: a unique constraint) over one or more columns.
class Index {
public:
    Index(std::string name, std::vector<std::string> columns) {
        spec.name = std::move(name);
        spec.columns = std::move(columns);
    }
    Index& unique(bool on = true) { spec.unique = on; return *this; }
    db::IndexSpec spec;
};

// SQL for RunSQL, per backend: {{"postgresql", "..."}, {"sqlite", "..."}}; "*" is any backend.
// Several statements may be separated by ';'.
using SqlByBackend = std::map<std::string, std::string, std::less<>>;

// What a RunCode step gets: the database it runs on, inside the migration's transaction.
// ORM calls on the same alias run in that transaction too.
class Context {
public:
    explicit Context(std::string_view alias) : alias_(alias) {}
    std::string_view alias() const noexcept { return alias_; }
    // "sqlite" or "postgresql".
    std::string_view backend() const;
    // Runs one statement with parameters ($1 / ? placeholders as the backend writes them).
    void execute(std::string_view sql, std::span<const Value> params = {});
    // The first column of the first row (NULL when there is none).
    Value scalar(std::string_view sql, std::span<const Value> params = {});

private:
    std::string_view alias_;
};
using Code = std::function<void(Context&)>;

enum class OpKind : std::uint8_t {
    create_model, delete_model, rename_model,
    add_field, remove_field, alter_field, rename_field,
    add_index, remove_index,
    run_sql, run_code,
};
std::string_view to_string(OpKind k) noexcept;

// One operation; which members mean something depends on `kind`.
struct Operation {
    OpKind kind = OpKind::run_sql;
    std::string table;      // the table acted on (rename_model: the old name)
    std::string name;       // remove_field, rename_field: the (old) column; remove_index: the index;
                            // rename_model: the new table name; run_code: its description
    std::string new_name;   // rename_field: the new column name
    std::vector<db::ColumnSpec> columns;  // create_model: all; add_field, alter_field: the one
    std::vector<db::IndexSpec> indexes;   // create_model: its indexes; add_index: the one
    std::optional<Value> fill;            // add_field: what existing rows take; alter_field: what NULLs become
    SqlByBackend forward_sql, backward_sql;  // run_sql
    bool reversible = true;                  // run_sql / run_code without a backward step: false
    Code forward, backward;                  // run_code

    // "add_field book.pages": for messages and listings.
    std::string describe() const;
};

// One migration: a name, the migrations it follows, and its operations. Built with the calls
// below (makemigrations writes them; people may edit them).
class Migration {
public:
    explicit Migration(std::string name, std::source_location where = std::source_location::current());

    Migration& depends_on(std::string name);
    // Models (tables). A table's columns and indexes are created together.
    Migration& create_model(std::string table, std::vector<Column> columns, std::vector<Index> indexes = {});
    Migration& delete_model(std::string table);
    Migration& rename_model(std::string table, std::string new_name);
    // Fields (columns). `fill` is the value existing rows take when the column is added
    // (a one-off default: a NOT NULL column without a default needs one when the table has rows).
    Migration& add_field(std::string table, Column column, std::optional<Value> fill = std::nullopt);
    Migration& remove_field(std::string table, std::string column);
    // The column becomes `column` (same name); `fill` replaces NULLs when it becomes NOT NULL.
    Migration& alter_field(std::string table, Column column, std::optional<Value> fill = std::nullopt);
    Migration& rename_field(std::string table, std::string column, std::string new_name);
    Migration& add_index(std::string table, Index index);
    Migration& remove_index(std::string table, std::string index_name);
    // Raw SQL; without `backward` the migration cannot be unapplied.
    Migration& run_sql(SqlByBackend forward, std::optional<SqlByBackend> backward = std::nullopt);
    // The user's C++ code (data migrations); without `backward` it cannot be unapplied. Pass an
    // empty function as `backward` for a step that needs nothing undone.
    Migration& run_code(std::string description, Code forward, std::optional<Code> backward = std::nullopt);

    const std::string& name() const noexcept { return name_; }
    const std::vector<std::string>& dependencies() const noexcept { return dependencies_; }
    const std::vector<Operation>& operations() const noexcept { return operations_; }
    std::vector<Operation>& operations() noexcept { return operations_; }
    // The source file that built it ("" when unknown): error messages name it.
    const std::string& file() const noexcept { return file_; }
    void set_file(std::string f) { file_ = std::move(f); }

private:
    std::string name_;
    std::string file_;
    std::vector<std::string> dependencies_;
    std::vector<Operation> operations_;
};

// An invalid migration (an operation on a table or column that does not exist at that point,
// a cycle or a missing dependency, two heads...). The message names the file and operation.
struct MigrationError : InterfaceError {
    using InterfaceError::InterfaceError;
};

// The schema the migrations build: tables with their columns and (named) indexes.
struct State {
    std::vector<db::TableSpec> tables;  // in creation order
    const db::TableSpec* find(std::string_view table) const noexcept;
    db::TableSpec* find(std::string_view table) noexcept;
};
// The state a set of models asks for (what create_tables would create), index names filled in.
State state_of(std::span<const ModelInfo* const> models);

// A set of migrations and the models they serve. register_models() / Registration fill the
// program's own (project()); tests and tools may build others.
struct Project {
    std::vector<Migration> migrations;
    std::vector<const ModelInfo*> models;
    std::string directory = "migrations";  // where makemigrations writes (and finds) the files
    // The label the record of applied migrations keeps them under (Django's app label): two
    // programs with their own migrations may share a database when their labels differ.
    std::string app = "main";
};
Project& project();

// Keeps the migrations of a generated migrations.cpp in project() (a static object there).
struct Registration {
    Registration(std::vector<Migration> migrations);
};

// --- Commands (the code behind orm::manage) -------------------------------------------------

struct MigrateOptions {
    std::string alias = "default";
    std::optional<std::string> target;  // a migration name, or "zero" (unapply all); none: the latest
    bool fake = false;                   // record (or unrecord) without running the operations
    bool fake_initial = false;           // adopt tables create_tables made: record an initial
                                         // migration as applied when all its tables exist
    std::ostream* out = nullptr;         // progress lines ("Applying 0002_book_pages... OK")
};
// Applies (or, to an earlier target, unapplies) migrations on one database. Each migration runs
// in one transaction and is recorded in the table weft_migrations in it; on PostgreSQL an
// advisory lock keeps two processes from applying anything twice. Returns how many ran.
std::size_t migrate(const Project& p, const MigrateOptions& o);
std::size_t migrate(const MigrateOptions& o = {});

struct MigrationStatus {
    std::string name;
    bool applied = false;
    std::optional<Timestamp> applied_at;
};
// Every migration in plan order, with whether (and when) it was applied on `alias`.
std::vector<MigrationStatus> show_migrations(const Project& p, std::string_view alias = "default");

// The SQL one migration runs on `alias`'s backend (backwards: to unapply it), one statement per
// line ending with ';'. C++ steps show as comments. Reads no table of the database.
std::string sql_migrate(const Project& p, std::string_view name, std::string_view alias = "default",
                        bool backwards = false);

// Answers makemigrations' questions: was a column or table renamed, what do existing rows
// take for a new NOT NULL column. The default answers come from options; interactive() asks on
// a terminal.
class Questioner {
public:
    virtual ~Questioner() = default;
    virtual bool ask_rename_field(const std::string& table, const std::string& from, const std::string& to) = 0;
    virtual bool ask_rename_model(const std::string& from, const std::string& to) = 0;
    // A value for existing rows of `table` in new NOT NULL column `column` (no default), or none.
    virtual std::optional<Value> ask_fill(const std::string& table, const db::ColumnSpec& column) = 0;
    // A value for NULLs of a column becoming NOT NULL, or none.
    virtual std::optional<Value> ask_fill_nulls(const std::string& table, const db::ColumnSpec& column) = 0;
};
// Answers without asking: renames as `renames` says (never guessed: no answer means "no"),
// one-off defaults from `fills` ("table.column" -> value given as text, converted to the
// column's type).
class FixedAnswers : public Questioner {
public:
    bool renames = false;
    std::map<std::string, std::string, std::less<>> fills;
    bool ask_rename_field(const std::string& table, const std::string& from, const std::string& to) override;
    bool ask_rename_model(const std::string& from, const std::string& to) override;
    std::optional<Value> ask_fill(const std::string& table, const db::ColumnSpec& column) override;
    std::optional<Value> ask_fill_nulls(const std::string& table, const db::ColumnSpec& column) override;
};

// The operations that take the state of p.migrations to the state of p.models (empty when
// nothing changed), as one new migration following the current head.
std::optional<Migration> detect_changes(const Project& p, Questioner& q, std::string name = {});
// The C++ source of a migration file (what makemigrations writes).
std::string to_cpp(const Migration& m);
// Changes the migrations do not cover, one line each ("add_field book.pages"); empty: none.
std::vector<std::string> check(const Project& p);

// The latest migration(s): more than one is an error ("two heads") everywhere but here.
std::vector<std::string> heads(const Project& p);

}  // namespace migrations

// The models the program's migrations serve (makemigrations diffs them against the migrations).
void register_models(std::span<const ModelInfo* const> models);
template <class... Ts>
void register_models() {
    const ModelInfo* models[] = {&model_info<Ts>()...};
    register_models(models);
}

// The management commands, for the user's main(): makemigrations, migrate, showmigrations,
// sqlmigrate, check (each with --database ALIAS). Returns the process exit code.
int manage(int argc, char** argv);
int manage(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace orm
