// TimerHeap: the waiters with a deadline (internal). Most deadlines arrive in order (waits with
// one timeout, such as fibers queueing for a pool connection): those go to the "run", a FIFO
// list kept in deadline order for free, where arming and disarming cost O(1) and touch no other
// waiter's memory. A deadline earlier than the run's last one goes to an indexed binary
// min-heap instead. Each waiter knows where it is, so a wait that ends early is removed at once
// (O(1) from the run, O(log n) from the heap) instead of lingering.
#pragma once

#include <cstdint>
#include <vector>

#include "drivers/bridge/detail/waiter.hpp"

namespace orm::detail {

class TimerHeap {
public:
    bool empty() const noexcept { return heap_.empty() && !run_head_; }
    std::size_t size() const noexcept { return heap_.size() + run_size_; }
    // The earliest deadline (the structure must not be empty).
    Waiter* top() const noexcept {
        if (heap_.empty()) return run_head_;
        if (!run_head_) return heap_.front();
        return earlier(run_head_, heap_.front()) ? run_head_ : heap_.front();
    }
    void push(Waiter& w);
    void erase(Waiter& w) noexcept;  // w must be armed here

private:
    static bool earlier(const Waiter* a, const Waiter* b) noexcept {
        return a->deadline < b->deadline || (a->deadline == b->deadline && a->timer_seq < b->timer_seq);
    }
    void place(std::size_t i, Waiter* w) noexcept {
        heap_[i] = w;
        w->heap_index = i;
    }
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;

    std::vector<Waiter*> heap_;
    Waiter* run_head_ = nullptr;
    Waiter* run_tail_ = nullptr;
    std::size_t run_size_ = 0;
    std::uint64_t seq_ = 0;
};

}  // namespace orm::detail
