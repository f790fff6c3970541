// BeforePoll and io_rouse (see before_poll.hpp): the loop's list of work to run before it polls.
#include "drivers/bridge/before_poll.hpp"

#include "drivers/bridge/detail/loop.hpp"

namespace orm {

bool BeforePoll::schedule() noexcept {
    if (loop_) return true;
    detail::Loop* loop = detail::Loop::current_if_any();
    if (!loop || loop->closing()) return false;
    loop->schedule(*this);
    return true;
}

void BeforePoll::cancel() noexcept {
    if (loop_) loop_->cancel(*this);
}

bool other_fibers_ready() noexcept {
    detail::Loop* loop = detail::Loop::current_if_any();
    return loop && loop->has_ready();
}

void io_rouse(int fd) noexcept {
    if (detail::Loop* loop = detail::Loop::current_if_any()) loop->rouse(fd);
}

namespace detail {

void Loop::schedule(BeforePoll& b) noexcept {
    b.loop_ = this;
    b.next_ = nullptr;
    b.prev_ = before_tail_;
    (before_tail_ ? before_tail_->next_ : before_head_) = &b;
    before_tail_ = &b;
    ++before_count_;
}

void Loop::cancel(BeforePoll& b) noexcept {
    (b.prev_ ? b.prev_->next_ : before_head_) = b.next_;
    (b.next_ ? b.next_->prev_ : before_tail_) = b.prev_;
    b.prev_ = b.next_ = nullptr;
    b.loop_ = nullptr;
    --before_count_;
}

// What is scheduled now runs once; work that schedules itself again from run() waits for the
// next poll (so it cannot keep this one from happening).
void Loop::run_before_poll() noexcept {
    for (std::size_t n = before_count_; n > 0 && before_head_; --n) {
        BeforePoll* b = before_head_;
        cancel(*b);
        b->run();
    }
}

void Loop::rouse(int fd) noexcept {
    if (fd < 0 || std::size_t(fd) >= fds_.size()) return;
    FdEntry& e = fds_[std::size_t(fd)];
    for (Waiter* w : {e.reader, e.writer})
        if (w && w->reason == WakeReason::none) {
            w->ready = w->interest;
            wake(*w, WakeReason::ready);
        }
}

}  // namespace detail
}  // namespace orm
