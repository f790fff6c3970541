// The compiled half of relations: the rows of a related set and linking / unlinking them,
// prefetch_related (one query per relation level), select_related rows, and the deletion
// collector that enforces on_delete the way Django's does.
#include <algorithm>
#include <functional>
#include <optional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "orm/atomic.hpp"
#include "orm/batch.hpp"
#include "orm/errors.hpp"
#include "drivers/hints.hpp"
#include "orm/model_info.hpp"
#include "orm/queryset_base.hpp"
#include "orm/relations.hpp"
#include "orm/routers.hpp"
#include "orm/session.hpp"

namespace orm::detail {

namespace {

struct ValueLess {
    bool operator()(const Value& a, const Value& b) const { return a.storage() < b.storage(); }
};
using KeySet = std::set<Value, ValueLess>;

bool is_m2m(const Relation& r) {
    return r.kind == RelationKind::many_to_many || r.kind == RelationKind::reverse_many_to_many;
}

ExprPtr value_expr_node(Value v) {
    ExprNode n;
    n.kind = ExprKind::value;
    n.value = std::move(v);
    return std::make_shared<const ExprNode>(std::move(n));
}

QueryPtr on_alias(QueryPtr q, std::string_view alias) {
    auto out = std::make_shared<Query>(*q);
    out->alias = std::string(alias);
    return out;
}

// SELECT <column> FROM <model> WHERE <cond>: a values query of one column.
QueryPtr column_query(const ModelInfo& m, const FieldInfo& column, const Q& cond, std::string_view alias) {
    auto q = with_filter(*make_query(m), cond, false);
    auto out = std::make_shared<Query>(*q);
    out->alias = std::string(alias);
    out->order_by.clear();
    out->values_mode = true;
    out->values = {SelectItem{column.name, field_ref(column), false}};
    return out;
}

std::vector<Value> read_column(const Query& q) {
    std::vector<Value> out;
    for (auto& row : fetch_values(q)) out.push_back(std::move(row[0]));
    return out;
}

std::int64_t run_update(const Query& q, const FieldInfo& f, Value v) {
    SetClause set{{&f, value_expr_node(std::move(v))}};
    RoutedAlias alias(Access::write, *q.model, q.alias);
    Lease lease(alias);
    return lease.execute(SqlCompiler(lease.dialect()).update(q, set)).rows_affected();
}

std::int64_t run_delete(const Query& q) {
    RoutedAlias alias(Access::write, *q.model, q.alias);
    Lease lease(alias);
    return lease.execute(SqlCompiler(lease.dialect()).delete_rows(q)).rows_affected();
}

// Runs fn over `keys` in slices the backend's parameter limit allows.
template <class Fn>
void in_batches(std::string_view alias, std::span<const Value> keys, Fn&& fn) {
    const std::size_t batch = std::max<std::size_t>(1, max_in_list(alias));
    for (std::size_t start = 0; start < keys.size(); start += batch)
        fn(std::vector<Value>(keys.begin() + static_cast<std::ptrdiff_t>(start),
                              keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), start + batch))));
}

std::vector<Value> normalized_keys(const ModelInfo& m, std::span<const Value> keys, std::string_view what) {
    std::vector<Value> out;
    out.reserve(keys.size());
    KeySet seen;
    for (const Value& k : keys) {
        if (k.is_null())
            throw ValidationError(fmt::format("{}: a {} without a primary key (save it first)", what, m.type_name()));
        Value v = m.normalize(m.pk(), k);
        if (seen.insert(v).second) out.push_back(std::move(v));
    }
    return out;
}

const FieldInfo& nullable_fk(const SetBinding& b, std::string_view what) {
    const Relation& r = *b.relation;
    if (!r.fk->nullable)
        throw InterfaceError(fmt::format("{} on {}.{}: {}.{} is not nullable, so rows cannot be unlinked (delete them, "
                                         "or point them elsewhere)",
                                         what, r.owner->type_name(), r.name, r.target().type_name(), r.fk->name));
    return *r.fk;
}

}  // namespace

// ---- related sets -------------------------------------------------------------------------

QueryPtr related_query(const SetBinding& b, std::string_view /*what*/) {
    const Relation& r = *b.relation;
    const std::string& alias = alias_or_default(b.alias);
    const ModelInfo& target = r.target();
    if (is_m2m(r)) {
        auto sub = column_query(*r.through, *r.through_to, Q(r.through_from->name, b.owner_pk), alias);
        return on_alias(with_in_query(*make_query(target), field_ref(target.pk()), sub, false), alias);
    }
    return on_alias(with_filter(*make_query(target), Q(r.fk->name, b.owner_pk), false), alias);
}

