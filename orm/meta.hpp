// orm::Meta<T>: what a model's static describe() function uses to declare its table, fields
// and options; and orm::model_info<T>(), which builds the ModelInfo once (thread-safe).
//
//     static void describe(orm::Meta<Book>& m) {
//         m.table("book");
//         m.field(&Book::id, "id").primary_key();        // integer keys auto-increment
//         m.field(&Book::title, "title").max_length(200).index();
//         m.field(&Book::price, "price").default_value(0.0);
//         m.ordering({"-price"});
//     }
#pragma once

#include <string>
#include <typeinfo>
#include <vector>

#include "orm/errors.hpp"
#include "orm/field_traits.hpp"
#include "orm/model_info.hpp"
#include "orm/relations.hpp"

namespace orm {

template <class T>
const ModelInfo& model_info();
template <class T>
struct Model;

namespace detail {

// FieldBuilder's foreign-key options on another field: orm::InterfaceError (meta.cpp, which keeps
// fmt's formatting out of this header).
[[noreturn]] void throw_not_a_relation(const ModelInfo& m, std::string_view option, const FieldInfo& f);

// The db::PlainKind of a member type (none: read through load_column).
template <class M>
constexpr db::PlainKind plain_kind_of() {
    using db::PlainKind;
    if constexpr (std::is_same_v<M, bool>) return PlainKind::boolean;
    else if constexpr (std::is_same_v<M, std::int32_t>) return PlainKind::int32;
    else if constexpr (std::is_same_v<M, std::int64_t>) return PlainKind::int64;
    else if constexpr (std::is_same_v<M, double>) return PlainKind::float64;
    else if constexpr (std::is_same_v<M, std::string>) return PlainKind::text;
    else if constexpr (std::is_same_v<M, std::optional<bool>>) return PlainKind::opt_boolean;
    else if constexpr (std::is_same_v<M, std::optional<std::int32_t>>) return PlainKind::opt_int32;
    else if constexpr (std::is_same_v<M, std::optional<std::int64_t>>) return PlainKind::opt_int64;
    else if constexpr (std::is_same_v<M, std::optional<double>>) return PlainKind::opt_float64;
    else if constexpr (std::is_same_v<M, std::optional<std::string>>) return PlainKind::opt_text;
    else return PlainKind::none;
}

// Where `member` (inside `obj`) starts, in bytes from the start of `obj`.
inline std::size_t member_offset(const void* obj, const void* member) noexcept {
    return static_cast<std::size_t>(static_cast<const char*>(member) - static_cast<const char*>(obj));
}

template <class T, class M>
class MemberAccess final : public FieldAccess {
public:
    explicit MemberAccess(M T::*member) : member_(member) {}
    Value get(const void* obj) const override { return to_value(static_cast<const T*>(obj)->*member_); }
    void set(void* obj, const Value& v) const override { static_cast<T*>(obj)->*member_ = from_value<M>(v); }
    void load(void* obj, const db::Row& row, std::size_t i) const override {
        static_cast<T*>(obj)->*member_ = load_column<M>(row, i);
    }
    bool is_member(const std::type_info& member_type, const void* member) const override {
        return member_type == typeid(M T::*) && *static_cast<M T::* const*>(member) == member_;
    }
    db::PlainKind plain_kind() const noexcept override { return plain_kind_of<M>(); }
    std::size_t offset_in(const void* obj) const noexcept override {
        return member_offset(obj, &(static_cast<const T*>(obj)->*member_));
    }

private:
    M T::*member_;
};

// The private state of relation members, for the accessors below.
struct RelationAccess {
    template <class R, class K>
    static std::optional<K>& key(ForeignKey<R, K>& fk) noexcept { return fk.key_; }
    template <class R, class K>
    static std::shared_ptr<R>& cache(const ForeignKey<R, K>& fk) noexcept { return fk.cache_; }
    template <class R, class K>
    static const std::string*& alias(ForeignKey<R, K>& fk) noexcept { return fk.alias_; }
    template <class R>
    static SetBinding& binding(RelatedSetImpl<R>& s) noexcept { return s.b_; }
    template <class T>
    static const std::string*& db(Model<T>& m) noexcept { return m.db_; }
    template <class T>
    static std::uint64_t& deferred(Model<T>& m) noexcept { return m.deferred_; }
    template <class R>
    static std::shared_ptr<std::vector<R>>& prefetched(RelatedSetImpl<R>& s) noexcept { return s.prefetched_; }
    template <class R>
    static SetBinding& binding(RelatedOne<R>& o) noexcept { return o.b_; }
    template <class R>
    static std::shared_ptr<R>& cache(const RelatedOne<R>& o) noexcept { return o.cache_; }
    template <class R>
    static bool& loaded(const RelatedOne<R>& o) noexcept { return o.loaded_; }
};

// A ForeignKey<R, K> member (FK is ForeignKey or OneToOne).
template <class T, class FK>
class ForeignKeyAccess final : public FieldAccess {
    using R = typename FK::target_type;
    using K = typename FK::key_type;

public:
    explicit ForeignKeyAccess(FK T::*member) : member_(member) {}
    Value get(const void* obj) const override {
        const auto& key = (static_cast<const T*>(obj)->*member_).id();
        return key ? to_value(*key) : Value();
    }
    void set(void* obj, const Value& v) const override {
        FK& fk = static_cast<T*>(obj)->*member_;
        auto& key = RelationAccess::key(fk);
        std::optional<K> next;
        if (!v.is_null()) next = from_value<K>(v);
        if (next != key) RelationAccess::cache(fk).reset();
        key = std::move(next);
    }
    void load(void* obj, const db::Row& row, std::size_t i) const override {
        FK& fk = static_cast<T*>(obj)->*member_;
        RelationAccess::key(fk) = load_column<std::optional<K>>(row, i);
        RelationAccess::cache(fk).reset();
    }
    // The key loads as a plain std::optional<K>; the object cached for the old key is dropped after.
    db::PlainKind plain_kind() const noexcept override { return plain_kind_of<std::optional<K>>(); }
    std::size_t offset_in(const void* obj) const noexcept override {
        return member_offset(obj, &RelationAccess::key(const_cast<FK&>(static_cast<const T*>(obj)->*member_)));
    }
    bool has_after_plain_load() const noexcept override { return true; }
    void after_plain_load(void* obj) const override { RelationAccess::cache(static_cast<T*>(obj)->*member_).reset(); }
    std::ptrdiff_t alias_offset_in(const void* obj) const noexcept override {
        static_assert(std::is_same_v<std::remove_reference_t<decltype(RelationAccess::alias(std::declval<FK&>()))>,
                                     const std::string*>);
        return static_cast<std::ptrdiff_t>(
            member_offset(obj, &RelationAccess::alias(const_cast<FK&>(static_cast<const T*>(obj)->*member_))));
    }
    bool is_member(const std::type_info& member_type, const void* member) const override {
        return member_type == typeid(FK T::*) && *static_cast<FK T::* const*>(member) == member_;
    }
    void bind(void* obj, const Value&, const std::string* alias, const SetMember*) const override {
        RelationAccess::alias(static_cast<T*>(obj)->*member_) = alias;
    }
    void* related_object(const void* obj) const override {
        return RelationAccess::cache(static_cast<const T*>(obj)->*member_).get();
    }
    void set_related_object(void* obj, std::shared_ptr<void> target) const override {
        RelationAccess::cache(static_cast<T*>(obj)->*member_) = std::static_pointer_cast<R>(std::move(target));
    }

private:
    FK T::*member_;
};

// A ManyToMany<R> or RelatedSet<R> member (S); not a column.
template <class T, class S, class R>
class SetAccess final : public FieldAccess {
public:
    explicit SetAccess(S T::*member) : member_(member) {}
    Value get(const void*) const override { return Value(); }
    void set(void*, const Value&) const override {}
    void load(void*, const db::Row&, std::size_t) const override {}
    bool is_member(const std::type_info& member_type, const void* member) const override {
        return member_type == typeid(S T::*) && *static_cast<S T::* const*>(member) == member_;
    }
    void bind(void* obj, const Value& owner_pk, const std::string* alias, const SetMember* m) const override {
        auto& set = static_cast<T*>(obj)->*member_;
        SetBinding& b = RelationAccess::binding(set);
        // Another owner, relation or database: what was prefetched is not this owner's.
        if (!(b.owner_pk == owner_pk) || b.relation != m->relation || b.alias != alias)
            RelationAccess::prefetched(set).reset();
        b.relation = m->relation;
        b.owner_pk = owner_pk;
        b.alias = alias;
    }
    void forget_related(void* obj) const override { RelationAccess::prefetched(static_cast<T*>(obj)->*member_).reset(); }
    void set_prefetched(void* obj, std::shared_ptr<void> rows) const override {
        RelationAccess::prefetched(static_cast<T*>(obj)->*member_) =
            std::static_pointer_cast<std::vector<R>>(std::move(rows));
    }

private:
    S T::*member_;
};

// A RelatedOne<R> member; not a column. select_related and prefetch_related fill its cache.
template <class T, class R>
class RelatedOneAccess final : public FieldAccess {
public:
    explicit RelatedOneAccess(RelatedOne<R> T::*member) : member_(member) {}
    Value get(const void*) const override { return Value(); }
    void set(void*, const Value&) const override {}
    void load(void*, const db::Row&, std::size_t) const override {}
    bool is_member(const std::type_info& member_type, const void* member) const override {
        return member_type == typeid(RelatedOne<R> T::*) && *static_cast<RelatedOne<R> T::* const*>(member) == member_;
    }
    void bind(void* obj, const Value& owner_pk, const std::string* alias, const SetMember* m) const override {
        auto& one = static_cast<T*>(obj)->*member_;
        SetBinding& b = RelationAccess::binding(one);
        if (!(b.owner_pk == owner_pk) || b.relation != m->relation || b.alias != alias) one.reset();
        b.relation = m->relation;
        b.owner_pk = owner_pk;
        b.alias = alias;
    }
    void* related_object(const void* obj) const override {
        return RelationAccess::cache(static_cast<const T*>(obj)->*member_).get();
    }
    void set_related_object(void* obj, std::shared_ptr<void> target) const override {
        const auto& one = static_cast<T*>(obj)->*member_;
        RelationAccess::cache(one) = std::static_pointer_cast<R>(std::move(target));
        RelationAccess::loaded(one) = true;
    }
    void set_no_related_object(void* obj) const override {
        const auto& one = static_cast<T*>(obj)->*member_;
        RelationAccess::cache(one).reset();
        RelationAccess::loaded(one) = true;
    }
    void forget_related(void* obj) const override { (static_cast<T*>(obj)->*member_).reset(); }

private:
    RelatedOne<R> T::*member_;
};

template <class T>
ObjectOps object_ops() {
    ObjectOps ops;
    ops.make_shared = []() -> std::shared_ptr<void> { return std::make_shared<T>(); };
    ops.new_vector = []() -> std::shared_ptr<void> { return std::make_shared<std::vector<T>>(); };
    ops.emplace_back = [](void* v) -> void* { return &static_cast<std::vector<T>*>(v)->emplace_back(); };
    ops.push_copy = [](void* v, const void* obj) { static_cast<std::vector<T>*>(v)->push_back(*static_cast<const T*>(obj)); };
    ops.size = [](const void* v) { return static_cast<const std::vector<T>*>(v)->size(); };
    ops.at = [](void* v, std::size_t i) -> void* { return &(*static_cast<std::vector<T>*>(v))[i]; };
    if constexpr (std::is_base_of_v<Model<T>, T>) {
        ops.set_db = [](void* obj, const std::string* alias) {
            RelationAccess::db(*static_cast<Model<T>*>(static_cast<T*>(obj))) = alias;
        };
        ops.get_db = [](const void* obj) -> const std::string* {
            return RelationAccess::db(*static_cast<Model<T>*>(const_cast<T*>(static_cast<const T*>(obj))));
        };
        ops.get_deferred = [](const void* obj) -> std::uint64_t {
            return RelationAccess::deferred(*static_cast<Model<T>*>(const_cast<T*>(static_cast<const T*>(obj))));
        };
        ops.set_deferred = [](void* obj, std::uint64_t mask) {
            RelationAccess::deferred(*static_cast<Model<T>*>(static_cast<T*>(obj))) = mask;
        };
    }
    return ops;
}

template <class M>
struct is_foreign_key : std::false_type {};
template <class R, class K>
struct is_foreign_key<ForeignKey<R, K>> : std::true_type {};
template <class R, class K>
struct is_foreign_key<OneToOne<R, K>> : std::true_type {};

}  // namespace detail

// Options of one field; each returns *this so they chain.
class FieldBuilder {
public:
    FieldBuilder(ModelInfo& info, std::size_t index) : info_(&info), index_(index) {}
    // The primary key. An integer primary key is assigned by the database unless
    // auto_increment(false) follows.
    FieldBuilder& primary_key() {
        auto& f = get();
        f.primary_key = true;
        f.auto_increment = f.is_integer();
        return *this;
    }
    FieldBuilder& auto_increment(bool on = true) {
        get().auto_increment = on;
        return *this;
    }
    FieldBuilder& unique(bool on = true) {
        get().unique = on;
        return *this;
    }
    FieldBuilder& index(bool on = true) {
        get().indexed = on;
        return *this;
    }
    // A DEFAULT in the table's DDL, and the value get_or_create / create(values) start from.
    FieldBuilder& default_value(Value v) {
        get().default_value = std::move(v);
        return *this;
    }
    // The database column name, when it differs from the field name.
    FieldBuilder& column(std::string name) {
        get().column = std::move(name);
        return *this;
    }
    // Strings only: the column becomes varchar(n), and longer values are rejected before SQL.
    FieldBuilder& max_length(std::size_t n) {
        get().max_length = n;
        return *this;
    }

