// Relation members of a model: ForeignKey / OneToOne (a column holding the related row's key),
// ManyToMany (through a join table), RelatedSet (the reverse side: an author's books) and
// RelatedOne (the reverse side of a one-to-one: a place's restaurant).
//
//     struct Book : orm::Model<Book> {
//         std::int64_t id = 0;
//         std::string title;
//         orm::ForeignKey<Author> author;     // column author_id; book.author->name loads lazily
//         orm::ManyToMany<Tag> tags;          // book.tags.add(t), book.tags.all()
//         static void describe(orm::Meta<Book>& m) {
//             m.field(&Book::author, "author").on_delete(orm::OnDelete::cascade).related_name("books");
//             m.field(&Book::tags, "tags");
//         }
//     };
//     struct Author : orm::Model<Author> {
//         ...
//         orm::RelatedSet<Book> books;        // optional: author.books.all(), .add(), .count()
//         static void describe(orm::Meta<Author>& m) { ...; m.field(&Author::books, "books"); }
//     };
//
// Lazy loading works the same in both modes: the first access to book.author (or to
// place.restaurant) runs one query on the calling fiber (async) or thread (sync) and caches the
// object. Copies of a model share the cached related object.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/value.hpp"
#include "orm/model_info.hpp"
#include "orm/query_decl.hpp"

namespace orm {

template <class T>
class QuerySet;

namespace detail {

template <class T>
T get_by_pk(const Value& pk, std::string_view alias);  // queryset.hpp
struct RelationAccess;                                 // meta.hpp: the accessors read private state

// ForeignKey::get() on an empty key: throws T::DoesNotExist-like ObjectDoesNotExist.
[[noreturn]] void throw_null_relation(const ModelInfo& target);
// ForeignKey(obj) for an object whose primary key is unset: orm::ValidationError (meta.cpp).
[[noreturn]] void throw_unsaved_target(const ModelInfo& target);
const std::string& alias_or_default(const std::string* alias) noexcept;

// What a set member knows once bound: the relation, the owner's key and its database.
struct SetBinding {
    const Relation* relation = nullptr;
    Value owner_pk;
    const std::string* alias = nullptr;
};

// The compiled operations behind ManyToMany<T> and RelatedSet<T> (relations.cpp).
// The rows of the relation's target that belong to the owner.
QueryPtr related_query(const SetBinding& b, std::string_view what);
void related_add(const SetBinding& b, std::span<const Value> keys);
void related_remove(const SetBinding& b, std::span<const Value> keys);
void related_clear(const SetBinding& b);
void related_set(const SetBinding& b, std::span<const Value> keys);
// RelatedSet / ManyToMany / RelatedOne: b when its owner is bound, else orm::InterfaceError
// "<what><member_before><target><member_after>: its owner is not saved ...".
[[noreturn]] void throw_unbound_member(std::string_view what, std::string_view member_before, const ModelInfo& target,
                                       std::string_view member_after);
inline const SetBinding& checked_binding(const SetBinding& b, std::string_view what, std::string_view member_before,
                                         const ModelInfo& target, std::string_view member_after) {
    if (!b.relation || b.owner_pk.is_null()) throw_unbound_member(what, member_before, target, member_after);
    return b;
}
// RelatedOne<T>: the row of T whose one-to-one key is the owner's, read on the owner's database
// (a std::shared_ptr<T>, null when no row points at the owner).
std::shared_ptr<void> related_one_fetch(const SetBinding& b);
// RelatedOne<T>::get() when no row points at the owner: throws T::DoesNotExist.
[[noreturn]] void throw_no_related_one(const SetBinding& b);
// Before create(): sets the new object's foreign key to the owner (reverse foreign keys).
void related_prepare_create(const SetBinding& b, void* obj);
// After create(): links the saved object (many-to-many).
void related_after_create(const SetBinding& b, const Value& key);
// add() / set() (`what`) of an object from database `db` (empty: not been to one): the routers
// must allow the relation, else orm::RouterError naming both models, both databases, the relation
// and `what`.
void related_check_db(const SetBinding& b, std::string_view db, std::string_view what);

}  // namespace detail

// A reference to one row of T: the key is stored in this model's column (the field name plus
// "_id" by default), the object loads on first access and stays cached. K is the type of T's
// primary key. Assign a key (`book.author = 7`), an object (`book.author = ann`), or nothing.
template <class T, class K = std::int64_t>
class ForeignKey {
public:
    using target_type = T;
    using key_type = K;