void related_add(const SetBinding& b, std::span<const Value> keys_in) {
    const Relation& r = *b.relation;
    const std::string& alias = alias_or_default(b.alias);
    const ModelInfo& target = r.target();
    auto keys = normalized_keys(target, keys_in, "add()");
    if (keys.empty()) return;
    atomic(alias, [&] {
        if (!is_m2m(r)) {
            in_batches(alias, keys, [&](std::vector<Value> batch) {
                auto q = on_alias(with_filter(*make_query(target), Q("pk__in", Operand(std::move(batch))), false), alias);
                run_update(*q, *r.fk, b.owner_pk);
            });
            return;
        }
        KeySet existing;
        in_batches(alias, keys, [&](std::vector<Value> batch) {
            auto q = column_query(*r.through, *r.through_to,
                                  Q(r.through_from->name, b.owner_pk) & Q(r.through_to->name + "__in", Operand(std::move(batch))),
                                  alias);
            for (auto& v : read_column(*q)) existing.insert(r.through->normalize(*r.through_to, v));
        });
        const ModelInfo& through = *r.through;
        for (const Value& k : keys) {
            if (existing.count(k)) continue;
            auto row = through.ops().make_shared();
            for (const auto& f : through.fields())
                if (f.default_value) f.access->set(row.get(), *f.default_value);
            r.through_from->access->set(row.get(), through.normalize(*r.through_from, b.owner_pk));
            r.through_to->access->set(row.get(), through.normalize(*r.through_to, k));
            insert_object(through, row.get(), alias);
        }
    });
}

void related_remove(const SetBinding& b, std::span<const Value> keys_in) {
    const Relation& r = *b.relation;
    const std::string& alias = alias_or_default(b.alias);
    auto keys = normalized_keys(r.target(), keys_in, "remove()");
    if (keys.empty()) return;
    atomic(alias, [&] {
        if (is_m2m(r)) {
            in_batches(alias, keys, [&](std::vector<Value> batch) {
                auto q = on_alias(with_filter(*make_query(*r.through),
                                              Q(r.through_from->name, b.owner_pk) &
                                                  Q(r.through_to->name + "__in", Operand(std::move(batch))),
                                              false),
                                  alias);
                run_delete(*q);
            });
            return;
        }
        const FieldInfo& fk = nullable_fk(b, "remove()");
        const ModelInfo& target = r.target();
        // As Django: removing an object that is not in the set is an error (and changes nothing).
        std::vector<Value> present;
        in_batches(alias, keys, [&](std::vector<Value> batch) {
            auto q = column_query(target, target.pk(), Q("pk__in", Operand(std::move(batch))) & Q(fk.name, b.owner_pk),
                                  alias);
            for (auto& v : read_column(*q)) present.push_back(target.normalize(target.pk(), v));
        });
        if (present.size() != keys.size()) {
            KeySet in(present.begin(), present.end());
            for (const auto& k : keys)
                if (!in.count(k))
                    target.throw_does_not_exist(fmt::format("{} is not related to {} (remove() on {}.{})",
                                                            target.describe_object(k),
                                                            r.owner->describe_object(b.owner_pk),
                                                            r.owner->type_name(), r.name));
        }
        in_batches(alias, keys, [&](std::vector<Value> batch) {
            auto q = on_alias(with_filter(*make_query(target),
                                          Q("pk__in", Operand(std::move(batch))) & Q(fk.name, b.owner_pk), false),
                              alias);
            run_update(*q, fk, Value());
        });
    });
}

void related_clear(const SetBinding& b) {
    const Relation& r = *b.relation;
    const std::string& alias = alias_or_default(b.alias);
    if (is_m2m(r)) {
        run_delete(*on_alias(with_filter(*make_query(*r.through), Q(r.through_from->name, b.owner_pk), false), alias));
        return;
    }
    const FieldInfo& fk = nullable_fk(b, "clear()");
    run_update(*on_alias(with_filter(*make_query(r.target()), Q(fk.name, b.owner_pk), false), alias), fk, Value());
}

