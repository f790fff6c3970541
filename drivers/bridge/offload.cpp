// run_in_thread: a shared pool of worker threads; completions come back through each loop's
// eventfd, so a waiting fiber costs its loop nothing until its job is done. A round trip is two
// thread wake-ups (~12 us on the 2-vCPU VM this was measured on). Spinning briefly on either
// side to skip them was tried and was 4x slower there: PAUSE loops in a VM exit to the
// hypervisor, and on a shared 2-core machine a spinner takes the core its partner needs.
#include "drivers/bridge/offload.hpp"

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include "drivers/bridge/detail/loop.hpp"
#include "drivers/bridge/detail/report.hpp"
#include "drivers/bridge/detail/settings.hpp"

namespace orm::detail {
namespace {

// Threads start on demand (while queued jobs outnumber idle workers) up to
// FiberOptions::offload_threads and then stay for reuse; they are joined at exit, after
// finishing what is queued, since fibers wait on it.
class WorkerPool {
public:
    static WorkerPool& instance() { return *holder(); }

    // In the child of a fork(): the workers did not survive it (only the forking thread does),
    // so the child starts over with an empty pool whose workers start on demand. The parent's
    // pool is left as it was in the child's memory, never touched or joined (its mutex may be
    // held, its threads do not exist). Offloads that were in flight at the fork are lost to the
    // child.
    static void reset_in_child() noexcept {
        (void)holder().release();
        holder().reset(new (std::nothrow) WorkerPool);
    }

private:
    static std::unique_ptr<WorkerPool>& holder() {
        static std::unique_ptr<WorkerPool> pool(new WorkerPool);  // joined at exit
        return pool;
    }

public:

    void submit(OffloadJob& job) {
        std::lock_guard lock(mu_);
        jobs_.push_back(&job);
        if (jobs_.size() > idle_ && threads_.size() < settings.offload_threads.load(std::memory_order_relaxed)) {
            try {
                threads_.emplace_back([this] { work(); });
            } catch (...) {
                if (threads_.empty()) {
                    jobs_.pop_back();
                    throw;
                }
                // the running workers will get to it
            }
        }
        cv_.notify_one();
    }

    ~WorkerPool() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        for (std::thread& t : threads_) t.join();
    }

private:
    void work() {
        // Lower this worker's priority (Linux applies nice per thread). Failure is harmless: the
        // work still runs, only the loop's latency under CPU-heavy offloads suffers.
        if (int nice = settings.offload_nice.load(std::memory_order_relaxed); nice > 0)
            (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice);
        std::unique_lock lock(mu_);
        for (;;) {
            ++idle_;
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            --idle_;
            if (jobs_.empty()) return;  // stopping, and nothing left to do
            OffloadJob* job = jobs_.front();
            jobs_.pop_front();
            lock.unlock();
            job->run();
            job->loop->notify(*job->waiter);  // the job may be gone from here on
            lock.lock();
        }
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<OffloadJob*> jobs_;
    std::vector<std::thread> threads_;
    std::size_t idle_ = 0;
    bool stop_ = false;
};

// The CPU slots behind orm::CpuSlot: a counting semaphore whose size is read from the options
// at each claim, so set_fiber_options() applies to the next claims.
class CpuSlots {
public:
    static CpuSlots& instance() { return *slots(); }
    // After fork() in the child: slots held by workers that do not exist there are gone.
    static void reset_in_child() noexcept { slots() = new (std::nothrow) CpuSlots; }

private:
    static CpuSlots*& slots() {
        static CpuSlots* s = new CpuSlots;  // never destroyed: workers may claim at exit
        return s;
    }

public:

    void acquire() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return in_use_ < limit(); });
        ++in_use_;
    }

    void release() noexcept {
        {
            std::lock_guard lock(mu_);
            --in_use_;
        }
        cv_.notify_one();
    }

private:
    static std::size_t limit() noexcept {
        if (std::size_t n = settings.offload_cpu_slots.load(std::memory_order_relaxed); n > 0) return n;
        static const std::size_t automatic = [] {
            cpu_set_t set;
            int cpus = ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
            if (cpus <= 0) cpus = static_cast<int>(std::thread::hardware_concurrency());
            return cpus > 1 ? static_cast<std::size_t>(cpus - 1) : std::size_t{1};
        }();
        return automatic;
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::size_t in_use_ = 0;
};

thread_local bool cpu_slot_held = false;

}  // namespace

void reset_offload_in_child() noexcept {
    WorkerPool::reset_in_child();
    CpuSlots::reset_in_child();
    cpu_slot_held = false;
}

void run_offloaded(OffloadJob& job) {
    FiberRecord* const fiber = current_fiber;
    Loop* const loop = fiber ? fiber->loop : Loop::current_if_any();
    // Outside a fiber the point of offloading is to keep this thread's fibers running; with none
    // (or from a loop callback, or at thread exit, where nothing may wait) inline is the same.
    const bool offload =
        loop && !loop->closing() && (fiber || (loop->live_fibers() > 0 && !loop->in_loop_callback()));
    if (!offload) {
        job.run();
    } else {
        Waiter w(*loop, fiber, WaitKind::offload, no_deadline);
        job.waiter = &w;
        job.loop = loop;
        WorkerPool::instance().submit(job);
        ++loop->offload_waits;
        try {
            // Not cancellable: the job lives in this frame until a worker has finished with it.
            while (loop->park(w) != WakeReason::ready) {
            }
        } catch (...) {
            // Only a failing epoll could get here; returning would free the job under the worker.
            std::fprintf(stderr, "weft: the fiber loop failed while a thread offload was in flight: %s\n",
                         describe_exception(std::current_exception()).c_str());
            std::terminate();
        }
        --loop->offload_waits;
    }
    if (job.error) std::rethrow_exception(job.error);
}

}  // namespace orm::detail

namespace orm {

CpuSlot::CpuSlot() : outer_(!detail::cpu_slot_held) {
    if (!outer_) return;
    detail::CpuSlots::instance().acquire();
    detail::cpu_slot_held = true;
}

CpuSlot::~CpuSlot() {
    if (!outer_) return;
    detail::cpu_slot_held = false;
    detail::CpuSlots::instance().release();
}

CpuSlot::Pause::Pause() : held_(detail::cpu_slot_held) {
    if (!held_) return;
    detail::cpu_slot_held = false;
    detail::CpuSlots::instance().release();
}

CpuSlot::Pause::~Pause() {
    if (!held_) return;
    detail::CpuSlots::instance().acquire();
    detail::cpu_slot_held = true;
}

}  // namespace orm
