// makemigrations' engine: the state the models ask for, the operations from the migrations'
// state to it (asking about renames and one-off defaults), and the C++ writer for a migration.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "orm/migration_impl.hpp"
#include "orm/model_info.hpp"

namespace orm::migrations {

using detail::same_column;
using detail::same_index;

State state_of(std::span<const ModelInfo* const> models) {
    orm::detail::ensure_relations();
    State s;
    // A model brings the models its foreign keys point at (and its join tables): their tables
    // are part of its schema even when they were not listed.
    std::vector<const ModelInfo*> todo(models.rbegin(), models.rend());
    while (!todo.empty()) {
        const ModelInfo* m = todo.back();
        todo.pop_back();
        if (s.find(m->table())) continue;
        db::TableSpec t = m->table_spec();
        detail::normalize(t);
        s.tables.push_back(std::move(t));
        for (auto it = m->owned_models().rbegin(); it != m->owned_models().rend(); ++it) todo.push_back(it->get());
        for (auto it = m->fields().rbegin(); it != m->fields().rend(); ++it)
            if (it->relation) todo.push_back(&it->relation->target());
    }
    return s;
}

namespace {

// The operations found so far, applied to a copy of the migrations' state as they are found
// (so every later comparison sees renames, and the result is checked like a written file).
class Builder {
public:
    explicit Builder(State start) : cur(std::move(start)), scratch_("makemigrations") { scratch_.set_file(""); }
    void emit(Operation op) {
        scratch_.operations().push_back(std::move(op));
        detail::apply(scratch_, scratch_.operations().size() - 1, cur);
    }
    std::vector<Operation> take() { return std::move(scratch_.operations()); }
    State cur;

private:
    Migration scratch_;
};

const db::ColumnSpec* find_column(const db::TableSpec& t, std::string_view name) {
    for (const auto& c : t.columns)
        if (c.name == name) return &c;
    return nullptr;
}

// Same column but for its name.
bool renamed_column(const db::ColumnSpec& a, const db::ColumnSpec& b) {
    db::ColumnSpec x = a;
    x.name = b.name;
    return same_column(x, b);
}

// Same columns, but for the tables their references name (a renamed table's own references
// may follow other renames).
bool renamed_table(const db::TableSpec& a, const db::TableSpec& b) {
    if (a.columns.size() != b.columns.size()) return false;
    for (const auto& c : a.columns) {
        const db::ColumnSpec* o = find_column(b, c.name);
        if (!o) return false;
        db::ColumnSpec x = c;
        if (x.references && o->references) x.references->table = o->references->table;
        if (!same_column(x, *o)) return false;
    }
    return true;
}

Operation op_of(OpKind k, std::string table) {
    Operation op;
    op.kind = k;
    op.table = std::move(table);
    return op;
}

std::vector<Operation> diff(const State& from, const State& to, Questioner& q) {
    Builder b(from);
    // 1. Renamed tables (asked, never guessed).
    {
        std::vector<std::string> removed, added;
        for (const auto& t : from.tables)
            if (!to.find(t.name)) removed.push_back(t.name);
        for (const auto& t : to.tables)
            if (!from.find(t.name)) added.push_back(t.name);
        for (const auto& a : added) {
            for (auto it = removed.begin(); it != removed.end(); ++it) {
                const db::TableSpec* old = b.cur.find(*it);
                if (!old || !renamed_table(*old, *to.find(a))) continue;
                if (!q.ask_rename_model(*it, a)) continue;
                Operation op = op_of(OpKind::rename_model, *it);
                op.name = a;
                b.emit(std::move(op));
                removed.erase(it);
                break;
            }
        }
    }
    // 2. New tables, referenced ones first; a reference into a cycle is added once both exist.
    {
        std::vector<const db::TableSpec*> left;
        for (const auto& t : to.tables)
            if (!b.cur.find(t.name)) left.push_back(&t);
        std::vector<std::pair<std::string, db::ColumnSpec>> later;
        while (!left.empty()) {
            auto ready = std::find_if(left.begin(), left.end(), [&](const db::TableSpec* t) {
                for (const auto& c : t->columns)
                    if (c.references && c.references->table != t->name && !b.cur.find(c.references->table)) {
                        for (const db::TableSpec* o : left)
                            if (o->name == c.references->table) return false;
                    }
                return true;
            });
            const bool cycle = ready == left.end();
            if (cycle) ready = left.begin();
            Operation op = op_of(OpKind::create_model, (*ready)->name);
            op.columns = (*ready)->columns;
            op.indexes = (*ready)->indexes;
            for (auto& c : op.columns) {
                if (c.references && c.references->table != op.table && !b.cur.find(c.references->table)) {
                    later.emplace_back(op.table, c);
                    c.references.reset();
                }
            }
            b.emit(std::move(op));
            left.erase(ready);
        }
        for (auto& [table, c] : later) {
            Operation op = op_of(OpKind::alter_field, table);
            op.columns.push_back(c);
            b.emit(std::move(op));
        }
    }
    // 3. Renamed columns (asked), then indexes that go or change.
    for (const auto& t : to.tables) {
        const db::TableSpec* cur = b.cur.find(t.name);
        if (!cur) continue;
        std::vector<std::string> removed;
        for (const auto& c : cur->columns)
            if (!find_column(t, c.name)) removed.push_back(c.name);
        for (const auto& c : t.columns) {
            if (find_column(*b.cur.find(t.name), c.name)) continue;
            for (auto it = removed.begin(); it != removed.end(); ++it) {
                const db::ColumnSpec* old = find_column(*b.cur.find(t.name), *it);
                if (!old || !renamed_column(*old, c)) continue;
                if (!q.ask_rename_field(t.name, *it, c.name)) continue;
                Operation op = op_of(OpKind::rename_field, t.name);
                op.name = *it;
                op.new_name = c.name;
                b.emit(std::move(op));
                removed.erase(it);
                break;
            }
        }
    }
    for (const auto& t : to.tables) {
        const db::TableSpec* cur = b.cur.find(t.name);
        if (!cur) continue;
        std::vector<std::string> gone;
        for (const auto& ix : cur->indexes) {
            bool kept = false;
            for (const auto& o : t.indexes) kept = kept || same_index(ix, o);
            if (!kept) gone.push_back(ix.name);
        }
        for (auto& name : gone) {
            Operation op = op_of(OpKind::remove_index, t.name);
            op.name = std::move(name);
            b.emit(std::move(op));
        }
    }
    // Indexes of tables about to be deleted go with them; other tables' indexes elsewhere may
    // carry a name a new index wants: those went above.
    // 4. Added columns.
    for (const auto& t : to.tables) {
        if (!b.cur.find(t.name)) continue;
        for (const auto& c : t.columns) {
            if (find_column(*b.cur.find(t.name), c.name)) continue;
            Operation op = op_of(OpKind::add_field, t.name);
            op.columns.push_back(c);
            if (!c.nullable && !c.default_value && !c.primary_key) op.fill = q.ask_fill(t.name, c);
            b.emit(std::move(op));
        }
    }
    // 5. Altered columns.
    for (const auto& t : to.tables) {
        if (!b.cur.find(t.name)) continue;
        for (const auto& c : t.columns) {
            const db::ColumnSpec* old = find_column(*b.cur.find(t.name), c.name);
            if (!old || same_column(*old, c)) continue;
            Operation op = op_of(OpKind::alter_field, t.name);
            op.columns.push_back(c);
            if (old->nullable && !c.nullable) op.fill = q.ask_fill_nulls(t.name, c);
            b.emit(std::move(op));
        }
    }
    // 6. Removed columns.
    for (const auto& t : to.tables) {
        if (!b.cur.find(t.name)) continue;
        std::vector<std::string> gone;
        for (const auto& c : b.cur.find(t.name)->columns)
            if (!find_column(t, c.name)) gone.push_back(c.name);
        for (auto& name : gone) {
            Operation op = op_of(OpKind::remove_field, t.name);
            op.name = std::move(name);
            b.emit(std::move(op));
        }
    }
    // 7. Deleted tables, referencing ones first; references inside a cycle are dropped first.
    {
        std::vector<std::string> left;
        for (const auto& t : b.cur.tables)
            if (!to.find(t.name)) left.push_back(t.name);
        while (!left.empty()) {
            auto referenced = [&](const std::string& name) {
                for (const auto& t : b.cur.tables)
                    if (t.name != name)
                        for (const auto& c : t.columns)
                            if (c.references && c.references->table == name) return true;
                return false;
            };
            auto it = std::find_if(left.begin(), left.end(), [&](const std::string& n) { return !referenced(n); });
            if (it == left.end()) {
                // A cycle: the references between the tables left go first.
                bool dropped = false;
                for (const auto& n : left) {
                    for (const auto& c : b.cur.find(n)->columns) {
                        if (!c.references || c.references->table == n) continue;
                        Operation op = op_of(OpKind::alter_field, n);
                        op.columns.push_back(c);
                        op.columns.back().references.reset();
                        b.emit(std::move(op));
                        dropped = true;
                    }
                }
                if (!dropped) {
                    // Referenced from a table that stays: its model points at a model that is gone.
                    for (const auto& t : b.cur.tables)
                        for (const auto& c : t.columns)
                            if (c.references && std::find(left.begin(), left.end(), c.references->table) != left.end() &&
                                std::find(left.begin(), left.end(), t.name) == left.end())
                                throw MigrationError(fmt::format(
                                    "table '{}' would be deleted, but {}.{} still refers to it", c.references->table,
                                    t.name, c.name));
                    throw MigrationError("tables to delete are still referenced");
                }
                continue;
            }
            b.emit(op_of(OpKind::delete_model, *it));
            left.erase(it);
        }
    }
    // 8. New indexes.
    for (const auto& t : to.tables) {
        for (const auto& ix : t.indexes) {
            bool present = false;
            for (const auto& o : b.cur.find(t.name)->indexes) present = present || same_index(ix, o);
            if (present) continue;
            Operation op = op_of(OpKind::add_index, t.name);
            op.indexes.push_back(ix);
            b.emit(std::move(op));
        }
    }
    return b.take();
}

std::string sanitize(std::string s) {
    for (auto& ch : s) {
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
        else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) ch = '_';
    }
    if (s.size() > 60) s.resize(60);
    return s;
}

std::string auto_name(const Project& p, const std::vector<Operation>& ops) {
    int number = 0;
    for (const auto& m : p.migrations) {
        int n = 0;
        std::size_t i = 0;
        for (; i < m.name().size() && i < 9 && std::isdigit(static_cast<unsigned char>(m.name()[i])); ++i)
            n = n * 10 + (m.name()[i] - '0');
        if (i > 0) number = std::max(number, n);
    }
    std::string suffix;
    if (p.migrations.empty()) {
        suffix = "initial";
    } else if (ops.size() == 1) {
        const Operation& op = ops.front();
        switch (op.kind) {
            case OpKind::create_model: suffix = op.table; break;
            case OpKind::delete_model: suffix = "delete_" + op.table; break;
            case OpKind::rename_model: suffix = "rename_" + op.table + "_" + op.name; break;
            case OpKind::add_field: suffix = op.table + "_" + op.columns.front().name; break;
            case OpKind::remove_field: suffix = "remove_" + op.table + "_" + op.name; break;
            case OpKind::alter_field: suffix = "alter_" + op.table + "_" + op.columns.front().name; break;
            case OpKind::rename_field: suffix = "rename_" + op.table + "_" + op.name + "_" + op.new_name; break;
            case OpKind::add_index: suffix = op.indexes.front().name; break;
            case OpKind::remove_index: suffix = "remove_" + op.name; break;
            default: break;
        }
    }
    if (suffix.empty()) {
        const auto now = std::chrono::floor<std::chrono::minutes>(std::chrono::system_clock::now());
        suffix = fmt::format("auto_{:%Y%m%d_%H%M}", now);
    }
    return fmt::format("{:04d}_{}", number + 1, sanitize(suffix));
}

}  // namespace

