// Transactions at ORM level. orm::atomic(fn) runs fn in a transaction: commit when it returns,
// rollback when it throws (the exception propagates); nested atomic blocks become savepoints.
// The transaction is pinned to the calling fiber (or thread, outside fibers): every ORM
// operation of that fiber on that database alias runs on the transaction's connection, while
// other fibers keep using the pool. Works the same in sync and async mode.
//
//     orm::atomic([&] { a.save(); b.save(); });
//     { orm::Atomic tx; a.save(); tx.commit(); }   // RAII form: no commit() -> rollback
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace orm {

namespace detail {
struct TxState;
}

class Atomic {
public:
    explicit Atomic(std::string_view alias = "default");
    Atomic(const Atomic&) = delete;
    Atomic& operator=(const Atomic&) = delete;
    // Rolls back (to the savepoint, when nested) unless commit() or rollback() ran.
    ~Atomic();

    // Commits the transaction (outermost block; then runs the on_commit hooks) or releases the
    // savepoint (nested block; its hooks then wait for the outer commit).
    void commit();
    // Rolls back now; hooks registered inside this block are dropped.
    void rollback();
    // Nesting depth: 1 for the outermost block.
    std::size_t depth() const noexcept { return depth_; }

private:
    void finish(bool commit);
    detail::TxState* state_ = nullptr;
    std::size_t depth_ = 0;
    bool done_ = false;
};

template <class Fn>
std::invoke_result_t<Fn&> atomic(std::string_view alias, Fn&& fn) {
    Atomic tx(alias);
    if constexpr (std::is_void_v<std::invoke_result_t<Fn&>>) {
        fn();
        tx.commit();
    } else {
        auto result = fn();
        tx.commit();
        return result;
    }
}
template <class Fn>
std::invoke_result_t<Fn&> atomic(Fn&& fn) {
    return atomic("default", std::forward<Fn>(fn));
}

// Runs `fn` after the calling fiber's transaction on `alias` commits (dropped if it rolls
// back); runs it at once when no transaction is open.
void on_commit(std::function<void()> fn, std::string_view alias = "default");
// Whether the calling fiber (or thread) has a transaction open on `alias`.
bool in_atomic(std::string_view alias = "default");

}  // namespace orm
