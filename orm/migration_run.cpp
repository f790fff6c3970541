// migrate, showmigrations, sqlmigrate: the plan, the record of applied migrations (the table
// weft_migrations), one transaction per migration, and the lock that keeps two processes from
// applying anything twice.
#include <algorithm>
#include <chrono>
#include <map>
#include <ostream>
#include <set>

#include <fmt/format.h>

#include "drivers/backend.hpp"
#include "drivers/dialect.hpp"
#include "drivers/introspection.hpp"
#include "drivers/schema.hpp"
#include "orm/atomic.hpp"
#include "orm/connections.hpp"
#include "orm/migration_impl.hpp"
#include "orm/model_info.hpp"
#include "orm/session.hpp"

namespace orm::migrations {

using orm::detail::Lease;
using orm::detail::logged;

namespace {

constexpr std::string_view recorder = "weft_migrations";
// pg_advisory_xact_lock's key for migrations ("weftmigr").
constexpr std::int64_t lock_key = 0x776566746d696772;

db::TableSpec recorder_spec() {
    db::TableSpec t;
    t.name = std::string(recorder);
    db::ColumnSpec id;
    id.name = "id";
    id.primary_key = true;
    id.auto_increment = true;
    db::ColumnSpec app;
    app.name = "app";
    app.type = db::ColumnType::varchar;
    app.max_length = 255;
    db::ColumnSpec name = app;
    name.name = "name";
    db::ColumnSpec applied;
    applied.name = "applied";
    applied.type = db::ColumnType::timestamp;
    t.columns = {id, app, name, applied};
    t.indexes.push_back(db::IndexSpec{"weft_migrations_app_name_uniq", {"app", "name"}, true});
    return t;
}

bool is_postgres(const db::Dialect& d) { return d.name() == "postgresql"; }

void run_sql(Lease& lease, const std::string& sql) {
    logged(lease.alias(), sql, [&] { lease.conn().execute_script(sql); });
}

bool recorder_exists(Lease& lease) {
    return lease.conn().backend().introspection().table_exists(lease.conn(), recorder);
}

std::map<std::string, std::optional<Timestamp>> read_applied(Lease& lease, const std::string& app) {
    std::map<std::string, std::optional<Timestamp>> out;
    if (!recorder_exists(lease)) return out;
    const Value p[] = {Value(app)};
    auto result = lease.execute(fmt::format("SELECT name, applied FROM {} WHERE app = {}", lease.dialect().quote_name(recorder),
                                            lease.dialect().placeholder(1)),
                                p);
    for (auto& row : result.fetch_all()) {
        std::optional<Timestamp> at;
        if (row.size() > 1 && row[1].kind() == ValueKind::timestamp) at = row[1].as_timestamp();
        else if (row.size() > 1 && row[1].kind() == ValueKind::text) at = parse_timestamp(row[1].as_text());
        out[row[0].as_text()] = at;
    }
    return out;
}

bool is_recorded(Lease& lease, const std::string& app, const std::string& name) {
    const Value p[] = {Value(app), Value(name)};
    bool found = false;
    lease.query_first(fmt::format("SELECT 1 FROM {} WHERE app = {} AND name = {}", lease.dialect().quote_name(recorder),
                                  lease.dialect().placeholder(1), lease.dialect().placeholder(2)),
                      p, [&](const db::Row&) { found = true; });
    return found;
}

void record(Lease& lease, const std::string& app, const std::string& name, bool applied) {
    const auto& d = lease.dialect();
    if (applied) {
        const Value p[] = {Value(app), Value(name),
                           Value(std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now()))};
        (void)lease.execute(fmt::format("INSERT INTO {} (app, name, applied) VALUES ({}, {}, {})", d.quote_name(recorder),
                                        d.placeholder(1), d.placeholder(2), d.placeholder(3)),
                            p);
    } else {
        const Value p[] = {Value(app), Value(name)};
        (void)lease.execute(fmt::format("DELETE FROM {} WHERE app = {} AND name = {}", d.quote_name(recorder),
                                        d.placeholder(1), d.placeholder(2)),
                            p);
    }
}

// Takes the migration lock for the rest of the transaction (PostgreSQL; SQLite's BEGIN
// IMMEDIATE already holds the database's write lock).
void lock(Lease& lease) {
    if (!is_postgres(lease.dialect())) return;
    run_sql(lease, fmt::format("SELECT pg_advisory_xact_lock({})", lock_key));
}

void ensure_recorder(std::string_view alias) {
    {
        Lease lease(alias);
        if (recorder_exists(lease)) return;
    }
    atomic(alias, [&] {
        Lease lease(alias);
        lock(lease);
        for (const auto& sql : lease.conn().backend().schema_editor().create_table_sql(recorder_spec(), true))
            run_sql(lease, sql);
    });
}

// SQLite cannot change PRAGMA foreign_keys inside a transaction, and a table rebuild must not
// run with it on (DROP TABLE would cascade). The transaction open on `lease` is committed
// (empty), the checks turned off and a new one begun; restore() reverses it before the commit.
class ForeignKeysOff {
public:
    explicit ForeignKeysOff(Lease& lease) : lease_(lease) {
        if (lease.dialect().name() != "sqlite") return;
        auto& conn = lease.conn();
        bool on = false;
        lease.query_first("PRAGMA foreign_keys", {}, [&](const db::Row& row) { on = row.value(0).as_int64() != 0; });
        if (!on) return;
        logged(lease.alias(), "COMMIT", [&] { conn.commit(); });
        run_sql(lease, "PRAGMA foreign_keys = OFF");
        logged(lease.alias(), "BEGIN", [&] { conn.begin(); });
        active_ = true;
    }
    ForeignKeysOff(const ForeignKeysOff&) = delete;
    ForeignKeysOff& operator=(const ForeignKeysOff&) = delete;
    // Checks every reference (the rows a rebuild copied included) before the commit.
    void check() {
        if (lease_.dialect().name() != "sqlite") return;
        std::string problem;
        lease_.query_first("PRAGMA foreign_key_check", {}, [&](const db::Row& row) {
            problem = fmt::format("row {} of table '{}' refers to a row of '{}' that does not exist",
                                  row.value(1).is_null() ? std::string("?") : row.value(1).debug_string(),
                                  row.value(0).as_text(), row.value(2).as_text());
        });
        if (!problem.empty()) throw IntegrityError("after the migration, " + problem, "23503");
    }
    // Commits the migration's work with the checks off, then turns them back on in a new (empty)
    // transaction for the caller's atomic block to close.
    void commit() {
        if (!active_) return;
        auto& conn = lease_.conn();
        logged(lease_.alias(), "COMMIT", [&] { conn.commit(); });
        active_ = false;
        run_sql(lease_, "PRAGMA foreign_keys = ON");
        logged(lease_.alias(), "BEGIN", [&] { conn.begin(); });
    }
    ~ForeignKeysOff() {
        if (!active_) return;
        try {  // the migration failed: roll back its work, then the checks come back
            auto& conn = lease_.conn();
            if (conn.is_broken()) return;
            conn.rollback();
            conn.execute_script("PRAGMA foreign_keys = ON");
            conn.begin();
        } catch (...) {
        }
    }

private:
    Lease& lease_;
    bool active_ = false;
};

struct Plan {
    std::vector<const Migration*> order;
    std::vector<State> states;  // states[i]: before order[i]; states.back(): after all
};

Plan make_plan(const Project& p) {
    Plan plan;
    plan.order = detail::ordered(p);
    plan.states = detail::states_along(plan.order);
    return plan;
}

std::size_t index_of(const Plan& plan, std::string_view name) {
    for (std::size_t i = 0; i < plan.order.size(); ++i)
        if (plan.order[i]->name() == name) return i;
    std::string names;
    for (const auto* m : plan.order) names += (names.empty() ? "" : ", ") + m->name();
    throw MigrationError(fmt::format("no migration is named '{}' (valid: {}{}zero)", name, names, names.empty() ? "" : ", "));
}

// Runs one migration's steps in the calling fiber's transaction.
void run_steps(Lease& lease, const Plan& plan, std::size_t k, bool forwards) {
    const Migration& m = *plan.order[k];
    const auto& editor = lease.conn().backend().schema_editor();
    const auto& d = lease.dialect();
    // Each operation sees the state between its neighbours.
    std::vector<State> between{plan.states[k]};
    for (std::size_t i = 0; i < m.operations().size(); ++i) {
        State s = between.back();
        detail::apply(m, i, s);
        between.push_back(std::move(s));
    }
    Context ctx(lease.alias());
    auto run = [&](const std::vector<detail::Step>& steps) {
        for (const auto& step : steps) {
            if (step.code) step.code(ctx);
            else if (!step.sql.empty()) run_sql(lease, step.sql);
        }
    };
    if (forwards) {
        for (std::size_t i = 0; i < m.operations().size(); ++i)
            run(detail::forward_steps(m, i, between[i], between[i + 1], editor, d));
    } else {
        for (std::size_t i = m.operations().size(); i-- > 0;)
            run(detail::backward_steps(m, i, between[i], between[i + 1], editor, d));
    }
}

// Whether every table the (initial) migration creates exists already.
bool tables_exist(Lease& lease, const Migration& m, std::vector<std::string>& existing, std::vector<std::string>& missing) {
    const auto names = lease.conn().backend().introspection().table_names(lease.conn());
    for (const auto& op : m.operations()) {
        if (op.kind != OpKind::create_model) continue;
        if (std::find(names.begin(), names.end(), op.table) != names.end()) existing.push_back(op.table);
        else missing.push_back(op.table);
    }
    return missing.empty() && !existing.empty();
}

}  // namespace