std::vector<std::string> heads(const Project& p) {
    std::set<std::string_view> depended;
    for (const auto& m : p.migrations)
        for (const auto& d : m.dependencies()) depended.insert(d);
    std::vector<std::string> out;
    for (const auto& m : p.migrations)
        if (!depended.count(m.name())) out.push_back(m.name());
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<Migration> detect_changes(const Project& p, Questioner& q, std::string name) {
    const auto order = detail::ordered(p);
    const auto hs = heads(p);
    if (hs.size() > 1) {
        std::string list;
        for (const auto& h : hs) list += (list.empty() ? "" : ", ") + h;
        throw MigrationError(fmt::format("conflicting migrations: {} are all latest (two branches of history). Run "
                                         "makemigrations --merge to write a migration that follows them all, then "
                                         "makemigrations again",
                                         list));
    }
    const State from = detail::states_along(order).back();
    const State to = state_of(p.models);
    auto ops = diff(from, to, q);
    if (ops.empty()) return std::nullopt;
    if (name.empty()) name = auto_name(p, ops);
    Migration m(name);
    m.set_file("");
    for (const auto& h : hs) m.depends_on(h);
    m.operations() = std::move(ops);
    return m;
}

std::vector<std::string> check(const Project& p) {
    FixedAnswers no;
    no.renames = false;
    std::vector<std::string> out;
    const auto order = detail::ordered(p);
    const auto hs = heads(p);
    if (hs.size() > 1) {
        std::string list;
        for (const auto& h : hs) list += (list.empty() ? "" : ", ") + h;
        out.push_back(fmt::format("conflicting migrations: {} are all latest (makemigrations --merge)", list));
    }
    const State from = detail::states_along(order).back();
    for (const auto& op : diff(from, state_of(p.models), no)) out.push_back(op.describe());
    return out;
}

// --- Answers -----------------------------------------------------------------------------

bool FixedAnswers::ask_rename_field(const std::string&, const std::string&, const std::string&) { return renames; }
bool FixedAnswers::ask_rename_model(const std::string&, const std::string&) { return renames; }

std::optional<Value> FixedAnswers::ask_fill(const std::string& table, const db::ColumnSpec& column) {
    auto it = fills.find(table + "." + column.name);
    if (it == fills.end()) return std::nullopt;
    return detail::parse_for_column(column, it->second);
}

std::optional<Value> FixedAnswers::ask_fill_nulls(const std::string& table, const db::ColumnSpec& column) {
    return ask_fill(table, column);
}

// --- The writer --------------------------------------------------------------------------

namespace detail {

namespace {

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
        switch (ch) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default:
                if (ch < 0x20 || ch == 0x7f) out += fmt::format("\\{:03o}", ch);
                else out += static_cast<char>(ch);
        }
    }
    return out + "\"";
}

