// The model registry and the relation linker: every model registers how to build its
// ModelInfo; ensure_relations() builds them all once and links each foreign key and
// many-to-many to its target (reverse relations, automatic join tables, RelatedSet members).
#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "orm/errors.hpp"
#include "orm/meta.hpp"
#include "orm/model_info.hpp"

namespace orm {

std::string_view to_string(OnDelete d) noexcept {
    switch (d) {
        case OnDelete::cascade: return "cascade";
        case OnDelete::set_null: return "set_null";
        case OnDelete::protect: return "protect";
        case OnDelete::restrict: return "restrict";
        case OnDelete::do_nothing: return "do_nothing";
    }
    return "cascade";
}

const ModelInfo& Relation::target() const { return target_model ? *target_model : target_fn(); }

namespace detail {

namespace {

// Two locks: registration (taken inside a model's first build, never while building one) and
// linking (held while building models), so a thread building a model never waits for the linker.
struct Registry {
    std::mutex register_mu;
    std::vector<const ModelInfo& (*)()> thunks;  // guarded by register_mu
    std::atomic<std::size_t> registered{0};
    std::recursive_mutex link_mu;
    std::vector<const ModelInfo*> linked;  // guarded by link_mu
    std::size_t linked_thunks = 0;         // guarded by link_mu
    std::atomic<std::size_t> done{0};      // thunks[0, done) are linked
};

Registry& registry() {
    static Registry* r = new Registry;  // never destroyed: models outlive static destruction
    return *r;
}

std::string lower_name(const ModelInfo& m) {
    std::string n = m.type_name();
    if (auto pos = n.rfind("::"); pos != std::string::npos) n = n.substr(pos + 2);
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return n;
}

[[noreturn]] void bad(const ModelInfo& m, const std::string& what) {
    throw InterfaceError(fmt::format("model {}: {}", m.type_name(), what));
}

// The automatic join table of a many-to-many: one row per link.
struct ThroughRow {
    std::int64_t id = 0;
    Value from;
    Value to;
};

class ThroughValueAccess final : public FieldAccess {
public:
    explicit ThroughValueAccess(Value ThroughRow::*m) : m_(m) {}
    Value get(const void* obj) const override { return static_cast<const ThroughRow*>(obj)->*m_; }
    void set(void* obj, const Value& v) const override { static_cast<ThroughRow*>(obj)->*m_ = v; }
    void load(void* obj, const db::Row& row, std::size_t i) const override {
        static_cast<ThroughRow*>(obj)->*m_ = row.value(i);
    }
    bool is_member(const std::type_info&, const void*) const override { return false; }

private:
    Value ThroughRow::*m_;
};

void check_name_free(const ModelInfo& target, const std::string& name, const Relation& forward) {
    if (target.find(name) || std::any_of(target.relations().begin(), target.relations().end(),
                                          [&](const auto& r) { return r->name == name; }) ||
        std::any_of(target.reverse_relations().begin(), target.reverse_relations().end(),
                    [&](const auto& r) { return !r->hidden && r->name == name; }))
        bad(*forward.owner, fmt::format("the reverse relation '{}' of '{}' clashes with a field or relation of {} "
                                        "named '{}'; give it another related_name()",
                                        name, forward.name, target.type_name(), name));
}

void link_foreign_key(const ModelInfo& owner, Relation& r, bool hidden_reverse) {
    const ModelInfo& target = r.target();
    r.target_model = &target;
    const FieldInfo& pk = target.pk();
    if (pk.type != r.fk->type && !(pk.is_text() && r.fk->is_text()))
        bad(owner, fmt::format("foreign key '{}' holds {} but the primary key '{}' of {} is {}; declare the "
                               "ForeignKey with the key type of {}",
                               r.name, db::to_string(r.fk->type), pk.name, target.type_name(), pk.type_name(),
                               target.type_name()));
    auto rev = make_own<Relation>();
    rev->kind = r.kind == RelationKind::one_to_one ? RelationKind::reverse_one_to_one : RelationKind::reverse_foreign_key;
    rev->name = hidden_reverse ? owner.table() + "+" : (r.related_name.empty() ? lower_name(owner) : r.related_name);
    rev->hidden = hidden_reverse;
    rev->owner = &target;
    rev->target_model = &owner;
    rev->fk = r.fk;
    rev->on_delete = r.on_delete;
    rev->forward = &r;
    if (!hidden_reverse) check_name_free(target, rev->name, r);
    r.reverse = rev.get();
    target.add_reverse(std::move(rev));
}

// The automatic join table <owner table>_<name>, with foreign keys to both sides.
const ModelInfo& make_auto_through(const ModelInfo& owner, const Relation& r, const ModelInfo& target) {
    auto t = make_own<ModelInfo>(owner.type_name() + "_" + r.name);
    t->set_table(owner.table() + "_" + r.name);
    t->add_field("id", db::ColumnType::int64, false,
                 make_own<MemberAccess<ThroughRow, std::int64_t>>(&ThroughRow::id));
    std::string from = lower_name(owner), to = lower_name(target);
    if (from == to) {
        from = "from_" + from;
        to = "to_" + to;
    }
    auto add_fk = [&](const std::string& name, Value ThroughRow::*m, const ModelInfo& side) {
        auto rel = make_own<Relation>();
        rel->name = name;
        rel->kind = RelationKind::foreign_key;
        rel->target_model = &side;
        rel->on_delete = OnDelete::cascade;
        Relation& rr = t->add_relation(std::move(rel));
        FieldInfo& f = t->add_field(name, side.pk().type, false, make_own<ThroughValueAccess>(m));
        f.relation = &rr;
        if (side.pk().type == db::ColumnType::varchar) f.max_length = side.pk().max_length;
    };
    add_fk(from, &ThroughRow::from, owner);
    add_fk(to, &ThroughRow::to, target);
    t->add_index({from, to}, true, "");
    t->set_ops(object_ops<ThroughRow>());
    t->finalize();
    return const_cast<ModelInfo&>(owner).add_owned_model(std::move(t));
}

const FieldInfo& through_fk(const ModelInfo& owner, const Relation& r, const ModelInfo& through,
                            const std::string& name, const ModelInfo& side) {
    const FieldInfo* f = through.find(name);
    if (!f || !f->relation)
        bad(owner, fmt::format("many-to-many '{}': the join model {} has no foreign key '{}'", r.name,
                               through.type_name(), name));
    if (&f->relation->target() != &side)
        bad(owner, fmt::format("many-to-many '{}': {}.{} points at {}, not {}", r.name, through.type_name(), name,
                               f->relation->target().type_name(), side.type_name()));
    return *f;
}

void link_many_to_many(const ModelInfo& owner, Relation& r) {
    const ModelInfo& target = r.target();
    r.target_model = &target;
    const ModelInfo* through = nullptr;
    if (r.through_fn) {
        through = &r.through_fn();
        r.through_from = &through_fk(owner, r, *through, r.through_from_name, owner);
        r.through_to = &through_fk(owner, r, *through, r.through_to_name, target);
    } else {
        through = &make_auto_through(owner, r, target);
        r.through_from = &through->fields()[1];
        r.through_to = &through->fields()[2];
    }
    r.through = through;
    auto rev = make_own<Relation>();
    rev->kind = RelationKind::reverse_many_to_many;
    rev->name = r.related_name.empty() ? lower_name(owner) : r.related_name;
    rev->owner = &target;
    rev->target_model = &owner;
    rev->through = through;
    rev->through_from = r.through_to;
    rev->through_to = r.through_from;
    rev->forward = &r;
    check_name_free(target, rev->name, r);
    r.reverse = rev.get();
    target.add_reverse(std::move(rev));
}

void link_model(const ModelInfo& m, bool hidden_reverses) {
    for (const auto& rp : m.relations()) {
        Relation& r = *m.mutable_relation(rp.get());
        if (r.kind == RelationKind::many_to_many) {
            link_many_to_many(m, r);
            for (const auto& owned : m.owned_models())
                if (owned.get() == r.through)
                    for (const auto& tr : owned->relations()) link_foreign_key(*owned, *owned->mutable_relation(tr.get()), true);
        } else {
            link_foreign_key(m, r, hidden_reverses);
        }
    }
}

// Links each RelatedSet / RelatedOne / ManyToMany member to its relation. A member that fits
// no relation stays unresolved rather than failing the whole registry: the model's own objects
// are refused (check_members(), throw_unresolved_member()) and the other models keep working.
const Relation* member_relation(const ModelInfo& m, const SetMember& sm) {
    if (sm.forward) {
        for (const auto& r : m.relations())
            if (r->name == sm.name && r->kind == RelationKind::many_to_many) return r.get();
        return nullptr;
    }
    const Relation* found = nullptr;
    for (const auto& r : m.reverse_relations())
        if (!r->hidden && r->name == sm.name) found = r.get();
    if (!found || &found->target() != &sm.target_fn()) return nullptr;
    if (sm.single && found->kind != RelationKind::reverse_one_to_one) return nullptr;
    return found;
}

void resolve_set_members(const ModelInfo& m) {
    for (const SetMember& sm : m.set_members())
        if (!sm.relation) const_cast<SetMember&>(sm).relation = member_relation(m, sm);
}

// "'profile' (from Profile)" for each visible reverse relation of m (only one-to-ones if asked).
std::string reverse_names(const ModelInfo& m, bool one_to_one_only) {
    std::vector<std::string> names;
    for (const auto& r : m.reverse_relations())
        if (!r->hidden && (!one_to_one_only || r->kind == RelationKind::reverse_one_to_one))
            names.push_back(fmt::format("'{}' (from {})", r->name, r->target().type_name()));
    return names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "));
}

std::string_view relation_kind_words(RelationKind k) {
    switch (k) {
        case RelationKind::reverse_foreign_key: return "foreign key";
        case RelationKind::reverse_many_to_many: return "many-to-many";
        case RelationKind::reverse_one_to_one: return "one-to-one";
        default: return "relation";
    }
}

}  // namespace

void register_model(const ModelInfo& (*info)()) noexcept {
    try {
        Registry& r = registry();
        std::lock_guard lock(r.register_mu);
        if (std::find(r.thunks.begin(), r.thunks.end(), info) != r.thunks.end()) return;
        r.thunks.push_back(info);
        r.registered.store(r.thunks.size(), std::memory_order_release);
    } catch (...) {
        // Out of memory at start-up: the model is registered when its info is built instead.
    }
}

void ensure_relations() {
    Registry& r = registry();
    if (r.done.load(std::memory_order_acquire) == r.registered.load(std::memory_order_acquire)) return;
    std::lock_guard lock(r.link_mu);
    while (true) {
        // Building a model may register more (its targets): take a fresh snapshot each round.
        std::vector<const ModelInfo& (*)()> snapshot;
        {
            std::lock_guard reg(r.register_mu);
            if (r.linked_thunks == r.thunks.size()) break;
            snapshot.assign(r.thunks.begin() + static_cast<std::ptrdiff_t>(r.linked_thunks), r.thunks.end());
        }
        for (auto thunk : snapshot) {
            ++r.linked_thunks;
            const ModelInfo* built = nullptr;
            try {
                built = &thunk();
            } catch (const Error&) {
                // A model whose describe() is wrong: it reports its own error wherever it is
                // used; the others keep working.
                continue;
            }
            const ModelInfo& m = *built;
            if (std::find(r.linked.begin(), r.linked.end(), &m) != r.linked.end()) continue;
            link_model(m, false);
            r.linked.push_back(&m);
        }
    }
    for (const ModelInfo* m : r.linked) resolve_set_members(*m);
    r.done.store(r.linked_thunks, std::memory_order_release);
}

std::vector<const ModelInfo*> registered_models() {
    ensure_relations();
    Registry& r = registry();
    std::lock_guard lock(r.link_mu);
    std::vector<const ModelInfo*> out = r.linked;
    for (const ModelInfo* m : r.linked)
        for (const auto& owned : m->owned_models()) out.push_back(owned.get());
    return out;
}

const std::string* intern_alias(std::string_view alias) {
    static std::mutex mu;
    static auto* names = new std::set<std::string, std::less<>>;
    std::lock_guard lock(mu);
    auto it = names->find(alias);
    if (it == names->end()) it = names->emplace(alias).first;
    return &*it;
}

const std::string& interned_default_alias() noexcept {
    static const std::string* name = intern_alias("default");
    return *name;
}

const std::string& alias_or_default(const std::string* alias) noexcept {
    return alias ? *alias : interned_default_alias();
}

void throw_unresolved_member(const ModelInfo& m, const SetMember& sm) {
    ensure_relations();
    const ModelInfo& held = sm.target_fn();
    const Relation* found = nullptr;
    for (const auto& r : m.reverse_relations())
        if (!r->hidden && r->name == sm.name) found = r.get();
    if (!sm.single) {
        if (!found)
            bad(m, fmt::format("related set '{}' matches no relation pointing at {}; relations pointing here: {}",
                               sm.name, m.type_name(), reverse_names(m, false)));
        bad(m, fmt::format("related set '{}' holds {} but the relation '{}' leads to {}", sm.name, held.type_name(),
                           sm.name, found->target().type_name()));
    }
    const std::string valid = fmt::format("one-to-one relations pointing at {}: {}", m.type_name(), reverse_names(m, true));
    if (!found)
        bad(m, fmt::format("the orm::RelatedOne<{}> member '{}' matches no relation pointing at {} (the name must be "
                           "the related_name of an orm::OneToOne of {}); {}",
                           held.type_name(), sm.name, m.type_name(), held.type_name(), valid));
    if (&found->target() != &held)
        bad(m, fmt::format("the orm::RelatedOne<{}> member '{}' holds {} but the relation '{}' leads to {}; {}",
                           held.type_name(), sm.name, held.type_name(), sm.name, found->target().type_name(), valid));
    const Relation& fwd = *found->forward;
    bad(m, fmt::format("the orm::RelatedOne<{}> member '{}' needs the reverse side of a one-to-one, but '{}' is the "
                       "reverse of the {} {}.{} (many rows per {}): declare the member as orm::RelatedSet<{}>{}; {}",
                       held.type_name(), sm.name, sm.name, relation_kind_words(found->kind),
                       fwd.owner->type_name(), fwd.name, m.type_name(), held.type_name(),
                       found->kind == RelationKind::reverse_foreign_key
                           ? fmt::format(", or make {}.{} an orm::OneToOne", fwd.owner->type_name(), fwd.name)
                           : std::string(),
                       valid));
}

void throw_null_relation(const ModelInfo& target) {
    target.throw_does_not_exist(fmt::format("the reference to {} is NULL (the foreign key holds no key)",
                                            target.type_name()));
}

}  // namespace detail
}  // namespace orm