    ForeignKey() = default;
    ForeignKey(std::nullopt_t) {}
    ForeignKey(K key) : key_(key) {}
    // Refers to obj (saved: its key is used) and caches a copy of it.
    ForeignKey(const T& obj);
    ForeignKey& operator=(const T& obj) { return *this = ForeignKey(obj); }

    // The referenced key (no query); nullopt when NULL.
    const std::optional<K>& id() const noexcept { return key_; }
    // The key as a Value (NULL when empty): lets a ForeignKey stand where a model's pk() goes.
    Value pk() const;
    bool has_value() const noexcept { return key_.has_value(); }
    explicit operator bool() const noexcept { return key_.has_value(); }
    // Whether the object is loaded (no query will run on access).
    bool is_loaded() const noexcept { return cache_ != nullptr; }

    // The referenced object, loaded on first access (one query by primary key on the database
    // the owner came from). Throws T::DoesNotExist when the key is NULL or its row is gone.
    T& get() const;
    T* operator->() const { return &get(); }
    T& operator*() const { return get(); }
    // The object if the key is set, else nullptr (loads like get()).
    T* get_or_null() const { return key_ ? &get() : nullptr; }

    void reset() noexcept {
        key_.reset();
        cache_.reset();
    }

    friend bool operator==(const ForeignKey& a, const ForeignKey& b) noexcept { return a.key_ == b.key_; }
    friend bool operator==(const ForeignKey& a, const K& k) noexcept { return a.key_ == k; }

private:
    friend struct detail::RelationAccess;
    std::optional<K> key_;
    mutable std::shared_ptr<T> cache_;
    const std::string* alias_ = nullptr;
};

// A one-to-one relation: a foreign key whose column is unique (the reverse side is one object,
// held by a RelatedOne member on the target).
template <class T, class K = std::int64_t>
class OneToOne : public ForeignKey<T, K> {
public:
    using ForeignKey<T, K>::ForeignKey;
    using ForeignKey<T, K>::operator=;
};

// The reverse side of a OneToOne that points at this model: the one row of T (or none) whose
// one-to-one key is this object's. Declare it with m.field(&Place::restaurant, "restaurant"),
// where "restaurant" is the one-to-one's related_name (by default T's name in lower case).
//
//     place.restaurant->name;                 // one SELECT on first access, then cached
//     if (Restaurant* r = place.restaurant.get_or_null()) ...
//
// The object loads on first access from the database the owner came from (in async mode the
// calling fiber waits for it), or comes with the owner through select_related("restaurant")
// (a LEFT JOIN) or prefetch_related("restaurant"). "No row" is cached too. The owner must be
// saved (or loaded): orm::InterfaceError otherwise. The cache is not refreshed by later writes:
// reset() forgets it, and so does the owner's refresh_from_db() (or a save to another database).
template <class T>
class RelatedOne {
public:
    using target_type = T;