std::string_view type_name(db::ColumnType t) {
    switch (t) {
        case db::ColumnType::boolean: return "Type::boolean";
        case db::ColumnType::int32: return "Type::int32";
        case db::ColumnType::int64: return "Type::int64";
        case db::ColumnType::float64: return "Type::float64";
        case db::ColumnType::varchar: return "Type::varchar";
        case db::ColumnType::text: return "Type::text";
        case db::ColumnType::bytes: return "Type::bytes";
        case db::ColumnType::timestamp: return "Type::timestamp";
        case db::ColumnType::date: return "Type::date";
    }
    return "Type::text";
}

std::string_view action_name(db::ReferentialAction a) {
    switch (a) {
        case db::ReferentialAction::no_action: return "ReferentialAction::no_action";
        case db::ReferentialAction::cascade: return "ReferentialAction::cascade";
        case db::ReferentialAction::set_null: return "ReferentialAction::set_null";
        case db::ReferentialAction::restrict: return "ReferentialAction::restrict";
    }
    return "ReferentialAction::no_action";
}

std::string column_cpp(const db::ColumnSpec& c) {
    std::string out = fmt::format("Column({}, {})", quoted(c.name), type_name(c.type));
    if (c.type == db::ColumnType::varchar) out += fmt::format(".max_length({})", c.max_length);
    if (c.primary_key) out += ".primary_key()";
    if (c.auto_increment) out += ".auto_increment()";
    if (c.nullable) out += ".null()";
    if (c.unique) out += ".unique()";
    if (c.default_value) out += fmt::format(".default_value({})", cpp_literal(*c.default_value));
    if (c.references) {
        out += fmt::format(".references({}, {}, {})", quoted(c.references->table), quoted(c.references->column),
                           action_name(c.references->on_delete));
    }
    return out;
}

