// ModelInfo: what the ORM knows about one model, built once from its describe() function and
// used by the compiled core (the query compiler, instances, schema) without templates. Fields
// reach their members through FieldAccess, a small type-erased accessor per field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "drivers/own_ptr.hpp"
#include "drivers/result.hpp"
#include "drivers/schema.hpp"
#include "drivers/value.hpp"

namespace orm {

struct SetMember;

namespace detail {

// Reads and writes one member of a model object given as void* (the model's own type).
class FieldAccess {
public:
    virtual ~FieldAccess() = default;
    virtual Value get(const void* obj) const = 0;
    // `v` is already normalized to the field's kind (or NULL for a nullable field).
    virtual void set(void* obj, const Value& v) const = 0;
    // Reads column `i` of the current row into the member.
    virtual void load(void* obj, const db::Row& row, std::size_t i) const = 0;
    // Whether this accessor is for the member pointer `member` (a `M T::*` of the given type).
    virtual bool is_member(const std::type_info& member_type, const void* member) const = 0;
    // A member that load() may fill through db::Cursor::read_plain: its kind (none: only through
    // load()), and its offset in `obj`, an object of the model.
    virtual db::PlainKind plain_kind() const noexcept { return db::PlainKind::none; }
    virtual std::size_t offset_in(const void* /*obj*/) const noexcept { return 0; }
    // Whether read_plain filling the member leaves more to do (after_plain_load): a ForeignKey's
    // key is plain, but the object it cached for the old key must go.
    virtual bool has_after_plain_load() const noexcept { return false; }
    virtual void after_plain_load(void* /*obj*/) const {}
    // A ForeignKey keeps the database its object came from in a `const std::string*` at this
    // offset in `obj` (bind() sets it); -1 for every other member.
    virtual std::ptrdiff_t alias_offset_in(const void* /*obj*/) const noexcept { return -1; }