    // The related object; throws T::DoesNotExist when no row points at the owner.
    T& get() const;
    T* operator->() const { return &get(); }
    T& operator*() const { return get(); }
    // The related object, or nullptr when no row points at the owner (loads like get()).
    T* get_or_null() const;
    // Whether a row points at the owner (loads it like get_or_null()).
    bool exists() const { return get_or_null() != nullptr; }
    // Whether the answer is cached (an object or "none"): no query will run on access.
    bool is_loaded() const noexcept { return loaded_; }
    // Forgets the cached answer; the next access queries again.
    void reset() noexcept {
        cache_.reset();
        loaded_ = false;
    }

private:
    friend struct detail::RelationAccess;
    detail::SetBinding b_;
    mutable std::shared_ptr<T> cache_;
    mutable bool loaded_ = false;
};

namespace detail {

// The shared half of ManyToMany and RelatedSet.
template <class T>
class RelatedSetImpl {
public:
    // The related rows: a queryset (chain it further), or the prefetched rows when
    // prefetch_related() loaded them.
    QuerySet<T> all() const;
    QuerySet<T> filter(const Q& q) const;
    QuerySet<T> filter(std::string lookup, Operand v) const;
    QuerySet<T> exclude(const Q& q) const;
    QuerySet<T> exclude(std::string lookup, Operand v) const;
    std::int64_t count() const;
    bool exists() const;
    // Whether prefetch_related() filled this set (all() then runs no query).
    bool is_prefetched() const noexcept { return prefetched_ != nullptr; }

    // Links saved objects (many-to-many: join rows; reverse foreign key: sets their key).
    // Objects from another database need the routers' allow_relation (orm::RouterError before any SQL).
    void add(const T& obj) {
        check_dbs(std::span<const T>(&obj, 1), "add()");
        add_keys(std::span<const Value>(std::vector<Value>{obj.pk()}));
    }
    void add(const std::vector<T>& objs) {
        check_dbs(objs, "add()");
        add_keys(keys_of(objs));
    }
    void add(std::initializer_list<Value> keys) { add_keys(std::span<const Value>(keys.begin(), keys.size())); }
    // Unlinks them (many-to-many: deletes join rows; reverse foreign key: sets their key NULL,
    // so the key must be nullable).
    void remove(const T& obj) { remove_keys(std::span<const Value>(std::vector<Value>{obj.pk()})); }
    void remove(const std::vector<T>& objs) { remove_keys(keys_of(objs)); }
    void remove(std::initializer_list<Value> keys) { remove_keys(std::span<const Value>(keys.begin(), keys.size())); }
    // Unlinks every related row.
    void clear() {
        related_clear(binding("clear()"));
        prefetched_.reset();
    }
    // Makes the related rows exactly these (adds the missing, removes the others); checked as add().
    void set(const std::vector<T>& objs) {
        check_dbs(objs, "set()");
        set_keys(keys_of(objs));
    }
    void set(std::initializer_list<Value> keys) { set_keys(std::span<const Value>(keys.begin(), keys.size())); }
    // Inserts obj already related to the owner and returns it saved.
    T create(T obj);

    // The owner's binding (set when the owner is loaded or saved).
    const SetBinding& binding_state() const noexcept { return b_; }

private:
    friend struct detail::RelationAccess;
    const SetBinding& binding(std::string_view what) const;
    void check_dbs(std::span<const T> objs, std::string_view what) const {
        const SetBinding& b = binding(what);
        for (const auto& o : objs) related_check_db(b, o.db(), what);
    }
    static std::vector<Value> keys_of(const std::vector<T>& objs) {
        std::vector<Value> keys;
        keys.reserve(objs.size());
        for (const auto& o : objs) keys.push_back(o.pk());
        return keys;
    }
    void add_keys(std::span<const Value> keys) {
        related_add(binding("add()"), keys);
        prefetched_.reset();
    }
    void remove_keys(std::span<const Value> keys) {
        related_remove(binding("remove()"), keys);
        prefetched_.reset();
    }
    void set_keys(std::span<const Value> keys) {
        related_set(binding("set()"), keys);
        prefetched_.reset();
    }

    SetBinding b_;
    std::shared_ptr<std::vector<T>> prefetched_;
};

}  // namespace detail

// The many-to-many side a model declares: rows of T linked through a join table (automatic,
// or a model given with .through<M>(from, to) in describe()).
template <class T>
class ManyToMany : public detail::RelatedSetImpl<T> {};

// The reverse side of a foreign key or many-to-many that points at this model (an author's
// books). Declare it with m.field(&Author::books, "books"), where "books" is the relation's
// related_name (by default the pointing model's name in lower case: "book").
template <class T>
class RelatedSet : public detail::RelatedSetImpl<T> {};

}  // namespace orm