std::string index_cpp(const db::IndexSpec& ix) {
    std::string cols;
    for (const auto& c : ix.columns) cols += (cols.empty() ? "" : ", ") + quoted(c);
    return fmt::format("Index({}, {{{}}}){}", quoted(ix.name), cols, ix.unique ? ".unique()" : "");
}

std::string sql_map_cpp(const SqlByBackend& m) {
    std::string out = "{";
    for (const auto& [k, v] : m) out += fmt::format("{}{{{}, {}}}", out.size() > 1 ? ", " : "", quoted(k), quoted(v));
    return out + "}";
}

}  // namespace

std::string cpp_literal(const Value& v) {
    switch (v.kind()) {
        case ValueKind::null: return "nullptr";
        case ValueKind::boolean: return v.as_bool() ? "true" : "false";
        case ValueKind::int32:
        case ValueKind::int64: {
            const std::int64_t x = v.as_int64();
            if (x == std::numeric_limits<std::int64_t>::min()) return "std::numeric_limits<std::int64_t>::min()";
            // Plain within int's range (the column's type decides what it becomes).
            if (x >= std::numeric_limits<std::int32_t>::min() && x <= std::numeric_limits<std::int32_t>::max())
                return fmt::format("{}", x);
            return fmt::format("std::int64_t{{{}}}", x);
        }
        case ValueKind::float64: {
            const double d = v.as_double();
            if (std::isnan(d)) return "std::numeric_limits<double>::quiet_NaN()";
            if (std::isinf(d)) return d > 0 ? "std::numeric_limits<double>::infinity()" : "-std::numeric_limits<double>::infinity()";
            std::string s = fmt::format("{}", d);
            if (s.find_first_of(".e") == std::string::npos) s += ".0";
            return s;
        }
        case ValueKind::text: {
            const std::string_view t = v.as_text();
            if (t.find('\0') != std::string_view::npos) return fmt::format("std::string({}, {})", quoted(t), t.size());
            return quoted(t);
        }
        case ValueKind::bytes: {
            std::string out = "orm::Bytes{";
            const auto b = v.as_bytes();
            for (std::size_t i = 0; i < b.size(); ++i) out += fmt::format("{}0x{:02x}", i ? ", " : "", b[i]);
            return out + "}";
        }
        case ValueKind::timestamp: return quoted(format_timestamp(v.as_timestamp()));
        case ValueKind::date: return quoted(format_date(v.as_date()));
    }
    return "nullptr";
}

}  // namespace detail

