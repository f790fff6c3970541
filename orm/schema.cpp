// create_tables / drop_tables through the schema editor, logged like every other statement.
// Models a router's allow_migrate() refuses on the alias are left out.
#include "orm/schema.hpp"

#include "drivers/backend.hpp"
#include "drivers/features.hpp"
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

}  // namespace

void create_tables(std::span<const ModelInfo* const> all, std::string_view alias, bool if_not_exists) {
    const auto models = migratable(all, alias);
    if (models.empty()) return;
    in_ddl_transaction(alias, [&](Lease& lease) {
        const auto& editor = lease.conn().backend().schema_editor();
        for (const ModelInfo* m : models)
            for (const auto& sql : editor.create_table_sql(m->table_spec(), if_not_exists))
                logged(alias, sql, [&] { lease.conn().execute_script(sql); });
    });
}

void drop_tables(std::span<const ModelInfo* const> all, std::string_view alias, bool if_exists) {
    const auto models = migratable(all, alias);
    if (models.empty()) return;
    in_ddl_transaction(alias, [&](Lease& lease) {
        const auto& editor = lease.conn().backend().schema_editor();
        for (auto it = models.rbegin(); it != models.rend(); ++it) {
            auto sql = editor.drop_table_sql((*it)->table(), if_exists);
            logged(alias, sql, [&] { lease.conn().execute_script(sql); });
        }
    });
}

}  // namespace orm::detail
