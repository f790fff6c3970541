// create_tables / drop_tables through the schema editor, logged like every other statement.
// Models a router's allow_migrate() refuses on the alias are left out.
#include "orm/schema.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "drivers/backend.hpp"
#include "drivers/features.hpp"
#include "drivers/introspection.hpp"
#include "orm/atomic.hpp"
#include "orm/routers.hpp"
#include "orm/session.hpp"

namespace orm::detail {

namespace {

template <class Fn>
void in_ddl_transaction(std::string_view alias, Fn&& fn) {
    if (features_for(alias).supports_transactional_ddl) {
        atomic(alias, [&] {
            Lease lease(alias);
            fn(lease);
        });
    } else {
        Lease lease(alias);
        fn(lease);
    }
}

std::vector<const ModelInfo*> migratable(std::span<const ModelInfo* const> models, std::string_view alias) {
    std::vector<const ModelInfo*> out;
    for (const ModelInfo* m : models)
        if (allow_migrate(alias, *m)) out.push_back(m);
    return out;
}

// The models and the automatic join tables of their many-to-many relations, ordered so that a
// table comes after the tables its foreign keys reference (as far as cycles allow).
std::vector<const ModelInfo*> in_dependency_order(std::vector<const ModelInfo*> models) {
    ensure_relations();
    std::vector<const ModelInfo*> all;
    for (const ModelInfo* m : models) {
        if (std::find(all.begin(), all.end(), m) == all.end()) all.push_back(m);
        for (const auto& owned : m->owned_models()) all.push_back(owned.get());
    }
    auto in_list = [&](const ModelInfo* m) { return std::find(all.begin(), all.end(), m) != all.end(); };
    std::vector<const ModelInfo*> ordered;
    std::vector<const ModelInfo*> left = all;
    while (!left.empty()) {
        bool progressed = false;
        for (auto it = left.begin(); it != left.end();) {
            bool ready = true;
            for (const auto& f : (*it)->fields()) {
                if (!f.relation) continue;
                const ModelInfo* t = &f.relation->target();
                if (t != *it && in_list(t) && std::find(ordered.begin(), ordered.end(), t) == ordered.end()) ready = false;
            }
            if (ready) {
                ordered.push_back(*it);
                it = left.erase(it);
                progressed = true;
            } else {
                ++it;
            }
        }
        if (!progressed) {  // a cycle: the rest in the order given
            ordered.insert(ordered.end(), left.begin(), left.end());
            break;
        }
    }
    return ordered;
}

}  // namespace

void create_tables(std::span<const ModelInfo* const> all, std::string_view alias, bool if_not_exists) {
    const auto models = in_dependency_order(migratable(all, alias));
    if (models.empty()) return;
    in_ddl_transaction(alias, [&](Lease& lease) {
        const auto& editor = lease.conn().backend().schema_editor();
        const auto& d = lease.dialect();
        // SQLite accepts references to tables that do not exist yet; elsewhere a reference
        // inside a cycle is added once both tables exist.
        const bool forward_refs_ok = d.name() == "sqlite";
        // CREATE TABLE IF NOT EXISTS leaves an existing table as it is: so must the foreign keys
        // added after it (a second ALTER TABLE ... ADD FOREIGN KEY would add a second constraint).
        std::vector<std::string> existed;
        if (!forward_refs_ok && if_not_exists) existed = lease.conn().backend().introspection().table_names(lease.conn());
        std::vector<const ModelInfo*> created;
        std::vector<std::string> later;
        for (const ModelInfo* m : models) {
            db::TableSpec spec = m->table_spec();
            const bool new_table = std::find(existed.begin(), existed.end(), spec.name) == existed.end();
            if (!forward_refs_ok && new_table) {
                for (auto& c : spec.columns) {
                    if (!c.references || c.references->table == spec.name) continue;
                    bool exists_yet = std::find(existed.begin(), existed.end(), c.references->table) != existed.end();
                    for (const ModelInfo* done : created) exists_yet = exists_yet || done->table() == c.references->table;
                    bool listed = false;
                    for (const ModelInfo* any : models) listed = listed || any->table() == c.references->table;
                    if (exists_yet || !listed) continue;
                    later.push_back(fmt::format("ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
                                                d.quote_name(spec.name), d.quote_name(c.name),
                                                d.quote_name(c.references->table), d.quote_name(c.references->column),
                                                c.references->on_delete == db::ReferentialAction::cascade    ? "CASCADE"
                                                : c.references->on_delete == db::ReferentialAction::set_null ? "SET NULL"
                                                : c.references->on_delete == db::ReferentialAction::restrict ? "RESTRICT"
                                                                                                             : "NO ACTION"));
                    c.references.reset();
                }
            }
            for (const auto& sql : editor.create_table_sql(spec, if_not_exists))
                logged(alias, sql, [&] { lease.conn().execute_script(sql); });
            created.push_back(m);
        }
        for (const auto& sql : later) logged(alias, sql, [&] { lease.conn().execute_script(sql); });
    });
}

void drop_tables(std::span<const ModelInfo* const> all, std::string_view alias, bool if_exists) {
    const auto models = in_dependency_order(migratable(all, alias));
    if (models.empty()) return;
    std::vector<std::string> tables;  // dependents first
    for (auto it = models.rbegin(); it != models.rend(); ++it) tables.push_back((*it)->table());
    in_ddl_transaction(alias, [&](Lease& lease) {
        const auto& editor = lease.conn().backend().schema_editor();
        for (const auto& sql : editor.drop_tables_sql(tables, if_exists))
            logged(alias, sql, [&] { lease.conn().execute_script(sql); });
    });
}

}  // namespace orm::detail