std::string to_cpp(const Migration& m) {
    using detail::column_cpp;
    using detail::cpp_literal;
    using detail::index_cpp;
    using detail::quoted;
    const auto now = std::chrono::floor<std::chrono::minutes>(std::chrono::system_clock::now());
    std::string out = fmt::format(
        "// Migration {}, written by weft makemigrations on {:%Y-%m-%d %H:%M} UTC.\n"
        "// Yours to read and edit: makemigrations adds new files and rewrites migrations.cpp, never this one.\n"
        "#pragma once\n\n"
        "#include <orm/migrations.hpp>\n\n"
        "inline orm::migrations::Migration weft_migration_{}() {{\n"
        "    using namespace orm::migrations;\n"
        "    return Migration({})",
        m.name(), now, m.name(), quoted(m.name()));
    const std::string in = "\n        ";
    for (const auto& d : m.dependencies()) out += fmt::format("{}.depends_on({})", in, quoted(d));
    for (const auto& op : m.operations()) {
        switch (op.kind) {
            case OpKind::create_model: {
                out += fmt::format("{}.create_model({}, {{", in, quoted(op.table));
                for (const auto& c : op.columns) out += fmt::format("{}    {},", in, column_cpp(c));
                out += in + "}";
                if (!op.indexes.empty()) {
                    out += ", {";
                    for (const auto& ix : op.indexes) out += fmt::format("{}    {},", in, index_cpp(ix));
                    out += in + "}";
                }
                out += ")";
                break;
            }
            case OpKind::delete_model: out += fmt::format("{}.delete_model({})", in, quoted(op.table)); break;
            case OpKind::rename_model:
                out += fmt::format("{}.rename_model({}, {})", in, quoted(op.table), quoted(op.name));
                break;
            case OpKind::add_field:
            case OpKind::alter_field:
                out += fmt::format("{}.{}({}, {}{})", in, op.kind == OpKind::add_field ? "add_field" : "alter_field",
                                   quoted(op.table), column_cpp(op.columns.front()),
                                   op.fill ? ", " + cpp_literal(*op.fill) : std::string());
                break;
            case OpKind::remove_field:
                out += fmt::format("{}.remove_field({}, {})", in, quoted(op.table), quoted(op.name));
                break;
            case OpKind::rename_field:
                out += fmt::format("{}.rename_field({}, {}, {})", in, quoted(op.table), quoted(op.name), quoted(op.new_name));
                break;
            case OpKind::add_index:
                out += fmt::format("{}.add_index({}, {})", in, quoted(op.table), index_cpp(op.indexes.front()));
                break;
            case OpKind::remove_index:
                out += fmt::format("{}.remove_index({}, {})", in, quoted(op.table), quoted(op.name));
                break;
            case OpKind::run_sql:
                out += fmt::format("{}.run_sql({}{})", in, detail::sql_map_cpp(op.forward_sql),
                                   op.reversible ? ", " + detail::sql_map_cpp(op.backward_sql) : std::string());
                break;
            case OpKind::run_code:
                // Code cannot be written back: a stub the user fills in.
                out += fmt::format("{}.run_code({}, [](Context&) {{ /* forward */ }}, [](Context&) {{ /* backward */ }})",
                                   in, quoted(op.name));
                break;
        }
    }
    return out + ";\n}\n";
}

}  // namespace orm::migrations
