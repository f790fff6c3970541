// RAII owners for the sqlite3 C handles used by the SQLite driver (internal header).
#pragma once

#include <cstdint>
#include <cstddef>
#include <memory>
#include <utility>

#include <sqlite3.h>

#include "drivers/hints.hpp"

namespace orm::db::sqlite {

struct DbCloser {
    // close_v2 turns the connection into a zombie until every statement is finalized, so a
    // cursor that outlives its connection cannot make sqlite3_close fail with SQLITE_BUSY.
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
struct ValueFree {
    void operator()(sqlite3_value* v) const noexcept { sqlite3_value_free(v); }
};

using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;
// A protected copy of a column value (sqlite3_value_dup), for rows buffered off the statement.
using ValuePtr = std::unique_ptr<sqlite3_value, ValueFree>;

// Shared ownership of a Session and its Statements among the connection, the statement cache and
// live cursors, with a plain integer count: a Session and everything made from it are used by
// one thread at a time (see sqlite_session.hpp), so std::shared_ptr's atomic count (two atomic
// read-modify-writes per copy, several copies per statement run) would buy nothing.
class RefCounted {
public:
    RefCounted() = default;
    RefCounted(const RefCounted&) = delete;
    RefCounted& operator=(const RefCounted&) = delete;

protected:
    ~RefCounted() = default;

private:
    template <class T>
    friend class Ref;
    std::uint32_t refs_ = 0;
};

template <class T>
class Ref {
public:
    Ref() noexcept = default;
    Ref(std::nullptr_t) noexcept {}
    explicit Ref(T* p) noexcept : p_(p) {
        if (p_) ++p_->refs_;
    }
    Ref(const Ref& o) noexcept : Ref(o.p_) {}
    Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Ref& operator=(Ref o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~Ref() {
        if (p_ && --p_->refs_ == 0) destroy(p_);
    }

    T* get() const noexcept { return p_; }
    T& operator*() const noexcept { return *p_; }
    T* operator->() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    void reset() noexcept { Ref().swap(*this); }
    void swap(Ref& o) noexcept { std::swap(p_, o.p_); }

private:
    // The last owner's delete, out of line: a Ref on the per-statement path stays a decrement
    // and a branch there (see drivers/hints.hpp).
    WEFT_NOINLINE static void destroy(T* p) noexcept { delete p; }

    T* p_ = nullptr;
};

template <class T, class... Args>
Ref<T> make_ref(Args&&... args) {
    return Ref<T>(new T(std::forward<Args>(args)...));
}

}  // namespace orm::db::sqlite