std::size_t migrate(const Project& p, const MigrateOptions& o) {
    const Plan plan = make_plan(p);  // every file checked before anything runs
    {
        const auto hs = heads(p);
        if (hs.size() > 1) {
            std::string list;
            for (const auto& h : hs) list += (list.empty() ? "" : ", ") + h;
            throw MigrationError(fmt::format(
                "conflicting migrations: {} are all latest (two branches of history); run makemigrations --merge", list));
        }
    }
    std::size_t target = plan.order.size();  // how many migrations are applied in the end
    if (o.target) target = *o.target == "zero" ? 0 : index_of(plan, *o.target) + 1;
    const std::string& alias_s = o.alias;
    const std::string_view alias = alias_s;
    ensure_recorder(alias);
    std::map<std::string, std::optional<Timestamp>> applied;
    {
        Lease lease(alias);
        applied = read_applied(lease, p.app);
    }
    auto say = [&](const std::string& line) {
        if (o.out) *o.out << line << std::flush;
    };
    std::size_t ran = 0;
    // Forwards: the migrations up to the target that are not applied, in order.
    for (std::size_t k = 0; k < target; ++k) {
        const Migration& m = *plan.order[k];
        if (applied.count(m.name())) continue;
        bool fake = o.fake;
        // An initial migration whose tables exist already: the database was made outside
        // migrations (create_tables); adopting it is the user's explicit choice. Checked under
        // the lock, after is_recorded: another process may have applied it since read_applied,
        // and its tables are then no sign of create_tables.
        auto adopt = [&](Lease& lease) {
            if (!m.dependencies().empty() || fake) return;
            std::vector<std::string> existing, missing;
            const bool all = tables_exist(lease, m, existing, missing);
            if (existing.empty()) return;
            if (!o.fake_initial || !all) {
                std::string list;
                for (const auto& t : existing) list += (list.empty() ? "" : ", ") + t;
                std::string miss;
                for (const auto& t : missing) miss += (miss.empty() ? "" : ", ") + t;
                throw MigrationError(fmt::format(
                    "migration {} creates table(s) {} that exist already, but it is not recorded as applied: this "
                    "database was made outside migrations (create_tables?). {}",
                    m.name(), list,
                    all ? "If its tables are what the migration creates, adopt them with migrate --fake-initial "
                          "(records the migration as applied without running it)"
                        : fmt::format("--fake-initial cannot adopt it either: table(s) {} are missing", miss)));
            }
            fake = true;
        };
        say(fmt::format("  Applying {}...", m.name()));
        try {
            const bool did = atomic(alias, [&] {
                Lease lease(alias);
                ForeignKeysOff fk(lease);
                lock(lease);
                if (is_recorded(lease, p.app, m.name())) return false;  // another process applied it meanwhile
                adopt(lease);
                if (!fake) run_steps(lease, plan, k, true);
                fk.check();
                record(lease, p.app, m.name(), true);
                fk.commit();
                return true;
            });
            say(did ? (fake ? " FAKED\n" : " OK\n") : " already applied\n");
            if (did) ++ran;
        } catch (...) {
            say(" FAILED\n");
            throw;
        }
    }
    // Backwards: applied migrations past the target, newest first. Every one is checked for
    // reversibility before anything is undone.
    std::vector<std::size_t> undo;
    for (std::size_t k = plan.order.size(); k-- > target;)
        if (applied.count(plan.order[k]->name())) undo.push_back(k);
    if (!undo.empty() && !o.fake) {
        Lease lease(alias);
        const auto& editor = lease.conn().backend().schema_editor();
        for (std::size_t k : undo) {
            const Migration& m = *plan.order[k];
            State s = plan.states[k];
            for (std::size_t i = 0; i < m.operations().size(); ++i) {
                State next = s;
                detail::apply(m, i, next);
                if (!m.operations()[i].reversible) (void)detail::backward_steps(m, i, s, next, editor, lease.dialect());
                s = std::move(next);
            }
        }
    }
    for (std::size_t k : undo) {
        const Migration& m = *plan.order[k];
        say(fmt::format("  Unapplying {}...", m.name()));
        try {
            const bool did = atomic(alias, [&] {
                Lease lease(alias);
                ForeignKeysOff fk(lease);
                lock(lease);
                if (!is_recorded(lease, p.app, m.name())) return false;
                if (!o.fake) run_steps(lease, plan, k, false);
                fk.check();
                record(lease, p.app, m.name(), false);
                fk.commit();
                return true;
            });
            say(did ? (o.fake ? " FAKED\n" : " OK\n") : " already unapplied\n");
            if (did) ++ran;
        } catch (...) {
            say(" FAILED\n");
            throw;
        }
    }
    return ran;
}

