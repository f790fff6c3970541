// TimerHeap: the waiters with a deadline, as an indexed binary min-heap (internal). Each waiter
// knows its slot, so a wait that ends early is removed in O(log n) instead of lingering.
#pragma once

#include <cstdint>
#include <vector>

#include "drivers/bridge/detail/waiter.hpp"

namespace orm::detail {

class TimerHeap {
public:
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    Waiter* top() const noexcept { return heap_.front(); }
    void push(Waiter& w);
    void erase(Waiter& w) noexcept;  // w must be in the heap

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
    std::uint64_t seq_ = 0;
};

}  // namespace orm::detail