    // Foreign keys only. NULL allowed (an empty ForeignKey saves as NULL).
    FieldBuilder& null(bool on = true) {
        get().nullable = on;
        return *this;
    }
    // Foreign keys only: what deleting the referenced row does (default: cascade). Enforced by
    // the ORM's deletion collector and by the database's constraint.
    FieldBuilder& on_delete(OnDelete d) {
        rel("on_delete").on_delete = d;
        return *this;
    }
    // Foreign keys only: the name of the reverse relation on the target, for lookups from it
    // ("books__title") and its RelatedSet (or, for a one-to-one, RelatedOne) member (default: this
    // model's name in lower case).
    FieldBuilder& related_name(std::string name) {
        rel("related_name").related_name = std::move(name);
        return *this;
    }

private:
    FieldInfo& get() { return info_->field_at(index_); }
    Relation& rel(std::string_view option) {
        auto& f = get();
        if (!f.relation) detail::throw_not_a_relation(*info_, option, f);
        return *info_->mutable_relation(f.relation);
    }
    ModelInfo* info_;
    std::size_t index_;
};

// Options of a many-to-many member.
class ManyToManyBuilder {
public:
    explicit ManyToManyBuilder(Relation& r) : r_(&r) {}
    // The name of the reverse relation on the target (default: this model's name in lower case).
    ManyToManyBuilder& related_name(std::string name) {
        r_->related_name = std::move(name);
        return *this;
    }
    // An explicit join model M with foreign keys `from` (to this model) and `to` (to the
    // target), instead of the automatic join table; M may carry more fields.
    template <class M>
    ManyToManyBuilder& through(std::string from, std::string to) {
        r_->through_fn = &model_info<M>;
        r_->through_from_name = std::move(from);
        r_->through_to_name = std::move(to);
        return *this;
    }

private:
    Relation* r_;
};


template <class T>
class Meta {
public:
    explicit Meta(ModelInfo& info) : info_(info) {}