std::size_t migrate(const MigrateOptions& o) { return migrate(project(), o); }

std::vector<MigrationStatus> show_migrations(const Project& p, std::string_view alias) {
    const Plan plan = make_plan(p);
    std::map<std::string, std::optional<Timestamp>> applied;
    {
        Lease lease(alias);
        applied = read_applied(lease, p.app);
    }
    std::vector<MigrationStatus> out;
    for (const Migration* m : plan.order) {
        MigrationStatus s;
        s.name = m->name();
        if (auto it = applied.find(m->name()); it != applied.end()) {
            s.applied = true;
            s.applied_at = it->second;
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::string sql_migrate(const Project& p, std::string_view name, std::string_view alias, bool backwards) {
    const Plan plan = make_plan(p);
    const std::size_t k = index_of(plan, name);
    const Migration& m = *plan.order[k];
    const auto db = orm::database_ptr(alias);
    auto conn = db->acquire();
    const auto& editor = conn->backend().schema_editor();
    const auto& d = conn->dialect();
    std::vector<State> between{plan.states[k]};
    for (std::size_t i = 0; i < m.operations().size(); ++i) {
        State s = between.back();
        detail::apply(m, i, s);
        between.push_back(std::move(s));
    }
    std::string out;
    const bool sqlite = d.name() == "sqlite";
    if (sqlite) out += "-- (foreign key enforcement is off while it runs: PRAGMA foreign_keys = OFF)\n";
    out += "BEGIN;\n";
    if (is_postgres(d)) out += fmt::format("SELECT pg_advisory_xact_lock({});\n", lock_key);
    auto emit = [&](std::size_t i, const std::vector<detail::Step>& steps) {
        out += fmt::format("-- {}\n", m.operations()[i].describe());
        for (const auto& s : steps) out += s.code ? s.comment + "\n" : s.sql + ";\n";
    };
    if (!backwards) {
        for (std::size_t i = 0; i < m.operations().size(); ++i)
            emit(i, detail::forward_steps(m, i, between[i], between[i + 1], editor, d));
    } else {
        for (std::size_t i = m.operations().size(); i-- > 0;)
            emit(i, detail::backward_steps(m, i, between[i], between[i + 1], editor, d));
    }
    if (sqlite) out += "PRAGMA foreign_key_check;\n";
    if (backwards) {
        out += fmt::format("DELETE FROM {} WHERE app = {} AND name = {};\n", d.quote_name(recorder), d.literal(Value(p.app)),
                           d.literal(Value(m.name())));
    } else {
        out += fmt::format("INSERT INTO {} (app, name, applied) VALUES ({}, {}, CURRENT_TIMESTAMP);\n", d.quote_name(recorder),
                           d.literal(Value(p.app)), d.literal(Value(m.name())));
    }
    out += "COMMIT;\n";
    return out;
}

}  // namespace orm::migrations
