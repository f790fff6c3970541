// TimerHeap: indexed binary min-heap of waiters ordered by (deadline, arrival).
#include "drivers/bridge/detail/timer_heap.hpp"

namespace orm::detail {

void TimerHeap::push(Waiter& w) {
    w.timer_seq = seq_++;
    if (!run_tail_ || !earlier(&w, run_tail_)) {
        w.timer_prev = run_tail_;
        w.timer_next = nullptr;
        (run_tail_ ? run_tail_->timer_next : run_head_) = &w;
        run_tail_ = &w;
        ++run_size_;
        w.heap_index = timer_in_run;
        return;
    }
    heap_.push_back(&w);
    w.heap_index = heap_.size() - 1;
    sift_up(w.heap_index);
}

void TimerHeap::erase(Waiter& w) noexcept {
    if (w.heap_index == timer_in_run) {
        (w.timer_prev ? w.timer_prev->timer_next : run_head_) = w.timer_next;
        (w.timer_next ? w.timer_next->timer_prev : run_tail_) = w.timer_prev;
        w.timer_prev = w.timer_next = nullptr;
        --run_size_;
        w.heap_index = not_in_heap;
        return;
    }
    const std::size_t i = w.heap_index;
    w.heap_index = not_in_heap;
    Waiter* last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;  // w was the last slot
    place(i, last);
    sift_down(i);
    sift_up(last->heap_index);
}

void TimerHeap::sift_up(std::size_t i) noexcept {
    Waiter* w = heap_[i];
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (!earlier(w, heap_[parent])) break;
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, w);
}

void TimerHeap::sift_down(std::size_t i) noexcept {
    Waiter* w = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && earlier(heap_[child + 1], heap_[child])) ++child;
        if (!earlier(heap_[child], w)) break;
        place(i, heap_[child]);
        i = child;
    }
    place(i, w);
}

}  // namespace orm::detail