    // The table name (default: the type name in lower case).
    Meta& table(std::string name) {
        info_.set_table(std::move(name));
        return *this;
    }

    // Declares a foreign key (or one-to-one): its column is the name plus "_id" unless
    // .column() says otherwise; options: null(), on_delete(), related_name().
    template <class M>
        requires detail::is_foreign_key<M>::value
    FieldBuilder field(M T::*member, std::string name) {
        using R = typename M::target_type;
        using K = typename M::key_type;
        static_assert(detail::is_scalar_field_v<K>, "orm::ForeignKey<T, K>: K must be the type of T's primary key");
        auto rel = detail::make_own<Relation>();
        rel->name = name;
        rel->kind = std::is_same_v<M, OneToOne<R, K>> ? RelationKind::one_to_one : RelationKind::foreign_key;
        rel->target_fn = &model_info<R>;
        Relation& r = info_.add_relation(std::move(rel));
        auto& f = info_.add_field(std::move(name), detail::column_type_of<K>(), false,
                                  detail::make_own<detail::ForeignKeyAccess<T, M>>(member));
        f.relation = &r;
        if (r.kind == RelationKind::one_to_one) f.unique = true;
        return FieldBuilder(info_, f.index);
    }

    // Declares a many-to-many relation to R (an automatic join table unless .through<M>()).
    template <class R>
    ManyToManyBuilder field(ManyToMany<R> T::*member, std::string name) {
        auto rel = detail::make_own<Relation>();
        rel->name = name;
        rel->kind = RelationKind::many_to_many;
        rel->target_fn = &model_info<R>;
        Relation& r = info_.add_relation(std::move(rel));
        info_.add_set_member(std::move(name), detail::make_own<detail::SetAccess<T, ManyToMany<R>, R>>(member),
                             &model_info<R>, true);
        return ManyToManyBuilder(r);
    }