void related_set(const SetBinding& b, std::span<const Value> keys_in) {
    const Relation& r = *b.relation;
    const std::string& alias = alias_or_default(b.alias);
    const ModelInfo& target = r.target();
    auto keys = normalized_keys(target, keys_in, "set()");
    atomic(alias, [&] {
        KeySet wanted(keys.begin(), keys.end());
        std::vector<Value> current;
        if (is_m2m(r)) {
            auto q = column_query(*r.through, *r.through_to, Q(r.through_from->name, b.owner_pk), alias);
            for (auto& v : read_column(*q)) current.push_back(r.through->normalize(*r.through_to, v));
        } else {
            if (!r.fk->nullable) {  // as Django: rows cannot leave a non-null set, so set() only adds
                related_add(b, keys);
                return;
            }
            auto q = column_query(target, target.pk(), Q(r.fk->name, b.owner_pk), alias);
            for (auto& v : read_column(*q)) current.push_back(target.normalize(target.pk(), v));
        }
        std::vector<Value> stale;
        KeySet have;
        for (auto& v : current) {
            if (!wanted.count(v)) stale.push_back(v);
            have.insert(v);
        }
        std::vector<Value> missing;
        for (auto& k : keys)
            if (!have.count(k)) missing.push_back(k);
        if (!stale.empty()) related_remove(b, stale);
        if (!missing.empty()) related_add(b, missing);
    });
}

void related_check_db(const SetBinding& b, std::string_view db, std::string_view what) {
    const std::string& alias = alias_or_default(b.alias);
    const Relation& r = *b.relation;
    if (link_needs_check(alias, db) && !relation_allowed(*r.owner, alias, r.target(), db))
        refuse_relation(*r.owner, alias, r.target(), db,
                        fmt::format("through {}.{} in {}", r.owner->type_name(), r.name, what));
}

void related_prepare_create(const SetBinding& b, void* obj) {
    const Relation& r = *b.relation;
    if (is_m2m(r)) return;
    r.fk->access->set(obj, r.target().normalize(*r.fk, b.owner_pk));
    // The key is the owner's now; an object cached for the same key (another database's row)
    // must not stay: it would be checked, and loaded, in the owner's place.
    r.fk->access->set_related_object(obj, nullptr);
}

void related_after_create(const SetBinding& b, const Value& key) {
    if (!is_m2m(*b.relation)) return;
    related_add(b, std::span<const Value>(&key, 1));
}

// ---- select_related / prefetch_related -----------------------------------------------------

WEFT_HOT const std::string* alias_ptr(std::string_view alias) {
    thread_local const std::string* last = nullptr;
    if (last && (last->data() == alias.data() ? last->size() == alias.size() : *last == alias)) return last;
    return last = intern_alias(alias);
}

void load_selected(const ModelInfo& m, void* obj, const db::Row& row, std::uint64_t deferred, std::size_t first) {
    std::size_t col = first;
    for (const auto& f : m.fields()) {
        if (f.index < 64 && (deferred >> f.index & 1)) continue;
        f.access->load(obj, row, col++);
    }
    if (m.ops().set_deferred) m.ops().set_deferred(obj, deferred);
}

void load_row(const Query& q, const db::Row& row, void* obj, const std::string* alias, RelatedScratch& scratch) {
    const ModelInfo& m = *q.model;
    if (q.deferred) load_selected(m, obj, row, q.deferred);
    else m.load(obj, row);
    m.bind(obj, alias);
    if (q.select_related.empty()) return;
    void** related = scratch.get(q.select_related.size());
    std::fill(related, related + q.select_related.size(), nullptr);
    std::size_t pos = q.deferred ? selected_field_count(q) : m.fields().size();
    for (std::size_t i = 0; i < q.select_related.size(); ++i) {
        const RelatedSelect& rs = q.select_related[i];
        const Join* join = rs.table > 0 ? &q.joins.at(rs.table - 1u) : nullptr;
        const ModelInfo& rm = join ? *join->model : m;
        const std::size_t n = rm.fields().size();
        void* parent = rs.parent < 0 ? obj : related[static_cast<std::size_t>(rs.parent)];
        // Only an outer join can leave the related columns NULL (a key without a row): an
        // inner-joined row always has its primary key.
        if (parent && (!(join && join->outer) || !row.is_null(pos + rm.pk().index))) {
            auto p = rm.ops().make_shared();
            rm.load(p.get(), row, pos);
            rm.bind(p.get(), alias);
            related[i] = p.get();
            rs.holder->set_related_object(parent, std::move(p));
        } else if (parent && rs.reverse) {
            rs.holder->set_no_related_object(parent);  // the LEFT JOIN found no row pointing here
        }
        pos += n;
    }
}

