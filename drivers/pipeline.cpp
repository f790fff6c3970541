// Sharing: per-thread sets of pooled connections shared by fibers (see pipeline.hpp).
#include "drivers/pipeline.hpp"

#include <atomic>
#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "drivers/bridge/deadline.hpp"
#include "drivers/bridge/local_signal.hpp"
#include "drivers/bridge/wait.hpp"
#include "drivers/connection.hpp"
#include "drivers/errors.hpp"

namespace orm::db {

struct Sharing::Slot {
    PooledConnection conn;
    Multiplexed* mx = nullptr;
    std::size_t users = 0;
    bool draining = false;  // takes no new leases: going back to the pool once its users are done
};

// A fiber waiting for room on this thread's shared connections. Only fibers of the thread wait
// and wake each other, so a same-thread signal does (no locks). A lease that ends while fibers
// wait passes its place on the connection straight to the oldest of them (`granted`), which
// then cannot lose it to a fiber that came later.
namespace {
struct RoomWaiter {
    orm::LocalSignal signal;
    void* granted = nullptr;  // the Slot handed over, if one was
    RoomWaiter* prev = nullptr;
    RoomWaiter* next = nullptr;
    bool linked = false;
};
}  // namespace

struct Sharing::PerThread {
    std::vector<std::unique_ptr<Slot>> slots;
    RoomWaiter* room_head = nullptr;  // fibers waiting for a shared connection with room, oldest first
    RoomWaiter* room_tail = nullptr;
    std::size_t waiting = 0;
    std::size_t acquiring = 0;  // fibers taking a connection from the pool for this thread now
    Slot* last = nullptr;       // the connection the previous lease took
    std::uint64_t last_mark = 0;  // orm::io_poll_mark() then
};

namespace {

std::atomic<std::uint64_t> next_sharing_id{1};

template <class PT>
void link_room(PT& pt, RoomWaiter& w) noexcept {
    w.prev = pt.room_tail;
    w.next = nullptr;
    (pt.room_tail ? pt.room_tail->next : pt.room_head) = &w;
    pt.room_tail = &w;
    w.linked = true;
    ++pt.waiting;
}

template <class PT>
void unlink_room(PT& pt, RoomWaiter& w) noexcept {
    if (!w.linked) return;
    (w.prev ? w.prev->next : pt.room_head) = w.next;
    (w.next ? w.next->prev : pt.room_tail) = w.prev;
    w.prev = w.next = nullptr;
    w.linked = false;
    --pt.waiting;
}

// Wakes every waiting fiber without handing anything over: each looks for room again (a new
// connection came, or taking one from the pool failed and one of them should try itself).
template <class PT>
void wake_all_room(PT& pt) noexcept {
    while (RoomWaiter* w = pt.room_head) {
        unlink_room(pt, *w);
        w->signal.set();
    }
}

struct CachedThread {
    std::uint64_t id;
    void* pt;
};
thread_local std::vector<CachedThread> thread_cache;

}  // namespace

Connection* Sharing::Ticket::connection() const noexcept { return slot_ ? slot_->conn.get() : nullptr; }
Multiplexed* Sharing::Ticket::multiplexed() const noexcept { return slot_ ? slot_->mx : nullptr; }

Sharing::Sharing(Pool& pool, bool on, std::size_t depth)
    : pool_(pool), on_(on), depth_(depth == 0 ? 1 : depth), id_(next_sharing_id.fetch_add(1)) {}

namespace {
// How many statements a lease adds to the connection the previous lease took (see take()): a
// quarter of the depth, so that a burst of fibers still spreads over a few connections, which
// the server runs in parallel.
std::size_t batch_for(std::size_t depth) { return std::max<std::size_t>(1, depth / 4); }
}  // namespace

Sharing::~Sharing() = default;

Sharing::PerThread& Sharing::here() const {
    for (const auto& c : thread_cache)
        if (c.id == id_) return *static_cast<PerThread*>(c.pt);
    std::lock_guard lock(mu_);
    threads_.emplace_back(new PerThread());
    thread_cache.push_back({id_, threads_.back().get()});
    return *threads_.back();
}

std::size_t Sharing::shared_here() const { return here().slots.size(); }

Sharing::Slot* Sharing::add_slot(PerThread& pt, PooledConnection c) {
    auto* mx = dynamic_cast<Multiplexed*>(c.get());
    if (!mx) throw InternalError("pipelining is on for a database whose connections cannot be shared");
    auto slot = std::make_unique<Slot>();
    slot->conn = std::move(c);
    slot->mx = mx;
    pt.slots.push_back(std::move(slot));
    return pt.slots.back().get();
}

Sharing::Ticket Sharing::take() {
    PerThread& pt = here();
    orm::Deadline deadline{};
    bool timing = false;
    const std::size_t batch = batch_for(depth_);
    for (;;) {
        Slot* best = nullptr;
        // Statements queued together on one connection go out in one write and reach the server
        // together; statements spread one per connection cost a write and a server wake-up
        // each. So a lease joins the connection the previous one took while the loop has not
        // polled since and it carries fewer than `batch` statements; then the least busy one.
        const std::uint64_t mark = orm::io_poll_mark();
        const bool joined = pt.last && pt.last_mark == mark && pt.last->users < batch && !pt.last->draining &&
                            !pt.last->conn->is_broken();
        if (joined)
            best = pt.last;
        else
            for (auto& s : pt.slots)
                if (!s->draining && !s->conn->is_broken() && s->users < depth_ && (!best || s->users < best->users))
                    best = s.get();
        // (Not when this thread already shares as many connections as the pool may open: it has
        // none to give then, and asking costs a lock per statement.)
        if (!joined && (!best || best->users > 0) && pt.slots.size() < pool_.options().max_size) {
            // Another connection when the pool has one to give at once: statements spread over
            // connections run in parallel on the server.
            ++pt.acquiring;
            PooledConnection c;
            try {
                c = pool_.try_acquire();
            } catch (...) {
                --pt.acquiring;
                wake_all_room(pt);  // those waiting for this connection try themselves
                throw;
            }
            --pt.acquiring;
            if (c) {
                best = add_slot(pt, std::move(c));
                wake_all_room(pt);
            }
        }
        if (!best && pt.slots.empty() && pt.acquiring == 0) {
            // The thread's first shared connection: wait for the pool as without pipelining;
            // the fibers that come meanwhile wait for this one (below) rather than line up in
            // the pool, where each would get a connection to itself.
            ++pt.acquiring;
            PooledConnection c;
            try {
                c = pool_.acquire();
            } catch (...) {
                --pt.acquiring;
                wake_all_room(pt);  // one of them tries the pool itself next
                throw;
            }
            --pt.acquiring;
            best = add_slot(pt, std::move(c));
            wake_all_room(pt);
        }
        if (best) {
            // Callers outside this thread's sharing wait for a connection: let one of ours drain
            // back to the pool, or a transaction could wait for ever behind busy fibers.
            if (pt.slots.size() > 1 && pool_.waiting() > 0) {
                bool any_draining = false;
                Slot* least = nullptr;
                for (auto& s : pt.slots) {
                    any_draining |= s->draining;
                    if (s.get() != best && (!least || s->users < least->users)) least = s.get();
                }
                if (!any_draining && least) least->draining = true;
            }
            if (++best->users > peak_.load(std::memory_order_relaxed))
                peak_.store(best->users, std::memory_order_relaxed);
            pt.last = best;
            pt.last_mark = mark;
            return Ticket(this, &pt, best);
        }
        // Every shared connection of this thread carries `depth` leases and the pool has none
        // to spare: wait for room, as long as the pool would let a caller wait.
        if (!timing) {
            deadline = orm::deadline_after(pool_.options().acquire_timeout);
            timing = true;
        }
        RoomWaiter me;
        link_room(pt, me);
        bool woke = false;
        try {
            woke = me.signal.wait_until(deadline);
        } catch (...) {
            unlink_room(pt, me);
            if (me.granted) give_back(pt, static_cast<Slot*>(me.granted));
            throw;
        }
        unlink_room(pt, me);
        if (me.granted) {  // a lease that ended passed its place on its connection to us
            auto* slot = static_cast<Slot*>(me.granted);
            pt.last = slot;
            pt.last_mark = orm::io_poll_mark();
            return Ticket(this, &pt, slot);
        }
        if (!woke)
            throw TimeoutError(fmt::format(
                "no connection available within {} ms: all {} connections of the pool are shared by this thread's "
                "fibers with {} statements each (pipeline_depth={}, pool_size={}); raise pipeline_depth, "
                "pool_size or pool_timeout in the URL",
                pool_.options().acquire_timeout.count(), pt.slots.size(), depth_, depth_,
                pool_.options().max_size));
    }
}

void Sharing::give_back(PerThread& pt, Slot* slot) noexcept {
    if (RoomWaiter* w = pt.room_head; w && !slot->draining && !slot->conn->is_broken()) {
        // The oldest waiting fiber takes this lease's place on the connection (users stays).
        unlink_room(pt, *w);
        w->granted = slot;
        w->signal.set();
        return;
    }
    if (--slot->users == 0) {
        // Out of the choice while it leaves pipeline mode (which may wait for statements of
        // fibers that gave up), then back to the pool.
        slot->draining = true;
        slot->mx->end_sharing();
        if (slot->users == 0) {
            if (pt.last == slot) pt.last = nullptr;
            for (auto it = pt.slots.begin(); it != pt.slots.end(); ++it)
                if (it->get() == slot) {
                    std::unique_ptr<Slot> gone = std::move(*it);
                    pt.slots.erase(it);
                    gone.reset();  // returns the connection to the pool
                    break;
                }
        } else {
            slot->draining = false;
        }
    }
    // A connection went back to the pool, or this one cannot take more: the oldest waiting fiber
    // looks for room again (another connection, or the pool).
    if (RoomWaiter* w = pt.room_head) {
        unlink_room(pt, *w);
        w->signal.set();
    }
}

}  // namespace orm::db