    // Relation members (ForeignKey, ManyToMany, RelatedSet, RelatedOne); the defaults are for
    // plain fields. Records the database the object came from (lazy loads use it) and, for sets
    // and RelatedOne, the owner's primary key.
    virtual void bind(void* /*obj*/, const Value& /*owner_pk*/, const std::string* /*alias*/,
                      const SetMember* /*member*/) const {}
    // ForeignKey and RelatedOne: the cached related object (null when not loaded), and caching one.
    virtual void* related_object(const void* /*obj*/) const { return nullptr; }
    virtual void set_related_object(void* /*obj*/, std::shared_ptr<void> /*target*/) const {}
    // RelatedOne: caches "no row points here" (get_or_null() is then nullptr without a query).
    virtual void set_no_related_object(void* /*obj*/) const {}
    // Sets and RelatedOne: forgets what prefetch_related / select_related / a lazy load cached.
    virtual void forget_related(void* /*obj*/) const {}
    // Sets: the prefetched rows (a std::vector of the target type), replaced wholesale.
    virtual void set_prefetched(void* /*obj*/, std::shared_ptr<void> /*rows*/) const {}
};

// Type-erased construction of a model's objects (prefetch and select_related build related
// objects without knowing their type).
struct ObjectOps {
    std::shared_ptr<void> (*make_shared)() = nullptr;                 // a new T{}
    std::shared_ptr<void> (*new_vector)() = nullptr;                  // an empty std::vector<T>
    void* (*emplace_back)(void* vector) = nullptr;                    // &vector.emplace_back()
    void (*push_copy)(void* vector, const void* obj) = nullptr;       // vector.push_back(obj)
    std::size_t (*size)(const void* vector) = nullptr;                // vector.size()
    void* (*at)(void* vector, std::size_t i) = nullptr;               // &vector[i]
    // The database an object came from (models only; null for join-table rows).
    void (*set_db)(void* obj, const std::string* alias) = nullptr;
    const std::string* (*get_db)(const void* obj) = nullptr;
    // only() / defer(): the fields an object was loaded without (bit FieldInfo::index; models
    // only, null for join-table rows).
    std::uint64_t (*get_deferred)(const void* obj) = nullptr;
    void (*set_deferred)(void* obj, std::uint64_t mask) = nullptr;
};

}  // namespace detail

class ModelInfo;
struct FieldInfo;

// What happens to rows that reference a deleted row (Django's on_delete).
enum class OnDelete : std::uint8_t {
    cascade,     // delete them too
    set_null,    // set the reference to NULL (the field must be nullable)
    protect,     // refuse: orm::ProtectedError names them, nothing is deleted
    restrict,    // refuse unless they are deleted through another cascade (orm::RestrictedError)
    do_nothing,  // leave them to the database's own constraint
};
std::string_view to_string(OnDelete d) noexcept;

enum class RelationKind : std::uint8_t {
    foreign_key,           // this model's column references the target's primary key
    one_to_one,            // a unique foreign key
    many_to_many,          // through a join table
    reverse_foreign_key,   // the target's foreign key references this model (many rows)
    reverse_one_to_one,    // the target's one-to-one references this model (one row)
    reverse_many_to_many,  // the other side of a many-to-many
};

// A relation of `owner`, as lookups cross it: "author" on Book, "books" on Author, "tags".
struct Relation {
    std::string name;
    RelationKind kind = RelationKind::foreign_key;
    const ModelInfo* owner = nullptr;
    const ModelInfo& (*target_fn)() = nullptr;  // forward relations (built lazily: models may refer to each other)
    const ModelInfo* target_model = nullptr;    // reverse relations (and forward ones once resolved)
    // foreign_key / one_to_one: the column field on owner; their reverses: that field (on target).
    const FieldInfo* fk = nullptr;
    // many_to_many (both sides): the join table and its foreign keys to owner and to target.
    const ModelInfo* through = nullptr;
    const FieldInfo* through_from = nullptr;
    const FieldInfo* through_to = nullptr;
    OnDelete on_delete = OnDelete::cascade;
    std::string related_name;             // forward: the reverse relation's name on the target
    const Relation* forward = nullptr;    // reverse: the relation it mirrors
    const Relation* reverse = nullptr;    // forward: its reverse (set by ensure_relations())
    // many_to_many with an explicit join model: it and the names of its two foreign keys.
    const ModelInfo& (*through_fn)() = nullptr;
    std::string through_from_name, through_to_name;
    bool hidden = false;                  // not offered as a lookup (a join table's back reference)

    const ModelInfo& target() const;
    bool is_reverse() const noexcept { return kind >= RelationKind::reverse_foreign_key; }
    bool multi_valued() const noexcept {
        return kind == RelationKind::many_to_many || kind == RelationKind::reverse_foreign_key ||
               kind == RelationKind::reverse_many_to_many;
    }
};

// A ManyToMany, RelatedSet or RelatedOne member of a model (not a column).
struct SetMember {
    std::string name;  // the relation it accesses
    detail::OwnPtr<const detail::FieldAccess> access;
    const ModelInfo& (*target_fn)() = nullptr;  // the member's element type
    bool forward = false;                        // a ManyToMany (declares the relation) or a reverse member
    bool single = false;                         // a RelatedOne: the reverse side of a one-to-one (one object)
    // Resolved by ensure_relations(); stays null when the declaration matches no suitable
    // relation (ModelInfo::check_members() then says why).
    const Relation* relation = nullptr;
};

struct FieldInfo {
    std::string name;    // as lookups spell it ("title")
    std::string column;  // the database column (name unless set with .column())
    db::ColumnType type = db::ColumnType::int64;
    bool nullable = false;
    bool primary_key = false;
    bool auto_increment = false;  // assigned by the database on insert (integer primary keys)
    bool unique = false;
    bool indexed = false;
    std::size_t max_length = 0;  // strings: > 0 makes the column varchar(n) and is validated
    std::optional<Value> default_value;
    std::size_t index = 0;  // position in ModelInfo::fields
    detail::OwnPtr<const detail::FieldAccess> access;
    // A foreign key / one-to-one field: its relation (the column holds the target's key).
    const Relation* relation = nullptr;

