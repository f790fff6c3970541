// Result: rows coming back from a statement, read through a backend-specific Cursor.
// A Result is move-only and single-pass; typed getters read the current row without copying
// where the backend allows (text comes back as a string_view valid until the next row).
#pragma once

#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/value.hpp"

namespace orm::db {

// A column read straight into a member of an object (the fast path of loading model rows):
// the member's type, and where it sits. `none`: not a type read this way (the caller loads it).
enum class PlainKind : std::uint8_t {
    none,
    boolean,      // bool
    int32,        // std::int32_t
    int64,        // std::int64_t
    float64,      // double
    text,         // std::string
    opt_boolean,  // std::optional of the above: NULL resets it
    opt_int32,
    opt_int64,
    opt_float64,
    opt_text,
};
struct PlainSlot {
    std::size_t offset = 0;  // of the member, from the object's address
    PlainKind kind = PlainKind::none;
};

// Implemented by each driver. Column indexes are 0-based. Getters are only called on a
// current row (after next() returned true) and on a non-NULL column unless stated otherwise;
// they throw orm::DataError when the column's type cannot be read as the requested kind.
class Cursor {
public:
    virtual ~Cursor() = default;
    virtual bool next() = 0;
    virtual std::size_t column_count() const = 0;
    virtual std::string_view column_name(std::size_t i) const = 0;
    virtual bool is_null(std::size_t i) const = 0;
    virtual bool get_bool(std::size_t i) const = 0;
    virtual std::int64_t get_int64(std::size_t i) const = 0;
    virtual double get_double(std::size_t i) const = 0;
    virtual std::string_view get_text(std::size_t i) const = 0;
    virtual Bytes get_bytes(std::size_t i) const = 0;
    virtual Timestamp get_timestamp(std::size_t i) const = 0;
    virtual Date get_date(std::size_t i) const = 0;
    // The column as a Value of its natural kind (NULL allowed).
    virtual Value get_value(std::size_t i) const = 0;
    // is_null and a getter in one call (what Row::get uses): false for NULL, leaving `out` as it
    // is. The defaults make the two calls; a driver overrides them to find the column once.
    virtual bool read_bool(std::size_t i, bool& out) const;
    virtual bool read_int64(std::size_t i, std::int64_t& out) const;
    virtual bool read_double(std::size_t i, double& out) const;
    virtual bool read_text(std::size_t i, std::string_view& out) const;
    // Reads columns first, first + 1, ... into the members slots[k] describes (at most 64 slots).
    // Returns a mask of the slots it left alone: kind none, and any column whose value is not
    // the member's own kind as it stands (NULL for a non-optional member, an out-of-range
    // integer, text in an integer column ...); the caller reads those the strict way, which
    // converts or throws the precise error. The default reads through the getters above; a
    // driver overrides it to skip their per-column dispatch.
    virtual std::uint64_t read_plain(std::size_t first, std::span<const PlainSlot> slots, void* object) const;
    // Rows changed by an INSERT/UPDATE/DELETE (0 for queries).
    virtual std::int64_t rows_affected() const = 0;
};

class Row;

class Result {
public:
    Result() = default;
    explicit Result(std::unique_ptr<Cursor> cursor) : cursor_(std::move(cursor)) {}

    // Advances to the next row; false when there are no more.
    bool next() { return cursor_ && cursor_->next(); }
    Row row() const;
    std::size_t column_count() const { return cursor_ ? cursor_->column_count() : 0; }
    std::string_view column_name(std::size_t i) const { return cursor_->column_name(i); }
    std::int64_t rows_affected() const { return cursor_ ? cursor_->rows_affected() : 0; }

    // Convenience: the first column of the first row, or nullopt when there is no row.
    template <class T>
    std::optional<T> scalar();
    // Reads every remaining row as Values.
    std::vector<std::vector<Value>> fetch_all();

    class iterator;
    iterator begin();
    iterator end();

private:
    std::unique_ptr<Cursor> cursor_;
};

// A view of the current row of a Result.
class Row {
public:
    explicit Row(const Cursor* c) : c_(c) {}
    std::size_t size() const { return c_->column_count(); }
    bool is_null(std::size_t i) const { return c_->is_null(i); }
    Value value(std::size_t i) const { return c_->get_value(i); }
    // Cursor::read_plain on this row.
    std::uint64_t read_plain(std::size_t first, std::span<const PlainSlot> slots, void* object) const {
        return c_->read_plain(first, slots, object);
    }

