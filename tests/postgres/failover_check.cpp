// failover_check: writes under load through a libpq multi-host URL while the primary is killed and
// the standby promoted (issue 16, item 8), then counts what was acknowledged and lost.
//
//   failover_check --url MULTIHOST_URL --verify-url NEW_PRIMARY_URL --kill CMD --promote CMD
//                  [--mode sync|async] [--writers N] [--before SECONDS] [--after SECONDS]
//                  [--expect-no-loss] [--max-recovery SECONDS] [--label TEXT]
//
// Writers (threads in sync mode, fibers of one loop in async mode) share one pool and each
// inserts rows with ids of its own, one statement (one transaction) at a time, remembering every
// id whose INSERT was acknowledged. After --before seconds of load the primary is killed (--kill,
// pg_ctl -m immediate) and the standby promoted (--promote). The writers keep going: statements on
// the dead connections fail, the pool discards those connections, and new ones find the promoted
// server through the multi-host URL (target_session_attrs=read-write skips the dead host and the
// standby until it is promoted). After --after seconds more the rows on the new primary
// (--verify-url) are compared with the acknowledged ids.
//
// The primary is killed before the standby is promoted, as a failover manager does: promoting
// first would let the old primary, still first in the host list, go on acknowledging writes that
// the new timeline never sees (a split brain no client can repair).
//
// Prints one line "failover: key=value ..." and exits 0; with --expect-no-loss it exits 1 when an
// acknowledged write is missing, and with --max-recovery when writes did not resume in time.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "drivers/bridge/bridge.hpp"
#include "drivers/database.hpp"
#include "drivers/errors.hpp"

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Options {
    std::string url, verify_url, kill, promote, mode = "async", label;
    int writers = 8;
    double before = 2, after = 4, max_recovery = 0;
    bool expect_no_loss = false;
};

struct Shared {
    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> killed_at_ns{0};   // 0 until the kill command starts
    std::atomic<std::int64_t> dead_at_ns{0};     // 0 until the kill command returned (the primary is gone)
    std::atomic<std::int64_t> first_ok_after_ns{0};
    std::atomic<std::int64_t> last_ok_before_ns{0};
    std::atomic<std::uint64_t> ok_before{0}, ok_after{0}, failures{0};
    std::mutex mu;
    std::vector<std::int64_t> acknowledged;
    std::set<std::string> errors;  // distinct error families seen
    Clock::time_point start = Clock::now();
    std::int64_t now_ns() const { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count(); }
};

void writer(orm::db::Database& db, Shared& s, int w) {
    std::vector<std::int64_t> mine;
    std::int64_t seq = 0;
    while (!s.stop.load()) {
        const std::int64_t id = std::int64_t(w) * 1'000'000'000 + ++seq;
        // A write started after the kill command returned can only be acknowledged by the
        // promoted server; one started before the kill began, only by the old primary.
        const std::int64_t started = s.now_ns();
        const std::int64_t dead_at = s.dead_at_ns.load();
        const bool after = dead_at > 0 && started >= dead_at;
        const bool before = s.killed_at_ns.load() == 0;
        try {
            auto c = db.acquire();
            c->execute("INSERT INTO weft_failover (id, writer) VALUES ($1, $2)", {id, std::int64_t{w}});
            const std::int64_t t = s.now_ns();
            mine.push_back(id);
            if (before) {
                s.ok_before.fetch_add(1);
                std::int64_t prev = s.last_ok_before_ns.load();
                while (prev < t && !s.last_ok_before_ns.compare_exchange_weak(prev, t)) {}
            } else if (after) {
                s.ok_after.fetch_add(1);
                std::int64_t first = s.first_ok_after_ns.load();
                while ((first == 0 || t < first) && !s.first_ok_after_ns.compare_exchange_weak(first, t)) {}
            }
        } catch (const orm::Error& e) {
            s.failures.fetch_add(1);
            {
                std::lock_guard lock(s.mu);
                s.errors.insert(e.sqlstate().empty() ? std::string("none") : e.sqlstate());
            }
            orm::sleep_for(20ms);  // a failed connect is fast on loopback: do not spin
        }
    }
    std::lock_guard lock(s.mu);
    s.acknowledged.insert(s.acknowledged.end(), mine.begin(), mine.end());
}

