// orm::LocalSignal: wakes one waiting fiber from code running on the same thread (another fiber,
// or the thread itself while it drives its loop). It is what orm::Event does for one waiter on
// one thread, without Event's locks and cross-thread hand-over: setting it links the waiter
// straight into the loop's ready queue. The pipelined PostgreSQL connection wakes the fibers
// whose statements were answered with it.
#pragma once

namespace orm {

namespace detail {
struct Waiter;
}  // namespace detail

class LocalSignal {
public:
    LocalSignal() = default;
    LocalSignal(const LocalSignal&) = delete;
    LocalSignal& operator=(const LocalSignal&) = delete;
    ~LocalSignal();  // nobody may still wait

    // Wakes the waiter, or, when nobody waits, lets the next wait() return at once. Same thread
    // as the waiter only.
    void set() noexcept;
    // Forgets a set() nobody waited for.
    void clear() noexcept { set_ = false; }
    bool is_set() const noexcept { return set_; }
    // Returns once set() was called (since the last wait() or clear()), which it consumes. One
    // waiter at a time (else orm::InterfaceError). Throws orm::FiberCancelled when the thread
    // exits meanwhile; waits with no deadline (the caller's own waits carry those).
    void wait();

private:
    detail::Waiter* waiter_ = nullptr;
    bool set_ = false;
};

}  // namespace orm
