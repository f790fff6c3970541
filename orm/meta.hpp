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

#include "orm/field_traits.hpp"
#include "orm/model_info.hpp"

namespace orm {

namespace detail {

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

private:
    M T::*member_;
};

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

private:
    FieldInfo& get() { return info_->field_at(index_); }
    ModelInfo* info_;
    std::size_t index_;
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

    // Declares a field: a member and the name lookups use for it (also its column by default).
    template <class M>
    FieldBuilder field(M T::*member, std::string name) {
        static_assert(detail::is_field_type_v<M>,
                      "orm::Meta::field: unsupported member type; use bool, a signed integer, double, std::string, "
                      "orm::Bytes, orm::Date, a std::chrono::sys_time (e.g. system_clock::time_point or "
                      "orm::Timestamp), or std::optional of one of these");
        using S = typename detail::field_traits<M>::scalar;
        auto& f = info_.add_field(std::move(name), detail::column_type_of<S>(), detail::field_traits<M>::nullable,
                                  std::make_unique<detail::MemberAccess<T, M>>(member));
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
ModelInfo build_model_info() {
    ModelInfo info(demangle(typeid(T).name()));
    Meta<T> meta(info);
    T::describe(meta);
    info.set_error_thunks([](const std::string& m) { throw typename T::DoesNotExist(m); },
                          [](const std::string& m) { throw typename T::MultipleObjectsReturned(m); });
    info.finalize();
    return info;
}

}  // namespace detail

// The model's metadata, built on first use (thread-safe; a failing describe() throws
// orm::InterfaceError here and is retried on the next call).
template <class T>
const ModelInfo& model_info() {
    static const ModelInfo info = detail::build_model_info<T>();
    return info;
}

// The name of the field a member pointer was declared as.
template <class T, class M>
const FieldInfo& field_of(M T::*member) {
    return model_info<T>().field_of_member(typeid(M T::*), &member);
}

}  // namespace orm