    // T is one of bool, std::int32_t, std::int64_t (and other integer types), double, std::string,
    // std::string_view (valid until the next row), Bytes, Timestamp, Date, Value, or std::optional
    // of those. Reading NULL into a non-optional T throws orm::DataError naming the column.
    template <class T>
    T get(std::size_t i) const;

private:
    // Reads column i into `out`; false for NULL.
    template <class T>
    bool read(std::size_t i, T& out) const;
    [[noreturn]] void null_error(std::size_t i, std::string_view wanted) const;
    [[noreturn]] void range_error(std::size_t i, std::int64_t v, std::string_view wanted) const;
    const Cursor* c_;
};

namespace detail {
template <class T> constexpr std::string_view type_name() {
    if constexpr (std::is_same_v<T, bool>) return "bool";
    else if constexpr (std::is_integral_v<T>) return sizeof(T) <= 4 ? "a 32-bit integer" : "a 64-bit integer";
    else if constexpr (std::is_floating_point_v<T>) return "double";
    else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) return "text";
    else if constexpr (std::is_same_v<T, Bytes>) return "bytes";
    else if constexpr (std::is_same_v<T, Timestamp>) return "a timestamp";
    else if constexpr (std::is_same_v<T, Date>) return "a date";
    else return "a value";
}
template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type { using type = T; };
}  // namespace detail

template <class T>
bool Row::read(std::size_t i, T& out) const {
    if constexpr (std::is_same_v<T, bool>) {
        return c_->read_bool(i, out);
    } else if constexpr (std::is_integral_v<T>) {
        std::int64_t v;
        if (!c_->read_int64(i, v)) return false;
        if constexpr (!std::is_same_v<T, std::int64_t>) {
            if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
                (v > 0 && static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
                range_error(i, v, detail::type_name<T>());
        }
        out = static_cast<T>(v);
        return true;
    } else if constexpr (std::is_floating_point_v<T>) {
        double v;
        if (!c_->read_double(i, v)) return false;
        out = static_cast<T>(v);
        return true;
    } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
        std::string_view v;
        if (!c_->read_text(i, v)) return false;
        out = v;
        return true;
    } else if constexpr (std::is_same_v<T, Bytes>) {
        if (c_->is_null(i)) return false;
        out = c_->get_bytes(i);
        return true;
    } else if constexpr (std::is_same_v<T, Timestamp>) {
        if (c_->is_null(i)) return false;
        out = c_->get_timestamp(i);
        return true;
    } else if constexpr (std::is_same_v<T, Date>) {
        if (c_->is_null(i)) return false;
        out = c_->get_date(i);
        return true;
    } else if constexpr (std::is_same_v<T, Value>) {
        if (c_->is_null(i)) return false;
        out = c_->get_value(i);
        return true;
    } else {
        static_assert(sizeof(T) == 0, "Row::get<T>: unsupported column type");
    }
}

template <class T>
T Row::get(std::size_t i) const {
    if constexpr (detail::is_optional<T>::value) {
        typename detail::is_optional<T>::type v{};
        if (!read(i, v)) return std::nullopt;
        return v;
    } else if constexpr (std::is_same_v<T, Value>) {
        return c_->get_value(i);
    } else if constexpr (std::is_same_v<T, std::string>) {
        std::string_view v;
        if (!c_->read_text(i, v)) null_error(i, detail::type_name<T>());
        return std::string(v);
    } else {
        T v{};
        if (!read(i, v)) null_error(i, detail::type_name<T>());
        return v;
    }
}

class Result::iterator {
public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Row;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Result* r) : r_(r) { advance(); }
    Row operator*() const { return r_->row(); }
    iterator& operator++() { advance(); return *this; }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& a, const iterator& b) { return a.r_ == b.r_; }

private:
    void advance() { if (r_ && !r_->next()) r_ = nullptr; }
    Result* r_ = nullptr;
};

inline Row Result::row() const { return Row(cursor_.get()); }
inline Result::iterator Result::begin() { return iterator(this); }
inline Result::iterator Result::end() { return iterator(); }

template <class T>
std::optional<T> Result::scalar() {
    if (!next()) return std::nullopt;
    return row().get<std::optional<T>>(0);
}

}  // namespace orm::db
