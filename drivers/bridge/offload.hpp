// orm::run_in_thread: run blocking work (sqlite3 calls, file I/O, CPU-heavy code) on a shared
// worker thread while the calling fiber waits, so the loop keeps running other fibers.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <type_traits>

namespace orm {

namespace detail {

struct Waiter;
class Loop;

// One unit of offloaded work, living on the waiting caller's stack until it completes.
class OffloadJob {
public:
    virtual void run() noexcept = 0;  // calls the function, keeping its result or its exception
    std::exception_ptr error;
    Waiter* waiter = nullptr;  // set by the runtime: whom to wake, on which loop
    Loop* loop = nullptr;

protected:
    ~OffloadJob() = default;
};

template <class T, class F>
class OffloadFn final : public OffloadJob {
public:
    explicit OffloadFn(F& fn) : fn_(fn) {}
    void run() noexcept override {
        try {
            if constexpr (std::is_void_v<T>)
                std::invoke(fn_);
            else
                value.emplace(std::invoke(fn_));
        } catch (...) {
            error = std::current_exception();
        }
    }
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;

private:
    F& fn_;
};

// Runs job (inline or on a worker, see run_in_thread) and returns once it has run; rethrows.
void run_offloaded(OffloadJob& job);

}  // namespace detail

// Calls fn() on a worker thread and returns its value, or rethrows its exception with its
// original type. Inside a fiber only that fiber waits (on the loop's eventfd; no deadline: the
// work cannot be abandoned half-done, so bound it inside fn, e.g. with sqlite3_busy_timeout).
// Outside any fiber, when this thread's loop has fibers, it offloads too and drives the loop
// meanwhile; with no fibers to keep running (or from inside a loop callback) it simply calls
// fn() inline, which is cheaper and equivalent. Workers are reused (FiberOptions::offload_threads).
template <class F>
std::invoke_result_t<F&> run_in_thread(F&& fn) {
    using T = std::invoke_result_t<F&>;
    static_assert(!std::is_reference_v<T>, "run_in_thread: return a value or a pointer, not a reference");
    detail::OffloadFn<T, std::remove_reference_t<F>> job(fn);
    detail::run_offloaded(job);
    if constexpr (!std::is_void_v<T>) return std::move(*job.value);
}

// A claim on one of the FiberOptions::offload_cpu_slots: held by CPU-heavy work running on a
// worker thread (the SQLite driver holds one for each statement it runs in async mode), so that
// such work never occupies every core and the threads running fiber loops stay responsive.
// The constructor blocks the calling thread until a slot is free (never construct one on a
// thread running fibers). Nested claims on one thread share the outer one.
class CpuSlot {
public:
    CpuSlot();
    ~CpuSlot();
    CpuSlot(const CpuSlot&) = delete;
    CpuSlot& operator=(const CpuSlot&) = delete;

    // Gives the calling thread's slot (if it holds one) back for the lifetime of this object:
    // for waits inside slot-holding work (a sleep in SQLite's busy handler), which must not keep
    // a slot from the work they wait for.
    class Pause {
    public:
        Pause();
        ~Pause();
        Pause(const Pause&) = delete;
        Pause& operator=(const Pause&) = delete;

    private:
        bool held_;
    };

private:
    bool outer_;
};

}  // namespace orm