namespace {

struct Level {
    const ModelInfo* model = nullptr;
    std::vector<void*> objects;
    const Query* queryset = nullptr;  // the Prefetch queryset that read it (null: all rows)
};

const SetMember& set_member_for(const ModelInfo& m, const Relation& r, std::string_view path) {
    for (const auto& sm : m.set_members())
        if (sm.relation == &r && !sm.single) return sm;
    if (r.kind == RelationKind::reverse_one_to_one)
        throw FieldError(fmt::format("prefetch_related('{}'): {} has no member to hold the {} of the one-to-one '{}'; "
                                     "declare an orm::RelatedOne<{}> and m.field(&{}::member, \"{}\")",
                                     path, m.type_name(), r.target().type_name(), r.name, r.target().type_name(),
                                     m.type_name(), r.name));
    throw FieldError(fmt::format("prefetch_related('{}'): {} has no member for the relation '{}' to hold the rows; "
                                 "declare one (orm::RelatedSet<{}> or orm::ManyToMany<{}>) with m.field(&{}::member, "
                                 "\"{}\"), or give the Prefetch a to_attr member (std::vector<{}>)",
                                 path, m.type_name(), r.name, r.target().type_name(), r.target().type_name(),
                                 m.type_name(), r.name, r.target().type_name()));
}

// Runs q and hands each row's object (emplaced into the vector `owner_of(row)` returns) on.
template <class OwnerOf>
void read_into(const Query& q, const std::string* alias, OwnerOf&& owner_of) {
    RoutedAlias on(Access::read, *q.model, q.alias);
    Lease lease(on);
    auto res = lease.execute(SqlCompiler(lease.dialect()).select(q));
    const ModelInfo& m = *q.model;
    RelatedScratch related;
    while (res.next()) {
        auto row = res.row();
        void* vec = owner_of(row);
        if (!vec) continue;
        void* obj = m.ops().emplace_back(vec);
        load_row(q, row, obj, alias, related);
    }
}

// Every element of a vector of a model's objects.
void append_elements(const ModelInfo& m, void* vec, std::vector<void*>& out) {
    const std::size_t n = m.ops().size(vec);
    for (std::size_t i = 0; i < n; ++i) out.push_back(m.ops().at(vec, i));
}

// The rows a level reads before its key filter: a Prefetch queryset (with the key column it
// matches rows to owners by always loaded), else all rows of the target.
QueryPtr level_base(const ModelInfo& target, const Query* custom, const FieldInfo* key_field) {
    if (!custom) return make_query(target);
    if (!key_field || key_field->index >= 64 || !(custom->deferred >> key_field->index & 1))
        return std::make_shared<Query>(*custom);
    auto q = std::make_shared<Query>(*custom);
    q->deferred &= ~(std::uint64_t{1} << key_field->index);
    return q;
}

// The position of a field of the model (table 0) among the columns q selects.
std::size_t column_of(const Query& q, const FieldInfo& f) {
    std::size_t pos = 0;
    for (const auto& g : q.model->fields()) {
        if (&g == &f) return pos;
        if (!(g.index < 64 && (q.deferred >> g.index & 1))) ++pos;
    }
    return pos;
}

// The position of the last annotation among the columns q selects.
std::size_t last_annotation_column(const Query& q) {
    std::size_t pos = selected_field_count(q);
    for (const auto& rs : q.select_related) pos += table_model(q, rs.table).fields().size();
    return pos + q.annotations.size() - 1;
}

// The reverse side of a one-to-one held by a RelatedOne member: the rows pointing at the owners,
// one statement per batch of owners; each owner caches its row, or "none".
void prefetch_one(const Level& in, const Relation& r, const SetMember& member, std::string_view alias_name,
                  const std::string* alias, const Query* custom, Level& out) {
    const ModelInfo& m = *in.model;
    const ModelInfo& target = r.target();
    std::vector<Value> keys;
    KeySet seen;
    for (void* obj : in.objects) {
        Value k = m.normalize(m.pk(), m.pk().access->get(obj));
        if (seen.insert(k).second) keys.push_back(std::move(k));
    }
    std::map<Value, std::shared_ptr<void>, ValueLess> by_owner;
    const QueryPtr base = level_base(target, custom, r.fk);
    in_batches(alias_name, keys, [&](std::vector<Value> batch) {
        auto vec = target.ops().new_vector();
        auto q = on_alias(with_filter(*base, Q(r.fk->name + "__in", Operand(std::move(batch))), false), alias_name);
        read_into(*q, alias, [&](const db::Row&) { return vec.get(); });
        const std::size_t n = target.ops().size(vec.get());
        for (std::size_t i = 0; i < n; ++i) {
            void* obj = target.ops().at(vec.get(), i);
            by_owner[m.normalize(m.pk(), r.fk->access->get(obj))] = std::shared_ptr<void>(vec, obj);
            out.objects.push_back(obj);
        }
    });
    for (void* obj : in.objects) {
        auto it = by_owner.find(m.normalize(m.pk(), m.pk().access->get(obj)));
        if (it != by_owner.end()) member.access->set_related_object(obj, it->second);
        else member.access->set_no_related_object(obj);
    }
}

// Checks a Prefetch object against the relation it reaches (queryset model, to_attr member).
void check_prefetch_spec(const PrefetchSpec& spec, const ModelInfo& owner, const Relation& r) {
    const ModelInfo& target = r.target();
    if (spec.queryset && spec.queryset->model != &target)
        throw FieldError(fmt::format("Prefetch('{}'): the queryset reads {} rows, but '{}' of {} leads to {}", spec.path,
                                     spec.queryset->model->type_name(), r.name, owner.type_name(), target.type_name()));
    if (!spec.to_attr) return;
    if (&spec.to_attr->owner() != &owner)
        throw FieldError(fmt::format("Prefetch('{}'): the to_attr member belongs to {}, but the lookup's last "
                                     "relation '{}' starts on {}",
                                     spec.path, spec.to_attr->owner().type_name(), r.name, owner.type_name()));
    if (&spec.to_attr->target() != &target)
        throw FieldError(fmt::format("Prefetch('{}'): the to_attr member holds {} objects, but '{}' leads to {}",
                                     spec.path, spec.to_attr->target().type_name(), r.name, target.type_name()));
    if (!r.multi_valued())
        throw FieldError(fmt::format("Prefetch('{}', to_attr): '{}' of {} leads to one object, not a set; to_attr "
                                     "(a std::vector member) needs a reverse foreign key or a many-to-many relation",
                                     spec.path, r.name, owner.type_name()));
}

Level prefetch_level(const Level& in, std::string_view name, std::string_view path, std::string_view alias_name,
                     const PrefetchSpec* spec = nullptr) {
    const ModelInfo& m = *in.model;
    const std::string* alias = alias_ptr(alias_name);
    Level out;
    const FieldInfo* f = m.find(name);
    const Relation* r = f && f->relation && f->name == name ? f->relation : (f ? nullptr : m.find_relation(name));
    if (!r)
        throw FieldError(fmt::format("Cannot find '{}' on {} object, '{}' is an invalid parameter to "
                                     "prefetch_related(). Choices are: {}",
                                     name, m.type_name(), path, m.choices()));
    const ModelInfo& target = r->target();
    if (spec) check_prefetch_spec(*spec, m, *r);
    const Query* custom = spec && spec->queryset ? spec->queryset.get() : nullptr;
    out.model = &target;
    out.queryset = custom;
    if (in.objects.empty()) return out;

    if (!r->is_reverse() && r->kind != RelationKind::many_to_many) {
        // A forward foreign key: the targets by primary key, one object shared by every row
        // that refers to it.
        std::vector<Value> keys;
        KeySet seen;
        for (void* obj : in.objects) {
            Value k = r->fk->access->get(obj);
            if (k.is_null()) continue;
            k = target.normalize(target.pk(), k);
            if (seen.insert(k).second) keys.push_back(std::move(k));
        }
        std::map<Value, std::shared_ptr<void>, ValueLess> by_key;
        const QueryPtr base = level_base(target, custom, nullptr);
        in_batches(alias_name, keys, [&](std::vector<Value> batch) {
            auto vec = target.ops().new_vector();
            auto q = on_alias(with_filter(*base, Q("pk__in", Operand(std::move(batch))), false), alias_name);
            read_into(*q, alias, [&](const db::Row&) { return vec.get(); });
            const std::size_t n = target.ops().size(vec.get());
            for (std::size_t i = 0; i < n; ++i) {
                void* obj = target.ops().at(vec.get(), i);
                by_key[target.normalize(target.pk(), target.pk().access->get(obj))] = std::shared_ptr<void>(vec, obj);
                out.objects.push_back(obj);
            }
        });
        for (void* obj : in.objects) {
            Value k = r->fk->access->get(obj);
            if (k.is_null()) continue;
            auto it = by_key.find(target.normalize(target.pk(), k));
            if (it != by_key.end()) r->fk->access->set_related_object(obj, it->second);
        }
        return out;
    }
    if (r->kind == RelationKind::reverse_one_to_one) {
        if (const SetMember* one = m.one_member_for(*r)) {
            prefetch_one(in, *r, *one, alias_name, alias, custom, out);
            return out;
        }
    }

    // A set: the rows of every owner in one query (per batch of owners), grouped by owner, in
    // the order the query gives (a Prefetch queryset's order_by).
    const ToAttr* to_attr = spec && spec->to_attr ? spec->to_attr.get() : nullptr;
    const SetMember* member = to_attr ? nullptr : &set_member_for(m, *r, path);
    std::map<Value, std::shared_ptr<void>, ValueLess> vec_of;
    std::vector<Value> keys;
    for (void* obj : in.objects) {
        Value k = m.normalize(m.pk(), m.pk().access->get(obj));
        if (vec_of.emplace(k, nullptr).second) keys.push_back(std::move(k));
    }
    for (auto& [k, vec] : vec_of) vec = target.ops().new_vector();
    auto owner_of = [&](std::size_t column) {
        return [&, column](const db::Row& row) -> void* {
            Value k = row.value(column);
            if (k.is_null()) return nullptr;
            auto it = vec_of.find(m.normalize(m.pk(), k));
            return it == vec_of.end() ? nullptr : it->second.get();
        };
    };
    const bool m2m = is_m2m(*r);
    const QueryPtr base = level_base(target, custom, m2m ? nullptr : r->fk);
    in_batches(alias_name, keys, [&](std::vector<Value> batch) {
        QueryPtr q;
        std::size_t key_column = 0;
        if (m2m) {
            const Relation* back = r->kind == RelationKind::many_to_many ? r->reverse : r->forward;
            auto filtered = with_filter(*base, Q(back->name + "__in", Operand(std::move(batch))), false);
            q = with_annotation(*filtered, "_prefetch_owner", F(back->name));
            key_column = last_annotation_column(*q);
        } else {
            q = with_filter(*base, Q(r->fk->name + "__in", Operand(std::move(batch))), false);
            key_column = column_of(*q, *r->fk);
        }
        read_into(*on_alias(q, alias_name), alias, owner_of(key_column));
    });
    if (to_attr) {
        // Each owner's rows move into its member; an owner seen twice (the same row reached
        // twice at this level) gets a copy.
        std::map<Value, void*, ValueLess> moved_to;
        for (void* obj : in.objects) {
            Value k = m.normalize(m.pk(), m.pk().access->get(obj));
            auto done = moved_to.find(k);
            if (done == moved_to.end()) {
                to_attr->assign(obj, vec_of[k].get());
                void* mine = to_attr->vector_of(obj);
                moved_to.emplace(k, mine);
                append_elements(target, mine, out.objects);
            } else {
                auto copy = target.ops().new_vector();
                const std::size_t n = target.ops().size(done->second);
                for (std::size_t i = 0; i < n; ++i) target.ops().push_copy(copy.get(), target.ops().at(done->second, i));
                to_attr->assign(obj, copy.get());
            }
        }
        return out;
    }
    for (void* obj : in.objects) {
        auto& vec = vec_of[m.normalize(m.pk(), m.pk().access->get(obj))];
        member->access->set_prefetched(obj, vec);
    }
    for (auto& [k, vec] : vec_of) append_elements(target, vec.get(), out.objects);
    return out;
}

}  // namespace