int run(const Options& o) {
    orm::set_async(o.mode == "async");
    auto db = orm::db::Database::open(o.url + (o.url.find('?') == std::string::npos ? "?" : "&") +
                                      fmt::format("pool_size={}&pool_timeout=30s&connect_timeout=3s&statement_timeout=5s",
                                                  o.writers));
    {
        auto c = db->acquire();
        c->execute_script("DROP TABLE IF EXISTS weft_failover; CREATE TABLE weft_failover (id bigint PRIMARY KEY, writer int)");
    }
    Shared s;
    auto controller = [&] {
        std::this_thread::sleep_for(std::chrono::duration<double>(o.before));
        s.killed_at_ns.store(s.now_ns());
        if (std::system(o.kill.c_str()) != 0) std::fprintf(stderr, "failover_check: the kill command failed\n");
        const std::int64_t killed = s.now_ns();
        s.dead_at_ns.store(killed);
        if (std::system(o.promote.c_str()) != 0) std::fprintf(stderr, "failover_check: the promote command failed\n");
        const std::int64_t promoted = s.now_ns();
        std::this_thread::sleep_for(std::chrono::duration<double>(o.after));
        s.stop.store(true);
        return std::pair{killed, promoted};
    };
    std::pair<std::int64_t, std::int64_t> times;
    if (o.mode == "async") {
        // The controller blocks (system()), so it runs on a thread of its own; the writers are
        // fibers of this thread's loop.
        std::thread ctl([&] { times = controller(); });
        orm::run([&] {
            std::vector<orm::Task<void>> tasks;
            for (int w = 0; w < o.writers; ++w) tasks.push_back(orm::spawn(fmt::format("writer-{}", w), [&, w] { writer(*db, s, w); }));
            orm::join_all(tasks);
        });
        ctl.join();
    } else {
        std::vector<std::thread> threads;
        for (int w = 0; w < o.writers; ++w) threads.emplace_back([&, w] { writer(*db, s, w); });
        times = controller();
        for (auto& t : threads) t.join();
    }
    db->pool().close();

    // What the new primary has.
    orm::set_async(false);
    auto verify = orm::db::Database::open(o.verify_url);
    std::set<std::int64_t> present;
    {
        auto c = verify->acquire();
        auto r = c->execute("SELECT id FROM weft_failover");
        while (r.next()) present.insert(r.row().get<std::int64_t>(0));
    }
    std::size_t lost = 0;
    for (std::int64_t id : s.acknowledged) lost += present.count(id) == 0;
    const std::size_t unacknowledged_present = present.size() - (s.acknowledged.size() - lost);
    auto ms = [](std::int64_t ns) { return double(ns) / 1e6; };
    const std::int64_t killed_at = s.killed_at_ns.load();
    const std::int64_t first_after = s.first_ok_after_ns.load();
    // From the moment the primary was gone (the kill command returned) to the first write the
    // promoted server acknowledged: promotion, the pool dropping dead connections, reconnecting.
    const double recovery_ms = first_after > 0 ? ms(first_after - times.first) : -1;
    const double before_rate = double(s.ok_before.load()) / o.before;
    std::string errors;
    for (const auto& e : s.errors) errors += (errors.empty() ? "" : ",") + e;
    fmt::print("failover: label={} mode={} writers={} acknowledged={} lost={} unacknowledged_committed={} "
               "recovery_ms={:.0f} kill_ms={:.0f} promote_ms={:.0f} gap_ms={:.0f} writes_per_s_before={:.0f} "
               "writes_after={} failures={} sqlstates={}\n",
               o.label, o.mode, o.writers, s.acknowledged.size(), lost, unacknowledged_present, recovery_ms,
               ms(times.first - killed_at), ms(times.second - times.first),
               first_after > 0 ? ms(first_after - s.last_ok_before_ns.load()) : -1.0, before_rate, s.ok_after.load(),
               s.failures.load(), errors.empty() ? "-" : errors);
    int status = 0;
    if (o.expect_no_loss && lost > 0) {
        std::fprintf(stderr, "failover_check: %zu acknowledged writes are missing on the new primary\n", lost);
        status = 1;
    }
    if (first_after == 0) {
        std::fprintf(stderr, "failover_check: no write succeeded after the failover\n");
        status = 1;
    } else if (o.max_recovery > 0 && recovery_ms > o.max_recovery * 1000) {
        std::fprintf(stderr, "failover_check: writes resumed only after %.0f ms\n", recovery_ms);
        status = 1;
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "failover_check: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--url") o.url = value();
        else if (a == "--verify-url") o.verify_url = value();
        else if (a == "--kill") o.kill = value();
        else if (a == "--promote") o.promote = value();
        else if (a == "--mode") o.mode = value();
        else if (a == "--label") o.label = value();
        else if (a == "--writers") o.writers = std::stoi(value());
        else if (a == "--before") o.before = std::stod(value());
        else if (a == "--after") o.after = std::stod(value());
        else if (a == "--max-recovery") o.max_recovery = std::stod(value());
        else if (a == "--expect-no-loss") o.expect_no_loss = true;
        else {
            std::fprintf(stderr, "failover_check: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (o.url.empty() || o.verify_url.empty() || o.kill.empty() || o.promote.empty() ||
        (o.mode != "sync" && o.mode != "async")) {
        std::fprintf(stderr, "usage: failover_check --url MULTIHOST_URL --verify-url URL --kill CMD --promote CMD "
                             "[--mode sync|async] [--writers N] [--before S] [--after S] [--expect-no-loss] "
                             "[--max-recovery S] [--label TEXT]\n");
        return 2;
    }
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "failover_check: %s\n", e.what());
        return 1;
    }
}