    // Declares the member that holds the reverse side of a relation R declares towards this
    // model; `name` is that relation's related_name (default: R's name in lower case).
    template <class R>
    Meta& field(RelatedSet<R> T::*member, std::string name) {
        info_.add_set_member(std::move(name), detail::make_own<detail::SetAccess<T, RelatedSet<R>, R>>(member),
                             &model_info<R>, false);
        return *this;
    }

    // Declares the member that holds the reverse side of a one-to-one R declares towards this
    // model (one object, or none); `name` is that one-to-one's related_name (default: R's name in
    // lower case). A name that is not such a relation (a plain foreign key's reverse, say) makes
    // this model's objects refused with orm::InterfaceError saying what is valid.
    template <class R>
    Meta& field(RelatedOne<R> T::*member, std::string name) {
        info_.add_set_member(std::move(name), detail::make_own<detail::RelatedOneAccess<T, R>>(member),
                             &model_info<R>, false, true);
        return *this;
    }

    // Declares a field: a member and the name lookups use for it (also its column by default).
    template <class M>
        requires(!detail::is_foreign_key<M>::value)
    FieldBuilder field(M T::*member, std::string name) {
        static_assert(detail::is_field_type_v<M>,
                      "orm::Meta::field: unsupported member type; use bool, a signed integer, double, std::string, "
                      "orm::Bytes, orm::Date, a std::chrono::sys_time (e.g. system_clock::time_point or "
                      "orm::Timestamp), or std::optional of one of these");
        using S = typename detail::field_traits<M>::scalar;
        auto& f = info_.add_field(std::move(name), detail::column_type_of<S>(), detail::field_traits<M>::nullable,
                                  detail::make_own<detail::MemberAccess<T, M>>(member));
        return FieldBuilder(info_, f.index);
    }