void prefetch_objects(const Query& q, std::span<void* const> objects) {
    if (q.prefetch.empty() || objects.empty()) return;
    ensure_relations();
    RoutedAlias alias(Access::read, *q.model, q.alias);
    std::map<std::string, Level> levels;  // by path prefix: "books" is read once for "books__tags" too
    Level root;
    root.model = q.model;
    root.objects.assign(objects.begin(), objects.end());
    std::size_t to_attr_count = 0;
    // Several relations at the root level, all plain lookups: read together through orm::gather
    // (pipelined on PostgreSQL, one after another elsewhere); the loop below finds them read.
    // Not with Prefetch objects, whose order decides which queryset reads a level.
    if (std::none_of(q.prefetch.begin(), q.prefetch.end(), [](const PrefetchSpec& s) { return s.queryset || s.to_attr; })) {
        std::vector<std::pair<std::string, std::string_view>> firsts;  // a relation, the first path through it
        for (const auto& spec : q.prefetch) {
            std::string name = spec.path.substr(0, spec.path.find("__"));
            if (std::none_of(firsts.begin(), firsts.end(), [&](const auto& f) { return f.first == name; }))
                firsts.emplace_back(std::move(name), spec.path);
        }
        if (firsts.size() > 1) {
            std::vector<std::optional<Level>> read(firsts.size());
            std::vector<std::function<void()>> reads;
            for (std::size_t i = 0; i < firsts.size(); ++i)
                reads.push_back([&, i] { read[i] = prefetch_level(root, firsts[i].first, firsts[i].second, alias.get()); });
            gather(reads, alias.get());
            for (std::size_t i = 0; i < firsts.size(); ++i) levels.emplace(firsts[i].first, std::move(*read[i]));
        }
    }
    for (const auto& spec : q.prefetch) {
        const std::string& path = spec.path;
        const bool custom = spec.queryset || spec.to_attr;
        const Level* current = &root;
        std::string prefix;
        std::size_t start = 0;
        while (start <= path.size()) {
            std::size_t end = path.find("__", start);
            if (end == std::string::npos) end = path.size();
            const bool last = end == path.size();
            std::string_view name(path.data() + start, end - start);
            prefix = prefix.empty() ? std::string(name) : prefix + "__" + std::string(name);
            // A to_attr level is its own (the relation's member keeps what a plain lookup reads).
            std::string key = last && spec.to_attr ? prefix + "\x1fto_attr" + std::to_string(to_attr_count++) : prefix;
            auto it = levels.find(key);
            if (it != levels.end() && last && spec.queryset && it->second.queryset != spec.queryset.get())
                throw FieldError(fmt::format("'{}' lookup was already seen with a different queryset. You may need "
                                             "to adjust the ordering of your lookups (a Prefetch with a queryset "
                                             "before the plain lookups through it)",
                                             path));
            if (it == levels.end())
                it = levels
                         .emplace(key, prefetch_level(*current, name, path, alias.get(), last && custom ? &spec : nullptr))
                         .first;
            current = &it->second;
            start = end + 2;
        }
        // Nested prefetches through Prefetch: the queryset's own prefetch_related() on its rows.
        if (spec.queryset && !spec.queryset->prefetch.empty() && !current->objects.empty()) {
            Query nested = *spec.queryset;
            nested.alias = std::string(alias.get());
            prefetch_objects(nested, current->objects);
        }
    }
}

}  // namespace orm::detail

