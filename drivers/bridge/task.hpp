// orm::spawn, orm::Task<T> and orm::run: start functions on fibers of this thread's loop and
// join them. Task is a thin typed handle over a type-erased fiber record owned by the runtime
// (drivers/bridge/task.cpp); this header carries no Boost.Context.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "drivers/bridge/deadline.hpp"

namespace orm {

namespace detail {

struct FiberRecord;

// What a spawned fiber runs; the runtime calls run() once, on the fiber.
class TaskBody {
public:
    virtual ~TaskBody() = default;
    virtual void run() = 0;
};

template <class T>
class TaskResult : public TaskBody {
public:
    std::optional<T> value;
};
template <>
class TaskResult<void> : public TaskBody {};

template <class T, class F>
class TaskFn final : public TaskResult<T> {
public:
    template <class G>
    explicit TaskFn(G&& g) : fn_(std::in_place, std::forward<G>(g)) {}

    void run() override {
        // The callable and what it captured die on the fiber as soon as it returns or throws, so
        // captured resources are released there (where destructors may still wait), not in ~Task.
        struct Reset {
            std::optional<F>& f;
            ~Reset() { f.reset(); }
        } reset{fn_};
        if constexpr (std::is_void_v<T>)
            std::invoke(*fn_);
        else
            this->value.emplace(std::invoke(*fn_));
    }

private:
    std::optional<F> fn_;
};

void release_record(FiberRecord* r) noexcept;

// A counted reference to a fiber record; the runtime holds another one until the fiber ends.
class TaskRef {
public:
    TaskRef() = default;
    explicit TaskRef(FiberRecord* r) noexcept : r_(r) {}
    TaskRef(TaskRef&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
    TaskRef& operator=(TaskRef&& o) noexcept {
        if (this != &o) {
            reset();
            r_ = std::exchange(o.r_, nullptr);
        }
        return *this;
    }
    ~TaskRef() { reset(); }
    void reset() noexcept {
        if (r_) release_record(std::exchange(r_, nullptr));
    }
    FiberRecord* get() const noexcept { return r_; }

private:
    FiberRecord* r_ = nullptr;
};

TaskRef spawn_fiber(std::string name, std::unique_ptr<TaskBody> body);
TaskRef run_root(std::string name, std::unique_ptr<TaskBody> body);
bool task_done(const FiberRecord* r) noexcept;
bool task_wait_until(FiberRecord* r, Deadline deadline);
void task_join(FiberRecord* r);     // waits for the end (errors of the wait itself propagate)
void task_rethrow(FiberRecord* r);  // rethrows the fiber's exception, if it ended with one
std::string task_name(const FiberRecord* r);
std::uint64_t task_id(const FiberRecord* r) noexcept;
[[noreturn]] void throw_empty_task(const char* operation);

template <class F>
using task_value_t = std::invoke_result_t<std::decay_t<F>&>;

template <class T>
void check_task_value() {
    static_assert(!std::is_reference_v<T>,
                  "a fiber cannot return a reference (it would outlive the fiber's frame): "
                  "return a value, a pointer or std::reference_wrapper");
}

}  // namespace detail

// A handle to a function running on a fiber. Move-only, like std::future: get() joins once.
// Dropping a Task without get() detaches it: the fiber keeps running, and if it ends with an
// exception that nobody retrieved, the runtime reports it (orm::FiberReport). A Task is joined
// on the thread that spawned it (its fiber belongs to that thread's loop).
template <class T>
class Task {
public:
    Task() = default;
    Task(detail::TaskRef ref, detail::TaskResult<T>* result) noexcept
        : ref_(std::move(ref)), result_(result) {}
    Task(Task&& o) noexcept : ref_(std::move(o.ref_)), result_(std::exchange(o.result_, nullptr)) {}
    Task& operator=(Task&& o) noexcept {  // detaches what this Task held
        if (this != &o) {
            ref_ = std::move(o.ref_);
            result_ = std::exchange(o.result_, nullptr);
        }
        return *this;
    }

    // False for a default-constructed, moved-from, detached or already joined Task.
    bool valid() const noexcept { return ref_.get() != nullptr; }
    // The function has returned or thrown.
    bool done() const {
        if (!valid()) detail::throw_empty_task("Task::done()");
        return detail::task_done(ref_.get());
    }
    // Waits for the fiber to end (suspending the calling fiber, or driving this thread's loop
    // outside any fiber) and returns its value or rethrows its exception with its original type.
    // The Task is empty afterwards, unless the wait itself failed (joined from the wrong thread,
    // deadlock, thread exiting), which leaves it as it was.
    T get() {
        if (!valid()) detail::throw_empty_task("Task::get()");
        detail::task_join(ref_.get());
        detail::TaskRef ref = std::move(ref_);
        auto* result = std::exchange(result_, nullptr);
        detail::task_rethrow(ref.get());
        if constexpr (!std::is_void_v<T>) return std::move(*result->value);
    }
    // Waits like get() but only until `deadline`; true when the fiber has ended.
    bool wait_until(Deadline deadline) {
        if (!valid()) detail::throw_empty_task("Task::wait_until()");
        return detail::task_wait_until(ref_.get(), deadline);
    }
    // Lets the fiber run on unsupervised (what the destructor does).
    void detach() noexcept {
        ref_.reset();
        result_ = nullptr;
    }
    std::string name() const { return valid() ? detail::task_name(ref_.get()) : std::string(); }
    std::uint64_t id() const noexcept { return valid() ? detail::task_id(ref_.get()) : 0; }

private:
    detail::TaskRef ref_;
    detail::TaskResult<T>* result_ = nullptr;  // owned by the record ref_ points to
};

// Starts `fn` on a new fiber of this thread's loop and returns at once; the fiber first runs
// when the loop next runs its ready fibers (fibers start in spawn order). Callable from inside
// or outside a fiber. `name` shows in dumps and reports (default "fiber-<id>").
template <class F>
Task<detail::task_value_t<F>> spawn(std::string name, F&& fn) {
    using T = detail::task_value_t<F>;
    detail::check_task_value<T>();
    auto body = std::make_unique<detail::TaskFn<T, std::decay_t<F>>>(std::forward<F>(fn));
    auto* result = body.get();
    return Task<T>(detail::spawn_fiber(std::move(name), std::move(body)), result);
}
template <class F>
Task<detail::task_value_t<F>> spawn(F&& fn) {
    return spawn(std::string(), std::forward<F>(fn));
}

// Runs `fn` as a root fiber and waits until it and every fiber spawned from it (transitively)
// have ended; returns fn's value or rethrows its exception. Exceptions of the other fibers stay
// with their Tasks (reported if never retrieved). Outside a fiber it drives this thread's loop;
// inside one it suspends the caller like any join.
template <class F>
detail::task_value_t<F> run(F&& fn) {
    using T = detail::task_value_t<F>;
    detail::check_task_value<T>();
    auto body = std::make_unique<detail::TaskFn<T, std::decay_t<F>>>(std::forward<F>(fn));
    auto* result = body.get();
    detail::TaskRef root = detail::run_root("run", std::move(body));
    if constexpr (!std::is_void_v<T>) return std::move(*result->value);
}

}  // namespace orm
