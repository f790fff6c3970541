// Instances: insert / update-or-insert by primary key, delete, refresh, raw SQL (bulk writes: bulk.cpp).
// The primary key of a new row comes back through RETURNING or the connection's last insert
// id, whichever the backend's features offer. An empty alias means the routers' choice
// (db_for_write for writes, db_for_read for refresh and raw), else "default".
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "drivers/features.hpp"
#include "orm/atomic.hpp"
#include "orm/bulk.hpp"
#include "orm/errors.hpp"
#include "orm/model_info.hpp"
#include "orm/queryset_base.hpp"
#include "orm/routers.hpp"
#include "orm/session.hpp"

namespace orm::detail {

namespace {

QueryPtr pk_query(const ModelInfo& m, const Value& pk) { return with_filter(*make_query(m), Q("pk", pk), false); }

void set_pk(const ModelInfo& m, void* obj, const Value& v) {
    const FieldInfo& pk = m.pk();
    pk.access->set(obj, m.normalize(pk, v));
}

// Every related object `obj` caches (book.author = ann) must be allowed next to it on `alias` by
// the routers (without routers: be on the same database), else orm::RouterError naming the
// relation and `what()`, the operation ("save()"; built only for the error).
template <class What>
void check_related_objects(const ModelInfo& m, const void* obj, std::string_view alias, What&& what) {
    for (const auto& f : m.fields()) {
        if (!f.relation) continue;
        const void* target = f.access->related_object(obj);
        if (!target) continue;
        const ModelInfo& tm = f.relation->target();
        const std::string* db = tm.ops().get_db ? tm.ops().get_db(target) : nullptr;
        if (db && link_needs_check(alias, *db) && !relation_allowed(m, alias, tm, *db))
            refuse_relation(m, alias, tm, *db, fmt::format("through {}.{} in {}", m.type_name(), f.name, what()));
    }
}

// Before an object is written to `alias`: its reverse members must fit their relations (a bad
// declaration is refused before any SQL), and its related objects must be allowed next to it.
void check_related_databases(const ModelInfo& m, const void* obj, std::string_view alias, std::string_view what) {
    if (!m.has_relations()) return;
    m.check_members();
    check_related_objects(m, obj, alias, [what] { return what; });
}

// INSERT of one object on `alias` (its checks done), filling in its key.
void insert_row(const ModelInfo& m, void* obj, std::string_view alias) {
    const bool auto_pk = pk_unset(m, obj);
    std::vector<const FieldInfo*> cols;
    std::vector<Value> params;
    for (const auto& f : m.fields()) {
        if (auto_pk && f.primary_key) continue;
        cols.push_back(&f);
        params.push_back(m.clean(f, f.access->get(obj)));  // validated before any SQL is sent
    }
    Lease lease(alias);
    const bool returning = auto_pk && lease.features().supports_returning;
    if (auto_pk && !returning && !lease.features().has_last_insert_id)
        throw NotSupportedError(fmt::format("the {} backend offers neither RETURNING nor a last insert id",
                                            lease.dialect().name()));
    const std::string sql = SqlCompiler(lease.dialect()).insert(m, cols, 1, returning);
    auto r = lease.execute(sql, params);
    if (!auto_pk) {
        if (m.needs_bind()) m.bind(obj, alias_ptr(alias));
        return;
    }
    if (returning) {
        if (!r.next()) throw InternalError(fmt::format("INSERT ... RETURNING into {} returned no row", m.table()));
        Value id = r.row().value(0);
        while (r.next()) {
        }
        set_pk(m, obj, id);
    } else {
        r = db::Result();
        set_pk(m, obj, Value(lease.conn().last_insert_id()));
    }
    if (m.needs_bind()) m.bind(obj, alias_ptr(alias));
}

}  // namespace

bool pk_unset(const ModelInfo& m, const void* obj) {
    const FieldInfo& pk = m.pk();
    if (!pk.auto_increment) return false;
    Value v = pk.access->get(obj);
    return v.is_null() || v.as_int64() == 0;
}

void assign_fields(const ModelInfo& m, void* obj, const Assignments& lookup, const Assignments& values) {
    for (const auto& f : m.fields())
        if (f.default_value) f.access->set(obj, *f.default_value);
    auto apply = [&](const Assignments& list, bool skip_lookups) {
        for (const auto& [name, op] : list) {
            if (skip_lookups && name.find("__") != std::string::npos) continue;
            const FieldInfo& f = m.field(name);
            if (op.kind() != Operand::Kind::value)
                throw ValidationError(fmt::format("{}.{} needs a value here, not a list, an expression or a queryset",
                                                  m.type_name(), f.name),
                                      f.name);
            f.access->set(obj, m.clean(f, op.value()));
        }
    };
    apply(lookup, true);
    apply(values, false);
}

void insert_object(const ModelInfo& m, void* obj, std::string_view alias_arg) {
    RoutedAlias alias(Access::write, m, alias_arg);
    check_related_databases(m, obj, alias, "create()");
    insert_row(m, obj, alias);
}

void save_object(const ModelInfo& m, void* obj, std::string_view alias_arg) {
    RoutedAlias alias(Access::write, m, alias_arg);
    check_related_databases(m, obj, alias, "save()");
    if (pk_unset(m, obj)) {
        insert_row(m, obj, alias);
        return;
    }
    const FieldInfo& pk = m.pk();
    const Value key = pk.access->get(obj);
    // only() / defer(): the fields never loaded are left as they are in the row (Django saves
    // such an object with update_fields = the loaded fields).
    const std::uint64_t deferred = m.ops().get_deferred ? m.ops().get_deferred(obj) : 0;
    SetClause set;
    for (const auto& f : m.fields()) {
        if (f.primary_key) continue;
        if (f.index < 64 && (deferred >> f.index & 1)) continue;
        ExprNode n;
        n.kind = ExprKind::value;
        n.value = m.clean(f, f.access->get(obj));
        set.emplace_back(&f, std::make_shared<const ExprNode>(std::move(n)));
    }
    auto q = std::make_shared<Query>(*pk_query(m, key));
    q->alias = std::string(alias);
    std::int64_t matched = 0;
    if (set.empty()) {
        Lease lease(alias);
        auto r = lease.execute(SqlCompiler(lease.dialect()).exists(*q));
        matched = r.next() ? 1 : 0;
        while (r.next()) {
        }
    } else {
        Lease lease(alias);
        matched = lease.execute(SqlCompiler(lease.dialect()).update(*q, set)).rows_affected();
    }
    if (matched == 0 && deferred)
        throw DatabaseError(fmt::format("save(): no {} row has {} = {} on '{}', and this object was loaded without "
                                        "the fields {} (only() / defer()), so it cannot be inserted without writing "
                                        "defaults into them; load_deferred() first to insert it whole",
                                        m.type_name(), pk.name, key.debug_string(), std::string_view(alias),
                                        fmt::join(deferred_names(m, deferred), ", ")));
    if (matched == 0) insert_row(m, obj, alias);
    else if (m.needs_bind()) m.bind(obj, alias_ptr(alias));
}

std::vector<std::string> deferred_names(const ModelInfo& m, std::uint64_t mask) {
    // Django's get_deferred_fields() gives attnames: a foreign key as "author_id".
    std::vector<std::string> out;
    for (const auto& f : m.fields())
        if (f.index < 64 && (mask >> f.index & 1)) out.push_back(f.relation ? f.name + "_id" : f.name);
    return out;
}

void load_deferred_fields(const ModelInfo& m, void* obj, std::uint64_t mask, std::string_view alias_arg) {
    const std::uint64_t deferred = m.ops().get_deferred ? m.ops().get_deferred(obj) : 0;
    mask &= deferred;
    if (!mask) return;
    if (pk_unset(m, obj))
        throw InterfaceError(fmt::format("{}: cannot load the deferred fields {} of an object without a primary key",
                                         m.type_name(), fmt::join(deferred_names(m, mask), ", ")));
    const Value key = m.pk().access->get(obj);
    // A SELECT of just these columns by primary key (every other field left out).
    auto q = std::make_shared<Query>(*pk_query(m, key));
    q->order_by.clear();
    q->deferred = ~mask;
    RoutedAlias alias(Access::read, m, alias_arg);
    Lease lease(alias);
    auto r = lease.execute(SqlCompiler(lease.dialect()).select(*q));
    if (!r.next())
        m.throw_does_not_exist(fmt::format("{} matching query does not exist (loading the deferred fields {} with {} = "
                                           "{}).",
                                           m.type_name(), fmt::join(deferred_names(m, mask), ", "), m.pk().name,
                                           key.debug_string()));
    load_selected(m, obj, r.row(), ~mask);
    while (r.next()) {
    }
    m.ops().set_deferred(obj, deferred & ~mask);
}

void load_deferred_member(const ModelInfo& m, void* obj, const std::type_info& member_type, const void* member,
                          std::string_view alias) {
    const FieldInfo& f = m.field_of_member(member_type, member);
    if (f.index >= 64) return;
    load_deferred_fields(m, obj, std::uint64_t{1} << f.index, alias);
}

std::int64_t delete_object(const ModelInfo& m, void* obj, std::string_view alias_arg) {
    RoutedAlias alias(Access::write, m, alias_arg);
    const FieldInfo& pk = m.pk();
    std::int64_t n = 0;
    if (has_dependents(m)) {
        n = delete_with_collector(m, {pk.access->get(obj)}, alias);
    } else {
        auto q = std::make_shared<Query>(*pk_query(m, pk.access->get(obj)));
        q->alias = std::string(alias);
        Lease lease(alias);
        n = lease.execute(SqlCompiler(lease.dialect()).delete_rows(*q)).rows_affected();
    }
    if (pk.auto_increment) pk.access->set(obj, normalize_value(pk.type, Value(std::int64_t{0}), pk.name));
    return n;
}

void refresh_object(const ModelInfo& m, void* obj, std::string_view alias) {
    if (pk_unset(m, obj))
        throw InterfaceError(fmt::format("refresh_from_db(): this {} has no primary key yet (save it first)",
                                         m.type_name()));
    RoutedAlias on(Access::read, m, alias);
    if (!fetch_by_pk(m, m.pk().access->get(obj), on, obj))
        m.throw_does_not_exist(fmt::format("{} matching query does not exist (refresh_from_db with {} = {}).",
                                           m.type_name(), m.pk().name, m.pk().access->get(obj).debug_string()));
    // As in Django: cached related objects and prefetched rows are read again on next access
    // (the foreign keys' cached objects went with the reload already).
    m.forget_related(obj);
    if (m.ops().set_deferred) m.ops().set_deferred(obj, 0);  // every field is loaded now
}

void bulk_insert(const ModelInfo& m, void* first, std::size_t count, std::size_t stride, std::string_view alias_arg,
                 std::size_t batch_size) {
    BulkCreate options;
    options.batch_size = batch_size;
    bulk_create_objects(m, first, count, stride, alias_arg, options);
}

void check_bulk_related(const ModelInfo& m, const void* obj, std::string_view alias, std::size_t i, std::size_t count) {
    check_related_objects(m, obj, alias, [&] { return fmt::format("bulk_create() (objs[{}] of {})", i, count); });
}

void insert_checked(const ModelInfo& m, void* obj, std::string_view alias) { insert_row(m, obj, alias); }

void raw_objects(const ModelInfo& m, std::string_view sql, std::span<const Value> params, std::string_view alias,
                 FunctionRef<void*()> make) {
    RoutedAlias on(Access::read, m, alias);
    Lease lease(on);
    auto r = lease.execute(sql, params);
    std::vector<std::pair<std::size_t, const FieldInfo*>> mapping;
    bool has_pk = false;
    for (std::size_t i = 0; i < r.column_count(); ++i) {
        std::string_view name = r.column_name(i);
        for (const auto& f : m.fields()) {
            if (f.column == name) {
                mapping.emplace_back(i, &f);
                has_pk = has_pk || f.primary_key;
                break;
            }
        }
    }
    if (!has_pk)
        throw InterfaceError(fmt::format("raw(): the query must select the primary key column '{}' of {}",
                                         m.pk().column, m.type_name()));
    while (r.next()) {
        void* obj = make();
        auto row = r.row();
        for (const auto& [i, f] : mapping) f->access->load(obj, row, i);
        if (m.needs_bind()) m.bind(obj, alias_ptr(on.get()));
    }
}

}  // namespace orm::detail