// ---- the deletion collector ------------------------------------------------------------------

namespace orm::detail {

namespace {

class Collector {
public:
    explicit Collector(std::string_view alias) : alias_(alias) {}

    // Depth first, in the order a recursive walk would take (a cascade's rows are collected, and
    // their own dependents, before the next relation is asked), on an explicit stack: a
    // self-referential chain (a tree of categories, a linked list of rows) is as deep as it has
    // rows, and one stack frame per level would overflow a fiber's stack.
    void collect(const ModelInfo& root, std::vector<Value> root_keys) {
        struct Frame {
            const ModelInfo* model;
            std::size_t deletion;  // its entry in deletions_ (the keys collected for it)
            std::size_t next = 0;  // the reverse relation to ask next
        };
        std::vector<Frame> stack;
        auto enter = [&](const ModelInfo& m, std::vector<Value> keys) {
            KeySet& seen = seen_[&m];
            std::vector<Value> fresh;
            for (auto& k : keys)
                if (seen.insert(k).second) fresh.push_back(std::move(k));
            if (fresh.empty()) return;
            deletions_.emplace_back(&m, std::move(fresh));
            stack.push_back({&m, deletions_.size() - 1});
        };
        enter(root, std::move(root_keys));
        while (!stack.empty()) {
            Frame& top = stack.back();
            const ModelInfo& m = *top.model;
            const auto& reverse = m.reverse_relations();
            if (top.next == reverse.size()) {
                stack.pop_back();
                continue;
            }
            const Relation& rev = *reverse[top.next++];
            const std::size_t deletion = top.deletion;  // `top` dangles once enter() pushes
            if (rev.kind == RelationKind::reverse_many_to_many) continue;  // its join table's own key does it
            const ModelInfo& src = rev.target();
            const FieldInfo& fk = *rev.fk;
            if (rev.on_delete == OnDelete::do_nothing) continue;
            std::vector<Value> rows;
            in_batches(alias_, deletions_[deletion].second, [&](std::vector<Value> batch) {
                auto q = column_query(src, src.pk(), Q(fk.name + "__in", Operand(std::move(batch))), alias_);
                for (auto& v : read_column(*q)) rows.push_back(src.normalize(src.pk(), v));
            });
            if (rows.empty()) continue;
            switch (rev.on_delete) {
                case OnDelete::cascade: enter(src, std::move(rows)); break;
                case OnDelete::protect:
                    for (auto& v : rows) protected_.push_back({&src, &fk, &m, std::move(v)});
                    break;
                case OnDelete::restrict:
                    for (auto& v : rows) restricted_.push_back({&src, &fk, &m, std::move(v)});
                    break;
                case OnDelete::set_null: set_null_.push_back({&src, &fk, std::move(rows)}); break;
                case OnDelete::do_nothing: break;
            }
        }
    }