    bool is_text() const noexcept { return type == db::ColumnType::text || type == db::ColumnType::varchar; }
    bool is_integer() const noexcept { return type == db::ColumnType::int32 || type == db::ColumnType::int64; }
    bool is_numeric() const noexcept { return is_integer() || type == db::ColumnType::float64; }
    // "varchar(100)", "int64", ... for messages.
    std::string type_name() const;
};

class ModelInfo {
public:
    explicit ModelInfo(std::string type_name);
    ~ModelInfo();
    ModelInfo(ModelInfo&&) noexcept;
    ModelInfo& operator=(ModelInfo&&) noexcept;

    const std::string& type_name() const noexcept { return type_name_; }  // "Book"
    const std::string& table() const noexcept { return table_; }
    const std::vector<FieldInfo>& fields() const noexcept { return fields_; }
    const FieldInfo& pk() const noexcept { return fields_[pk_]; }
    // Default ordering (Meta::ordering), as written: "-price", "title".
    const std::vector<std::string>& ordering() const noexcept { return ordering_; }
    const std::vector<db::IndexSpec>& indexes() const noexcept { return indexes_; }

    // The field named `name` ("pk" names the primary key; a foreign key also answers to its
    // column name, "author_id"), or null.
    const FieldInfo* find(std::string_view name) const noexcept;
    // Relations: forward ones declared by this model, and reverse ones other models point here
    // (complete once detail::ensure_relations() ran).
    const std::vector<detail::OwnPtr<Relation>>& relations() const noexcept { return relations_; }
    const std::vector<detail::OwnPtr<Relation>>& reverse_relations() const noexcept { return reverse_; }
    // The relation named `name` (forward or reverse, hidden ones excluded), or null. Calls
    // ensure_relations() first.
    const Relation* find_relation(std::string_view name) const;
    const std::vector<SetMember>& set_members() const noexcept { return set_members_; }
    // The RelatedOne member holding relation r (a reverse one-to-one of this model), or null.
    const SetMember* one_member_for(const Relation& r) const noexcept;
    // Throws orm::InterfaceError when a RelatedSet / RelatedOne member matches no suitable
    // relation (named, with what would be valid). Objects of such a model are refused when they
    // are loaded or saved; the other models keep working.
    void check_members() const;
    const detail::ObjectOps& ops() const noexcept { return ops_; }
    // Whether bind() has anything to do (models record their database; relation members).
    bool needs_bind() const noexcept { return needs_bind_; }
    // Whether the model has foreign keys or related sets.
    bool has_relations() const noexcept { return has_relation_members_; }
    // Records the database an object came from and binds its relation members to its key
    // (after loading or inserting it).
    void bind(void* obj, const std::string* alias) const;
    // Forgets the related objects and rows the object's sets and RelatedOne members cached
    // (refresh_from_db: the next access reads the database again).
    void forget_related(void* obj) const;
    // "Book(id=3)": for messages naming objects.
    std::string describe_object(const Value& pk) const;
    // Like find(), but throws orm::FieldError listing the choices.
    const FieldInfo& field(std::string_view name) const;
    // The field of a member pointer (typed expressions); throws orm::FieldError if undeclared.
    const FieldInfo& field_of_member(const std::type_info& member_type, const void* member) const;
    // "author, id, price, title": the field and relation names, sorted, for messages.
    std::string choices() const;

    // CREATE TABLE input for the schema editor.
    db::TableSpec table_spec() const;

    // Reads the model's columns (in field order, starting at `first`) into obj.
    void load(void* obj, const db::Row& row, std::size_t first = 0) const;
    // Checks a value for a field (max_length, NULL into non-null, kind) and returns it
    // normalized to the field's kind. Throws orm::ValidationError naming the model and field.
    Value clean(const FieldInfo& f, const Value& v) const;
    // normalize_value() for a field (no NULL or length checks).
    Value normalize(const FieldInfo& f, const Value& v) const;
    // Validates every field of obj (before an INSERT or UPDATE is sent).
    void validate(const void* obj) const;

    [[noreturn]] void throw_does_not_exist(const std::string& message) const;
    [[noreturn]] void throw_multiple_objects(const std::string& message) const;

