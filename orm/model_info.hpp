// ModelInfo: what the ORM knows about one model, built once from its describe() function and
// used by the compiled core (the query compiler, instances, schema) without templates. Fields
// reach their members through FieldAccess, a small type-erased accessor per field.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "drivers/result.hpp"
#include "drivers/schema.hpp"
#include "drivers/value.hpp"

namespace orm {

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
};

}  // namespace detail

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
    std::unique_ptr<const detail::FieldAccess> access;
    // (Relations, issue 5, add the related model here.)

    bool is_text() const noexcept { return type == db::ColumnType::text || type == db::ColumnType::varchar; }
    bool is_integer() const noexcept { return type == db::ColumnType::int32 || type == db::ColumnType::int64; }
    bool is_numeric() const noexcept { return is_integer() || type == db::ColumnType::float64; }
    // "varchar(100)", "int64", ... for messages.
    std::string type_name() const;
};

class ModelInfo {
public:
    explicit ModelInfo(std::string type_name) : type_name_(std::move(type_name)) {}
    ModelInfo(ModelInfo&&) = default;
    ModelInfo& operator=(ModelInfo&&) = default;

    const std::string& type_name() const noexcept { return type_name_; }  // "Book"
    const std::string& table() const noexcept { return table_; }
    const std::vector<FieldInfo>& fields() const noexcept { return fields_; }
    const FieldInfo& pk() const noexcept { return fields_[pk_]; }
    // Default ordering (Meta::ordering), as written: "-price", "title".
    const std::vector<std::string>& ordering() const noexcept { return ordering_; }
    const std::vector<db::IndexSpec>& indexes() const noexcept { return indexes_; }

    // The field named `name` ("pk" names the primary key), or null.
    const FieldInfo* find(std::string_view name) const noexcept;
    // Like find(), but throws orm::FieldError listing the choices.
    const FieldInfo& field(std::string_view name) const;
    // The field of a member pointer (typed expressions); throws orm::FieldError if undeclared.
    const FieldInfo& field_of_member(const std::type_info& member_type, const void* member) const;
    // "id, price, title": the field names, sorted, for messages.
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
                         std::unique_ptr<const detail::FieldAccess> access);
    FieldInfo& field_at(std::size_t i) { return fields_[i]; }
    void set_table(std::string name) { table_ = std::move(name); }
    void set_ordering(std::vector<std::string> o) { ordering_ = std::move(o); }
    void add_index(std::vector<std::string> field_names, bool unique, std::string name);
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
}

}  // namespace orm
