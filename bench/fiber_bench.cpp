// fiber_bench: what the fiber runtime costs on this machine. Run it alone (no concurrent
// builds): build-bench/bench/fiber_bench [--iterations N] [--json FILE] [--quick].
//   switch:   two fibers yielding to each other; ns per yield_now() (fiber -> loop -> fiber)
//   spawn:    spawn + run to completion + join of an empty fiber (stack from the cache, and
//             with a freshly mapped stack each time)
//   offload:  run_in_thread round trip of an empty function from a fiber
//   memory:   VmRSS growth per idle fiber, 10,000 fibers parked on an Event (target <= 16 KiB)
//   baseline: an OS thread switch, two threads handing a token back and forth (futex wait/wake)
// Each timing is the median of 7 runs.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"
#include "drivers/bridge/bridge.hpp"

namespace {

using Clock = std::chrono::steady_clock;

long rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

template <class F>
double median_ns_per_op(long ops, F run_once) {
    std::vector<double> samples;
    for (int i = 0; i < 7; ++i) {
        const auto start = Clock::now();
        run_once();
        samples.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count() / double(ops));
    }
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

// Two OS threads alternating on an atomic token (C++20 wait/notify: a futex): ns per switch.
double thread_switch_ns(long switches) {
    std::atomic<long> token{0};
    auto player = [&](long parity) {
        for (long i = parity; i < switches; i += 2) {
            long t;
            while ((t = token.load(std::memory_order_acquire)) != i) token.wait(t, std::memory_order_acquire);
            token.store(i + 1, std::memory_order_release);
            token.notify_one();
        }
    };
    const auto start = Clock::now();
    std::thread a(player, 0), b(player, 1);
    a.join();
    b.join();
    return std::chrono::duration<double, std::nano>(Clock::now() - start).count() / double(switches);
}

}  // namespace

int main(int argc, char** argv) {
    long iterations = 1'000'000;
    std::string json;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--iterations" && i + 1 < argc) iterations = std::atol(argv[++i]);
        else if (a == "--json" && i + 1 < argc) json = argv[++i];
        else if (a == "--quick") iterations = 100'000;
        else if (a == "--rounds" && i + 1 < argc) ++i;  // accepted for scripts/bench; medians of 7 here
        else {
            std::fprintf(stderr, "usage: fiber_bench [--iterations N] [--json FILE] [--quick]\n");
            return 2;
        }
    }

    // Memory first, on a fresh process: no stack has been touched yet.
    constexpr int idle = 10'000;
    double kib_per_fiber = 0;
    {
        orm::Event go;
        std::vector<orm::Task<void>> tasks;
        tasks.reserve(idle);
        orm::yield_now();
        const long before = rss_kib();
        for (int i = 0; i < idle; ++i) tasks.push_back(orm::spawn([&] { go.wait_until(orm::no_deadline); }));
        orm::yield_now();
        kib_per_fiber = double(rss_kib() - before) / idle;
        go.set();
        for (auto& t : tasks) t.get();
    }

    const double switch_ns = median_ns_per_op(2 * iterations, [&] {
        orm::run([&] {
            for (int f = 0; f < 2; ++f)
                orm::spawn([&] {
                    for (long i = 0; i < iterations; ++i) orm::yield_now();
                });
        });
    });

    const long spawns = iterations / 10;
    const double spawn_ns = median_ns_per_op(spawns, [&] {
        orm::run([&] {
            for (long i = 0; i < spawns; ++i) orm::spawn([] {}).get();
        });
    });

    // The same with every stack freshly mapped (and unmapped): what a burst beyond the cache costs.
    auto fresh = orm::fiber_options();
    const auto saved = fresh;
    fresh.stack_cache = 0;
    orm::set_fiber_options(fresh);
    const long fresh_spawns = std::max(1000L, iterations / 100);
    const double fresh_spawn_ns = median_ns_per_op(fresh_spawns, [&] {
        orm::run([&] {
            for (long i = 0; i < fresh_spawns; ++i) orm::spawn([] {}).get();
        });
    });
    orm::set_fiber_options(saved);

    const long offloads = std::max(1000L, iterations / 100);
    const double offload_ns = median_ns_per_op(offloads, [&] {
        orm::run([&] {
            for (long i = 0; i < offloads; ++i) orm::run_in_thread([] {});
        });
    });

    std::vector<double> thread_samples;
    const long thread_switches = std::max(20'000L, iterations / 10);
    for (int i = 0; i < 7; ++i) thread_samples.push_back(thread_switch_ns(thread_switches));
    const double os_switch_ns = weft::bench::median(thread_samples);

    const auto options = orm::fiber_options();
    std::printf("fiber runtime micro-benchmark (stack %zu KiB, guard pages %s, slow-fiber check %lld ms)\n",
                options.stack_size / 1024, options.guard_pages ? "on" : "off",
                static_cast<long long>(options.slow_fiber_threshold.count()));
    std::printf("  %-36s %10.1f ns\n", "switch (yield_now, per switch)", switch_ns);
    std::printf("  %-36s %10.1f ns\n", "spawn + run + join (empty fiber)", spawn_ns);
    std::printf("  %-36s %10.1f ns\n", "  the same, stack mapped each time", fresh_spawn_ns);
    std::printf("  %-36s %10.1f ns\n", "run_in_thread round trip (empty fn)", offload_ns);
    std::printf("  %-36s %10.2f KiB  (%d fibers parked on an Event)\n", "resident memory per idle fiber",
                kib_per_fiber, idle);
    std::printf("  %-36s %10.1f ns\n", "OS thread switch (futex ping-pong)", os_switch_ns);

    using weft::bench::Comparison;
    std::vector<Comparison> rows;
    Comparison sw{"fiber switch (yield_now)", "OS thread switch", 1.0, {switch_ns, 0}, {os_switch_ns, 0}};
    sw.unit = "ns";
    sw.lower_is_better = true;
    rows.push_back(sw);
    Comparison mem{"resident memory per idle fiber (10,000 parked)", "target 16 KiB", 1.0, {kib_per_fiber, 0}, {16.0, 0}};
    mem.unit = "KiB";
    mem.lower_is_better = true;
    rows.push_back(mem);
    weft::bench::print_table(rows);
    if (!json.empty()) weft::bench::write_json(json, rows);
    return 0;
}