    // Declaration (used by orm::Meta<T>).
    FieldInfo& add_field(std::string name, db::ColumnType type, bool nullable,
                         detail::OwnPtr<const detail::FieldAccess> access);
    FieldInfo& field_at(std::size_t i) { return fields_[i]; }
    void set_table(std::string name) { table_ = std::move(name); }
    void set_ordering(std::vector<std::string> o) { ordering_ = std::move(o); }
    void add_index(std::vector<std::string> field_names, bool unique, std::string name);
    // Relations (used by orm::Meta<T> and ensure_relations()).
    Relation& add_relation(detail::OwnPtr<Relation> r);
    SetMember& add_set_member(std::string name, detail::OwnPtr<const detail::FieldAccess> access,
                              const ModelInfo& (*target_fn)(), bool forward, bool single = false);
    Relation* mutable_relation(const Relation* r) const noexcept { return const_cast<Relation*>(r); }
    void add_reverse(detail::OwnPtr<Relation> r) const;
    void set_ops(const detail::ObjectOps& ops) {
        ops_ = ops;
        needs_bind_ = needs_bind_ || ops.set_db != nullptr;
    }
    // A model this one owns (an automatic many-to-many join table).
    ModelInfo& add_owned_model(detail::OwnPtr<ModelInfo> m);
    const std::vector<detail::OwnPtr<ModelInfo>>& owned_models() const noexcept { return owned_; }
    void set_error_thunks(void (*does_not_exist)(const std::string&), void (*multiple)(const std::string&)) {
        does_not_exist_ = does_not_exist;
        multiple_ = multiple;
    }
    // Checks the declaration and derives the rest (primary key, columns). Throws
    // orm::InterfaceError saying what is wrong with the model's describe().
    void finalize();

private:
    std::string type_name_;
    std::string table_;
    std::vector<FieldInfo> fields_;
    std::vector<std::string> ordering_;
    std::vector<db::IndexSpec> indexes_;
    std::vector<std::vector<std::string>> index_fields_;  // as declared (field names)
    std::size_t pk_ = 0;
    std::vector<detail::OwnPtr<Relation>> relations_;
    mutable std::vector<detail::OwnPtr<Relation>> reverse_;  // appended by ensure_relations() only
    std::vector<SetMember> set_members_;
    std::vector<detail::OwnPtr<ModelInfo>> owned_;
    detail::ObjectOps ops_;
    // load()'s plan (db::PlainSlot per field), made from the first object loaded.
    struct LoadPlan;
    detail::OwnPtr<LoadPlan> load_plan_;
    const LoadPlan& load_plan(const void* obj) const;
    bool needs_bind_ = false;
    bool has_relation_members_ = false;
    void (*does_not_exist_)(const std::string&) = nullptr;
    void (*multiple_)(const std::string&) = nullptr;
};

// Converts a value to a column type's kind where that is lossless (ints to double, int64 to
// int32 in range, ISO text to timestamps and dates, 0/1 to bool); throws orm::ValidationError
// saying what was expected. NULL stays NULL.
Value normalize_value(db::ColumnType type, const Value& v, std::string_view what);
// Whether a value of kind k is already in the column type's own kind.
bool kind_matches(db::ColumnType t, ValueKind k) noexcept;

namespace detail {
std::string demangle(const char* mangled);

// The registry of models: every model registers a function that builds its ModelInfo (at
// program start, through Model<T>, and when its info is built). ensure_relations() builds
// every registered model and links reverse relations and join tables; lookups, deletes and
// prefetches call it before they look at relations.
void register_model(const ModelInfo& (*info)()) noexcept;
void ensure_relations();
// Why member sm of m resolved to no relation (check_members()).
[[noreturn]] void throw_unresolved_member(const ModelInfo& m, const SetMember& sm);
// Every registered model whose info is built (after ensure_relations()).
std::vector<const ModelInfo*> registered_models();
// An alias name that lives forever (relation members point at it).
const std::string* intern_alias(std::string_view alias);
// intern_alias("default"), made once.
const std::string& interned_default_alias() noexcept;
}

}  // namespace orm
