// Migrations: the builder, states and what each operation does to them, and the SQL steps each
// operation turns into (forwards and backwards) through the backend's schema editor.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "drivers/column_zero.hpp"
#include "drivers/dialect.hpp"
#include "drivers/schema.hpp"
#include "orm/migration_impl.hpp"
#include "orm/model_info.hpp"
#include "orm/session.hpp"

namespace orm::migrations {

std::string_view to_string(OpKind k) noexcept {
    switch (k) {
        case OpKind::create_model: return "create_model";
        case OpKind::delete_model: return "delete_model";
        case OpKind::rename_model: return "rename_model";
        case OpKind::add_field: return "add_field";
        case OpKind::remove_field: return "remove_field";
        case OpKind::alter_field: return "alter_field";
        case OpKind::rename_field: return "rename_field";
        case OpKind::add_index: return "add_index";
        case OpKind::remove_index: return "remove_index";
        case OpKind::run_sql: return "run_sql";
        case OpKind::run_code: return "run_code";
    }
    return "unknown";
}

std::string Operation::describe() const {
    const std::string_view k = to_string(kind);
    switch (kind) {
        case OpKind::create_model:
        case OpKind::delete_model: return fmt::format("{} {}", k, table);
        case OpKind::rename_model: return fmt::format("{} {} -> {}", k, table, name);
        case OpKind::add_field:
        case OpKind::alter_field:
            return fmt::format("{} {}.{}", k, table, columns.empty() ? std::string("?") : columns.front().name);
        case OpKind::remove_field: return fmt::format("{} {}.{}", k, table, name);
        case OpKind::rename_field: return fmt::format("{} {}.{} -> {}", k, table, name, new_name);
        case OpKind::add_index:
            return fmt::format("{} {} on {}", k, indexes.empty() ? std::string("?") : indexes.front().name, table);
        case OpKind::remove_index: return fmt::format("{} {} on {}", k, name, table);
        case OpKind::run_sql: return std::string(k);
        case OpKind::run_code: return fmt::format("{} \"{}\"", k, name);
    }
    return std::string(k);
}

namespace {

// Appends an operation of kind k on `table` to m; the caller fills in the rest.
Operation& push(Migration& m, OpKind k, std::string table) {
    Operation& op = m.operations().emplace_back();
    op.kind = k;
    op.table = std::move(table);
    return op;
}

}  // namespace

Migration::Migration(std::string name, std::source_location where) : name_(std::move(name)), file_(where.file_name()) {}

Migration& Migration::depends_on(std::string name) {
    dependencies_.push_back(std::move(name));
    return *this;
}

Migration& Migration::create_model(std::string table, std::vector<Column> columns, std::vector<Index> indexes) {
    Operation& op = push(*this, OpKind::create_model, std::move(table));
    for (auto& c : columns) op.columns.push_back(std::move(c.spec));
    for (auto& ix : indexes) op.indexes.push_back(std::move(ix.spec));
    return *this;
}

Migration& Migration::delete_model(std::string table) {
    push(*this, OpKind::delete_model, std::move(table));
    return *this;
}

Migration& Migration::rename_model(std::string table, std::string new_name) {
    push(*this, OpKind::rename_model, std::move(table)).name = std::move(new_name);
    return *this;
}

Migration& Migration::add_field(std::string table, Column column, std::optional<Value> fill) {
    Operation& op = push(*this, OpKind::add_field, std::move(table));
    op.columns.push_back(std::move(column.spec));
    op.fill = std::move(fill);
    return *this;
}

Migration& Migration::remove_field(std::string table, std::string column) {
    push(*this, OpKind::remove_field, std::move(table)).name = std::move(column);
    return *this;
}

Migration& Migration::alter_field(std::string table, Column column, std::optional<Value> fill) {
    Operation& op = push(*this, OpKind::alter_field, std::move(table));
    op.columns.push_back(std::move(column.spec));
    op.fill = std::move(fill);
    return *this;
}

Migration& Migration::rename_field(std::string table, std::string column, std::string new_name) {
    Operation& op = push(*this, OpKind::rename_field, std::move(table));
    op.name = std::move(column);
    op.new_name = std::move(new_name);
    return *this;
}

Migration& Migration::add_index(std::string table, Index index) {
    push(*this, OpKind::add_index, std::move(table)).indexes.push_back(std::move(index.spec));
    return *this;
}

Migration& Migration::remove_index(std::string table, std::string index_name) {
    push(*this, OpKind::remove_index, std::move(table)).name = std::move(index_name);
    return *this;
}

Migration& Migration::run_sql(SqlByBackend forward, std::optional<SqlByBackend> backward) {
    Operation& op = push(*this, OpKind::run_sql, {});
    op.forward_sql = std::move(forward);
    op.reversible = backward.has_value();
    if (backward) op.backward_sql = std::move(*backward);
    return *this;
}

Migration& Migration::run_code(std::string description, Code forward, std::optional<Code> backward) {
    Operation& op = push(*this, OpKind::run_code, {});
    op.name = std::move(description);
    op.forward = std::move(forward);
    op.reversible = backward.has_value();
    if (backward) op.backward = std::move(*backward);
    return *this;
}

const db::TableSpec* State::find(std::string_view table) const noexcept {
    for (const auto& t : tables)
        if (t.name == table) return &t;
    return nullptr;
}

db::TableSpec* State::find(std::string_view table) noexcept {
    for (auto& t : tables)
        if (t.name == table) return &t;
    return nullptr;
}

// --- Context ----------------------------------------------------------------------------

std::string_view Context::backend() const { return orm::detail::dialect_for(alias_).name(); }

void Context::execute(std::string_view sql, std::span<const Value> params) {
    orm::detail::Lease lease(alias_);
    (void)lease.execute(sql, params);
}

Value Context::scalar(std::string_view sql, std::span<const Value> params) {
    orm::detail::Lease lease(alias_);
    Value out;
    lease.query_first(sql, params, [&](const db::Row& row) {
        if (row.size() > 0) out = row.value(0);
    });
    return out;
}

namespace detail {

// --- Messages ----------------------------------------------------------------------------

void fail(const Migration& m, std::size_t op_index, const std::string& what) {
    const auto& ops = m.operations();
    const std::string op = op_index < ops.size() ? ops[op_index].describe() : std::string("?");
    throw MigrationError(fmt::format("{}{}migration {}, operation {} ({}): {}", m.file(), m.file().empty() ? "" : ": ",
                                     m.name(), op_index + 1, op, what));
}

void fail(const Migration& m, const std::string& what) {
    throw MigrationError(
        fmt::format("{}{}migration {}: {}", m.file(), m.file().empty() ? "" : ": ", m.name(), what));
}

// --- Comparing and normalizing -----------------------------------------------------------

void normalize(db::TableSpec& t) {
    for (auto& c : t.columns) {
        if (c.default_value && !c.default_value->is_null())
            c.default_value = normalize_value(c.type, *c.default_value, fmt::format("default of {}.{}", t.name, c.name));
        if (c.type != db::ColumnType::varchar) c.max_length = 0;
        if (c.primary_key) {
            c.nullable = false;
            c.unique = false;
        }
    }
    for (auto& ix : t.indexes)
        if (ix.name.empty()) ix.name = db::SchemaEditor::default_index_name(t, ix);
}

bool same_column(const db::ColumnSpec& a, const db::ColumnSpec& b) {
    auto same_ref = [](const std::optional<db::ForeignKeySpec>& x, const std::optional<db::ForeignKeySpec>& y) {
        if (!x || !y) return !x && !y;
        return x->table == y->table && x->column == y->column && x->on_delete == y->on_delete;
    };
    return a.name == b.name && a.type == b.type && a.max_length == b.max_length && a.nullable == b.nullable &&
           a.primary_key == b.primary_key && a.auto_increment == b.auto_increment && a.unique == b.unique &&
           a.default_value == b.default_value && same_ref(a.references, b.references);
}

bool same_index(const db::IndexSpec& a, const db::IndexSpec& b) {
    return a.name == b.name && a.columns == b.columns && a.unique == b.unique;
}

// --- Operations on the state -------------------------------------------------------------

namespace {

const db::ColumnSpec* find_column(const db::TableSpec& t, std::string_view name) {
    for (const auto& c : t.columns)
        if (c.name == name) return &c;
    return nullptr;
}

std::string column_list(const db::TableSpec& t) {
    std::string out;
    for (const auto& c : t.columns) out += (out.empty() ? "" : ", ") + c.name;
    return out;
}

std::string table_list(const State& s) {
    std::string out;
    for (const auto& t : s.tables) out += (out.empty() ? "" : ", ") + t.name;
    return out.empty() ? "none" : out;
}

db::TableSpec& table_of(const Migration& m, std::size_t i, State& s, std::string_view name) {
    db::TableSpec* t = s.find(name);
    if (!t) fail(m, i, fmt::format("no table '{}' exists at this point (tables: {})", name, table_list(s)));
    return *t;
}

void check_column(const Migration& m, std::size_t i, const db::TableSpec& t, const db::ColumnSpec& c) {
    if (c.name.empty()) fail(m, i, "a column needs a name");
    if (c.type == db::ColumnType::varchar && c.max_length == 0)
        fail(m, i, fmt::format("column '{}' is varchar without max_length (give .max_length(n), or use Type::text)", c.name));
    if (c.auto_increment && !c.primary_key) fail(m, i, fmt::format("column '{}' is auto_increment but not the primary key", c.name));
    (void)t;
}

void check_index(const Migration& m, std::size_t i, const State& s, const db::TableSpec& t, const db::IndexSpec& ix) {
    if (ix.name.empty()) fail(m, i, "an index needs a name");
    if (ix.columns.empty()) fail(m, i, fmt::format("index '{}' has no columns", ix.name));
    for (const auto& c : ix.columns)
        if (!find_column(t, c))
            fail(m, i, fmt::format("index '{}' names column '{}', which table '{}' does not have (columns: {})", ix.name, c,
                                   t.name, column_list(t)));
    for (const auto& other : s.tables)
        for (const auto& o : other.indexes)
            if (o.name == ix.name) fail(m, i, fmt::format("an index named '{}' exists already (on table '{}')", ix.name, other.name));
}

}  // namespace

void apply(const Migration& m, std::size_t i, State& s) {
    const Operation& op = m.operations()[i];
    switch (op.kind) {
        case OpKind::create_model: {
            if (op.table.empty()) fail(m, i, "a table needs a name");
            if (s.find(op.table)) fail(m, i, fmt::format("table '{}' exists already", op.table));
            if (op.columns.empty()) fail(m, i, "a table needs at least one column");
            db::TableSpec t;
            t.name = op.table;
            for (const auto& c : op.columns) {
                if (find_column(t, c.name)) fail(m, i, fmt::format("column '{}' is listed twice", c.name));
                check_column(m, i, t, c);
                t.columns.push_back(c);
            }
            normalize(t);
            for (const auto& ix : op.indexes) {
                check_index(m, i, s, t, ix);
                for (const auto& o : t.indexes)
                    if (o.name == ix.name) fail(m, i, fmt::format("index '{}' is listed twice", ix.name));
                t.indexes.push_back(ix);
            }
            s.tables.push_back(std::move(t));
            return;
        }
        case OpKind::delete_model: {
            (void)table_of(m, i, s, op.table);
            for (const auto& t : s.tables) {
                if (t.name == op.table) continue;
                for (const auto& c : t.columns)
                    if (c.references && c.references->table == op.table)
                        fail(m, i, fmt::format("table '{}' is still referenced by {}.{} (remove or alter that field first)",
                                               op.table, t.name, c.name));
            }
            std::erase_if(s.tables, [&](const db::TableSpec& t) { return t.name == op.table; });
            return;
        }
        case OpKind::rename_model: {
            db::TableSpec& t = table_of(m, i, s, op.table);
            if (op.name.empty()) fail(m, i, "the new table name is empty");
            if (s.find(op.name)) fail(m, i, fmt::format("table '{}' exists already", op.name));
            t.name = op.name;
            for (auto& other : s.tables)
                for (auto& c : other.columns)
                    if (c.references && c.references->table == op.table) c.references->table = op.name;
            return;
        }
        case OpKind::add_field: {
            db::TableSpec& t = table_of(m, i, s, op.table);
            if (op.columns.size() != 1) fail(m, i, "add_field takes one column");
            const auto& c = op.columns.front();
            if (find_column(t, c.name)) fail(m, i, fmt::format("table '{}' has a column '{}' already", t.name, c.name));
            check_column(m, i, t, c);
            if (c.primary_key) fail(m, i, "a primary key column cannot be added to an existing table");
            if (c.references && !s.find(c.references->table))
                fail(m, i, fmt::format("column '{}' references table '{}', which does not exist at this point", c.name,
                                       c.references->table));
            if (op.fill && !op.fill->is_null()) {
                try {
                    (void)normalize_value(c.type, *op.fill, "the one-off default");
                } catch (const Error& e) {
                    fail(m, i, e.what());
                }
            }
            t.columns.push_back(c);
            normalize(t);
            return;
        }
        case OpKind::remove_field: {
            db::TableSpec& t = table_of(m, i, s, op.table);
            const db::ColumnSpec* c = find_column(t, op.name);
            if (!c) fail(m, i, fmt::format("table '{}' has no column '{}' (columns: {})", t.name, op.name, column_list(t)));
            if (c->primary_key) fail(m, i, fmt::format("'{}' is the primary key of '{}' and cannot be removed", op.name, t.name));
            if (t.columns.size() == 1) fail(m, i, "a table cannot lose its last column (delete_model removes a table)");
            for (const auto& other : s.tables)
                for (const auto& oc : other.columns)
                    if (oc.references && oc.references->table == t.name && oc.references->column == op.name)
                        fail(m, i, fmt::format("column {}.{} is referenced by {}.{}", t.name, op.name, other.name, oc.name));
            std::erase_if(t.indexes, [&](const db::IndexSpec& ix) {
                return std::find(ix.columns.begin(), ix.columns.end(), op.name) != ix.columns.end();
            });
            std::erase_if(t.columns, [&](const db::ColumnSpec& x) { return x.name == op.name; });
            return;
        }
        case OpKind::alter_field: {
            db::TableSpec& t = table_of(m, i, s, op.table);
            if (op.columns.size() != 1) fail(m, i, "alter_field takes one column");
            const auto& c = op.columns.front();
            auto it = std::find_if(t.columns.begin(), t.columns.end(), [&](const db::ColumnSpec& x) { return x.name == c.name; });
            if (it == t.columns.end())
                fail(m, i, fmt::format("table '{}' has no column '{}' (columns: {})", t.name, c.name, column_list(t)));
            check_column(m, i, t, c);
            if (c.references && !s.find(c.references->table))
                fail(m, i, fmt::format("column '{}' references table '{}', which does not exist at this point", c.name,
                                       c.references->table));
            *it = c;
            normalize(t);
            return;
        }
        case OpKind::rename_field: {
            db::TableSpec& t = table_of(m, i, s, op.table);
            if (!find_column(t, op.name))
                fail(m, i, fmt::format("table '{}' has no column '{}' (columns: {})", t.name, op.name, column_list(t)));
            if (op.new_name.empty()) fail(m, i, "the new column name is empty");
            if (find_column(t, op.new_name)) fail(m, i, fmt::format("table '{}' has a column '{}' already", t.name, op.new_name));
            for (auto& c : t.columns)
                if (c.name == op.name) c.name = op.new_name;
            for (auto& ix : t.indexes)
                for (auto& col : ix.columns)
                    if (col == op.name) col = op.new_name;
            for (auto& other : s.tables)
                for (auto& c : other.columns)
                    if (c.references && c.references->table == t.name && c.references->column == op.name)
                        c.references->column = op.new_name;
            return;
        }
        case OpKind::add_index: {
            db::TableSpec& t = table_of(m, i, s, op.table);
            if (op.indexes.size() != 1) fail(m, i, "add_index takes one index");
            check_index(m, i, s, t, op.indexes.front());
            t.indexes.push_back(op.indexes.front());
            return;
        }
        case OpKind::remove_index: {
            db::TableSpec& t = table_of(m, i, s, op.table);
            auto it = std::find_if(t.indexes.begin(), t.indexes.end(), [&](const db::IndexSpec& x) { return x.name == op.name; });
            if (it == t.indexes.end()) {
                std::string names;
                for (const auto& ix : t.indexes) names += (names.empty() ? "" : ", ") + ix.name;
                fail(m, i, fmt::format("table '{}' has no index '{}' (indexes: {})", t.name, op.name, names.empty() ? "none" : names));
            }
            t.indexes.erase(it);
            return;
        }
        case OpKind::run_sql:
            if (op.forward_sql.empty()) fail(m, i, "run_sql has no SQL");
            return;
        case OpKind::run_code:
            if (!op.forward) fail(m, i, "run_code has no forward function");
            return;
    }
}

// --- The graph ---------------------------------------------------------------------------

std::vector<const Migration*> ordered(const Project& p) {
    std::map<std::string_view, const Migration*> by_name;
    for (const auto& m : p.migrations) {
        if (m.name().empty()) throw MigrationError(fmt::format("{}: a migration has an empty name", m.file()));
        if (!by_name.emplace(m.name(), &m).second)
            fail(m, fmt::format("two migrations are named '{}' (the other: {})", m.name(), by_name[m.name()]->file()));
    }
    std::map<std::string_view, std::size_t> waiting;  // unmet dependencies
    std::map<std::string_view, std::vector<const Migration*>> dependents;
    for (const auto& m : p.migrations) {
        std::set<std::string_view> deps(m.dependencies().begin(), m.dependencies().end());
        for (const auto& d : deps) {
            if (!by_name.count(d)) {
                std::string names;
                for (const auto& [n, _] : by_name) names += (names.empty() ? "" : ", ") + std::string(n);
                fail(m, fmt::format("depends on '{}', which is not a known migration (known: {})", d, names));
            }
            dependents[d].push_back(&m);
        }
        waiting[m.name()] = deps.size();
    }
    std::set<std::string_view> ready;
    for (const auto& [n, count] : waiting)
        if (count == 0) ready.insert(n);
    std::vector<const Migration*> out;
    while (!ready.empty()) {
        const std::string_view n = *ready.begin();
        ready.erase(ready.begin());
        out.push_back(by_name[n]);
        for (const Migration* d : dependents[n])
            if (--waiting[d->name()] == 0) ready.insert(d->name());
    }
    if (out.size() != p.migrations.size()) {
        std::string stuck;
        for (const auto& [n, count] : waiting)
            if (count > 0) stuck += (stuck.empty() ? "" : ", ") + std::string(n);
        throw MigrationError(fmt::format("the dependencies of migrations {} form a cycle", stuck));
    }
    return out;
}

std::vector<State> states_along(const std::vector<const Migration*>& order) {
    std::vector<State> out;
    out.reserve(order.size() + 1);
    State s;
    for (const Migration* m : order) {
        out.push_back(s);
        for (std::size_t i = 0; i < m->operations().size(); ++i) apply(*m, i, s);
    }
    out.push_back(std::move(s));
    return out;
}

// --- Steps -------------------------------------------------------------------------------

namespace {

Step sql_step(std::string sql) {
    Step s;
    s.sql = std::move(sql);
    return s;
}

void add_sql(std::vector<Step>& out, std::vector<std::string> sql) {
    for (auto& s : sql) out.push_back(sql_step(std::move(s)));
}

// A NOT NULL column without a default (or fill) cannot be added to a table with rows: a clear
// refusal before any change (the migration's transaction then leaves nothing behind).
Step refuse_if_rows(const Migration& m, std::size_t i, const db::Dialect& d, const std::string& table,
                    const db::ColumnSpec& c) {
    Step s;
    s.comment = fmt::format("-- (checks that {} has no rows: {} is NOT NULL without a default)", table, c.name);
    s.code = [&m, i, table, column = c.name, sql = fmt::format("SELECT count(*) FROM {}", d.quote_name(table))](Context& ctx) {
        const Value n = ctx.scalar(sql);
        if (!n.is_null() && n.as_int64() > 0)
            fail(m, i, fmt::format("column {}.{} is NOT NULL without a default, and table '{}' has {} row(s): they need a "
                                   "value. Give the operation a one-off default (add_field(\"{}\", Column(...), value), "
                                   "or makemigrations --default {}.{}=VALUE), give the column a default, or make it "
                                   "nullable. Nothing of this migration was applied.",
                                   table, column, table, n.as_int64(), table, table, column));
    };
    return s;
}

Step refuse_if_nulls(const Migration& m, std::size_t i, const db::Dialect& d, const std::string& table,
                     const db::ColumnSpec& c) {
    Step s;
    s.comment = fmt::format("-- (checks that {}.{} holds no NULL: it becomes NOT NULL)", table, c.name);
    s.code = [&m, i, table, column = c.name,
              sql = fmt::format("SELECT count(*) FROM {} WHERE {} IS NULL", d.quote_name(table), d.quote_name(c.name))](Context& ctx) {
        const Value n = ctx.scalar(sql);
        if (!n.is_null() && n.as_int64() > 0)
            fail(m, i, fmt::format("column {}.{} becomes NOT NULL, but {} row(s) hold NULL there. Give the operation a "
                                   "value for them (alter_field(\"{}\", Column(...), value), or makemigrations "
                                   "--default {}.{}=VALUE). Nothing of this migration was applied.",
                                   table, column, n.as_int64(), table, table, column));
    };
    return s;
}

std::string sql_for_backend(const SqlByBackend& sql, std::string_view backend) {
    if (auto it = sql.find(backend); it != sql.end()) return it->second;
    if (auto it = sql.find("*"); it != sql.end()) return it->second;
    return {};
}

std::string backends_of(const SqlByBackend& sql) {
    std::string out;
    for (const auto& [k, _] : sql) out += (out.empty() ? "" : ", ") + k;
    return out;
}

const db::TableSpec& table_in(const Migration& m, std::size_t i, const State& s, std::string_view name) {
    const db::TableSpec* t = s.find(name);
    if (!t) fail(m, i, fmt::format("no table '{}' at this point", name));
    return *t;
}

const db::ColumnSpec& column_in(const Migration& m, std::size_t i, const db::TableSpec& t, std::string_view name) {
    const db::ColumnSpec* c = find_column(t, name);
    if (!c) fail(m, i, fmt::format("table '{}' has no column '{}'", t.name, name));
    return *c;
}


}  // namespace

std::vector<Step> forward_steps(const Migration& m, std::size_t i, const State& before, const State& after,
                                const db::SchemaEditor& editor, const db::Dialect& d) {
    const Operation& op = m.operations()[i];
    std::vector<Step> out;
    switch (op.kind) {
        case OpKind::create_model:
            add_sql(out, editor.create_table_sql(table_in(m, i, after, op.table), false));
            break;
        case OpKind::delete_model: add_sql(out, {editor.drop_table_sql(op.table, false)}); break;
        case OpKind::rename_model: add_sql(out, editor.rename_table_sql(op.table, op.name)); break;
        case OpKind::add_field: {
            const auto& c = op.columns.front();
            if (!c.nullable && !c.default_value && !op.fill) out.push_back(refuse_if_rows(m, i, d, op.table, c));
            add_sql(out, editor.add_column_sql(table_in(m, i, before, op.table), table_in(m, i, after, op.table), c.name, op.fill));
            break;
        }
        case OpKind::remove_field:
            add_sql(out, editor.drop_column_sql(table_in(m, i, before, op.table), table_in(m, i, after, op.table), op.name));
            break;
        case OpKind::alter_field: {
            const auto& c = op.columns.front();
            const auto& old = column_in(m, i, table_in(m, i, before, op.table), c.name);
            if (old.nullable && !c.nullable && !op.fill) out.push_back(refuse_if_nulls(m, i, d, op.table, c));
            add_sql(out, editor.alter_column_sql(table_in(m, i, before, op.table), table_in(m, i, after, op.table), c.name, op.fill));
            break;
        }
        case OpKind::rename_field:
            add_sql(out, editor.rename_column_sql(table_in(m, i, before, op.table), op.name, op.new_name));
            break;
        case OpKind::add_index:
            add_sql(out, {editor.create_index_sql(table_in(m, i, after, op.table), op.indexes.front(), false)});
            break;
        case OpKind::remove_index: add_sql(out, {editor.drop_index_sql(op.name, false)}); break;
        case OpKind::run_sql: {
            std::string sql = sql_for_backend(op.forward_sql, d.name());
            if (sql.empty())
                fail(m, i, fmt::format("run_sql has no SQL for the {} backend (it has: {}; \"*\" serves any backend)", d.name(),
                                       backends_of(op.forward_sql)));
            out.push_back(sql_step(std::move(sql)));
            break;
        }
        case OpKind::run_code: {
            Step s;
            s.comment = fmt::format("-- (C++ code: {})", op.name);
            s.code = op.forward;
            out.push_back(std::move(s));
            break;
        }
    }
    return out;
}

std::vector<Step> backward_steps(const Migration& m, std::size_t i, const State& before, const State& after,
                                 const db::SchemaEditor& editor, const db::Dialect& d) {
    const Operation& op = m.operations()[i];
    std::vector<Step> out;
    switch (op.kind) {
        case OpKind::create_model: add_sql(out, {editor.drop_table_sql(op.table, false)}); break;
        case OpKind::delete_model:
            add_sql(out, editor.create_table_sql(table_in(m, i, before, op.table), false));
            break;
        case OpKind::rename_model: add_sql(out, editor.rename_table_sql(op.name, op.table)); break;
        case OpKind::add_field:
            add_sql(out, editor.drop_column_sql(table_in(m, i, after, op.table), table_in(m, i, before, op.table),
                                                op.columns.front().name));
            break;
        case OpKind::remove_field: {
            const auto& was = table_in(m, i, before, op.table);
            const auto& now = table_in(m, i, after, op.table);
            const auto& c = column_in(m, i, was, op.name);
            std::optional<Value> fill;
            if (!c.nullable && !c.default_value) fill = db::zero_value(c.type);  // the rows' values are gone
            add_sql(out, editor.add_column_sql(now, was, op.name, fill));
            // The indexes that went with the column (a rebuild has made them already).
            for (const auto& ix : was.indexes) {
                bool kept = false;
                for (const auto& o : now.indexes) kept = kept || o.name == ix.name;
                if (!kept) add_sql(out, {editor.create_index_sql(was, ix, true)});
            }
            break;
        }
        case OpKind::alter_field: {
            const auto& c = op.columns.front();
            const auto& was = column_in(m, i, table_in(m, i, before, op.table), c.name);
            if (c.nullable && !was.nullable) out.push_back(refuse_if_nulls(m, i, d, op.table, was));
            add_sql(out, editor.alter_column_sql(table_in(m, i, after, op.table), table_in(m, i, before, op.table), c.name, std::nullopt));
            break;
        }
        case OpKind::rename_field:
            add_sql(out, editor.rename_column_sql(table_in(m, i, after, op.table), op.new_name, op.name));
            break;
        case OpKind::add_index: add_sql(out, {editor.drop_index_sql(op.indexes.front().name, false)}); break;
        case OpKind::remove_index: {
            const auto& was = table_in(m, i, before, op.table);
            for (const auto& ix : was.indexes)
                if (ix.name == op.name) add_sql(out, {editor.create_index_sql(was, ix, false)});
            break;
        }
        case OpKind::run_sql: {
            if (!op.reversible) fail(m, i, "is irreversible (run_sql without backward SQL), so the migration cannot be unapplied");
            std::string sql = sql_for_backend(op.backward_sql, d.name());
            if (!sql.empty()) out.push_back(sql_step(std::move(sql)));
            break;
        }
        case OpKind::run_code: {
            if (!op.reversible) fail(m, i, "is irreversible (run_code without a backward function), so the migration cannot be unapplied");
            if (op.backward) {
                Step s;
                s.comment = fmt::format("-- (C++ code: undo {})", op.name);
                s.code = op.backward;
                out.push_back(std::move(s));
            }
            break;
        }
    }
    return out;
}

Value parse_for_column(const db::ColumnSpec& c, std::string_view text) {
    if (text == "NULL" || text == "null") return Value();
    return normalize_value(c.type, Value(std::string(text)), fmt::format("a value for column '{}'", c.name));
}

}  // namespace detail

}  // namespace orm::migrations