    // Raises ProtectedError / RestrictedError before anything is written.
    void check() {
        if (!protected_.empty()) throw_blocked<ProtectedError>(protected_, "protected");
        std::vector<Blocker> still;
        for (auto& b : restricted_)
            if (!seen_[b.model].count(b.key)) still.push_back(b);
        if (!still.empty()) throw_blocked<RestrictedError>(still, "restricted");
    }

    // SET NULL, then deletes children before parents. Returns rows deleted of the first model.
    std::int64_t run() {
        for (const auto& [src, fk, rows] : set_null_) {
            std::vector<Value> live;
            for (const auto& v : rows)
                if (!seen_[src].count(v)) live.push_back(v);
            in_batches(alias_, live, [&](std::vector<Value> batch) {
                auto q = on_alias(with_filter(*make_query(*src), Q("pk__in", Operand(std::move(batch))), false), alias_);
                run_update(*q, *fk, Value());
            });
        }
        std::int64_t first = 0;
        for (std::size_t i = deletions_.size(); i-- > 0;) {
            const auto& [m, keys] = deletions_[i];
            std::int64_t n = 0;
            in_batches(alias_, keys, [&](std::vector<Value> batch) {
                n += run_delete(*on_alias(with_filter(*make_query(*m), Q("pk__in", Operand(std::move(batch))), false), alias_));
            });
            if (i == 0) first = n;
        }
        return first;
    }

private:
    struct Blocker {
        const ModelInfo* model;   // the referencing row's model
        const FieldInfo* fk;
        const ModelInfo* target;  // the model being deleted
        Value key;
    };
    struct SetNull {
        const ModelInfo* model;
        const FieldInfo* fk;
        std::vector<Value> rows;
    };