    // An index over several fields (single fields use FieldBuilder::index / unique).
    Meta& index(std::vector<std::string> field_names, bool unique = false, std::string name = {}) {
        info_.add_index(std::move(field_names), unique, std::move(name));
        return *this;
    }
    Meta& unique_together(std::vector<std::string> field_names) { return index(std::move(field_names), true); }

    // The ordering of querysets that call no order_by(): field names, "-" for descending.
    Meta& ordering(std::vector<std::string> names) {
        info_.set_ordering(std::move(names));
        return *this;
    }

private:
    ModelInfo& info_;
};

namespace detail {

template <class T>
const ModelInfo* build_model_info() {
    auto info = make_own<ModelInfo>(demangle(typeid(T).name()));
    Meta<T> meta(*info);
    T::describe(meta);
    info->set_error_thunks([](const std::string& m) { throw typename T::DoesNotExist(m); },
                           [](const std::string& m) { throw typename T::MultipleObjectsReturned(m); });
    info->set_ops(object_ops<T>());
    info->finalize();
    register_model(&model_info<T>);
    return info.release();  // lives as long as the program (relations point into it)
}

}  // namespace detail

// The model's metadata, built on first use (thread-safe; a failing describe() throws
// orm::InterfaceError here and is retried on the next call).
template <class T>
const ModelInfo& model_info() {
    static const ModelInfo* const info = detail::build_model_info<T>();
    return *info;
}

// The name of the field a member pointer was declared as.
template <class T, class M>
const FieldInfo& field_of(M T::*member) {
    return model_info<T>().field_of_member(typeid(M T::*), &member);
}

}  // namespace orm
