// How a C++ member type maps to a column: its ColumnType, whether it holds NULL, and the
// conversions to and from orm::Value and from a result row. The only per-type template code
// the ORM instantiates for a model's fields; everything else works on Values.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "drivers/result.hpp"
#include "drivers/schema.hpp"
#include "drivers/value.hpp"

namespace orm::detail {

template <class M>
struct is_sys_time : std::false_type {};
template <class Dur>
struct is_sys_time<std::chrono::sys_time<Dur>> : std::true_type {};

// The types a model field may have (without std::optional).
template <class M>
constexpr bool is_scalar_field_v =
    std::is_same_v<M, bool> ||
    (std::is_integral_v<M> && std::is_signed_v<M> && !std::is_same_v<M, char> && sizeof(M) >= 2) ||
    std::is_same_v<M, double> || std::is_same_v<M, float> || std::is_same_v<M, std::string> ||
    std::is_same_v<M, Bytes> || is_sys_time<M>::value;

template <class M>
struct field_traits {
    static constexpr bool supported = is_scalar_field_v<M>;
    static constexpr bool nullable = false;
    using scalar = M;
};
template <class M>
struct field_traits<std::optional<M>> {
    static constexpr bool supported = is_scalar_field_v<M>;
    static constexpr bool nullable = true;
    using scalar = M;
};

template <class M>
constexpr bool is_field_type_v = field_traits<M>::supported;

}  // namespace orm::detail

namespace orm {
template <class T, class K>
class ForeignKey;
template <class T, class K>
class OneToOne;
}  // namespace orm

namespace orm::detail {

// Foreign keys are declared through their own Meta::field overload; typed expressions
// (orm::col(&Book::author) == 3) see their key.
template <class R, class K>
struct field_traits<ForeignKey<R, K>> {
    static constexpr bool supported = false;
    static constexpr bool nullable = true;
    using scalar = K;
};
template <class R, class K>
struct field_traits<OneToOne<R, K>> : field_traits<ForeignKey<R, K>> {};

// The column type of a scalar field type (strings start as text; max_length makes them varchar).
template <class M>
constexpr db::ColumnType column_type_of() {
    if constexpr (std::is_same_v<M, bool>) return db::ColumnType::boolean;
    else if constexpr (std::is_integral_v<M>) return sizeof(M) <= 4 ? db::ColumnType::int32 : db::ColumnType::int64;
    else if constexpr (std::is_floating_point_v<M>) return db::ColumnType::float64;
    else if constexpr (std::is_same_v<M, std::string>) return db::ColumnType::text;
    else if constexpr (std::is_same_v<M, Bytes>) return db::ColumnType::bytes;
    else if constexpr (std::is_same_v<M, Date>) return db::ColumnType::date;
    else return db::ColumnType::timestamp;
}

// A Value already normalized to the column's kind (normalize_value in model_info.cpp) as M.
template <class M>
M scalar_from_value(const Value& v) {
    if constexpr (std::is_same_v<M, bool>) return v.as_bool();
    else if constexpr (std::is_integral_v<M>) {
        if constexpr (sizeof(M) <= 4) return static_cast<M>(v.as_int32());
        else return static_cast<M>(v.as_int64());
    } else if constexpr (std::is_floating_point_v<M>) return static_cast<M>(v.as_double());
    else if constexpr (std::is_same_v<M, std::string>) return v.as_text();
    else if constexpr (std::is_same_v<M, Bytes>) return v.as_bytes();
    else if constexpr (std::is_same_v<M, Date>) return v.as_date();
    else return std::chrono::time_point_cast<typename M::duration>(v.as_timestamp());
}

template <class M>
M from_value(const Value& v) {
    if constexpr (field_traits<M>::nullable) {
        if (v.is_null()) return std::nullopt;
        return scalar_from_value<typename field_traits<M>::scalar>(v);
    } else {
        return scalar_from_value<M>(v);
    }
}

template <class M>
Value to_value(const M& m) {
    if constexpr (field_traits<M>::nullable) {
        if (!m) return Value();
        return to_value(*m);
    } else if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, Bytes>) {
        return Value(m);
    } else if constexpr (std::is_integral_v<M> && !std::is_same_v<M, bool>) {
        if constexpr (sizeof(M) <= 4) return Value(static_cast<std::int32_t>(m));
        else return Value(static_cast<std::int64_t>(m));
    } else if constexpr (std::is_floating_point_v<M>) {
        return Value(static_cast<double>(m));
    } else {
        return Value(m);
    }
}

// Reads column i of the current row as M (NULL into a non-optional M throws orm::DataError).
template <class M>
M load_column(const db::Row& row, std::size_t i) {
    if constexpr (field_traits<M>::nullable) {
        if (row.is_null(i)) return std::nullopt;
        return load_column<typename field_traits<M>::scalar>(row, i);
    } else if constexpr (is_sys_time<M>::value && !std::is_same_v<M, Date> && !std::is_same_v<M, Timestamp>) {
        return std::chrono::time_point_cast<typename M::duration>(row.get<Timestamp>(i));
    } else {
        return row.get<M>(i);
    }
}

}  // namespace orm::detail