    template <class E>
    [[noreturn]] void throw_blocked(const std::vector<Blocker>& list, std::string_view how) {
        std::vector<std::string> objects, fields;
        for (const auto& b : list) {
            if (objects.size() < 20) objects.push_back(b.model->describe_object(b.key));
            std::string f = fmt::format("'{}.{}'", b.model->type_name(), b.fk->name);
            if (std::find(fields.begin(), fields.end(), f) == fields.end()) fields.push_back(f);
        }
        std::vector<std::string> shown(objects.begin(), objects.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(objects.size(), 5)));
        throw E(fmt::format("Cannot delete some instances of model '{}' because they are referenced through {} "
                            "foreign keys: {}. Referencing rows ({} in all): {}{}. Nothing was deleted.",
                            list.front().target->type_name(), how, fmt::join(fields, ", "), list.size(),
                            fmt::join(shown, ", "), list.size() > shown.size() ? ", ..." : ""),
                objects);
    }

    std::string alias_;
    std::map<const ModelInfo*, KeySet> seen_;
    std::vector<std::pair<const ModelInfo*, std::vector<Value>>> deletions_;
    std::vector<Blocker> protected_, restricted_;
    std::vector<SetNull> set_null_;
};

}  // namespace

bool has_dependents(const ModelInfo& m) {
    ensure_relations();
    for (const auto& r : m.reverse_relations())
        if (r->on_delete != OnDelete::do_nothing && r->kind != RelationKind::reverse_many_to_many) return true;
    return false;
}

std::int64_t delete_with_collector(const ModelInfo& m, std::vector<Value> keys, std::string_view alias) {
    std::vector<Value> normalized;
    normalized.reserve(keys.size());
    for (auto& k : keys)
        if (!k.is_null()) normalized.push_back(m.normalize(m.pk(), k));
    if (normalized.empty()) return 0;
    return atomic(alias, [&] {
        Collector c(alias);
        c.collect(m, std::move(normalized));
        c.check();
        return c.run();
    });
}

}  // namespace orm::detail
