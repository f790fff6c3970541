// Benchmark helpers (see bench_util.hpp).
#include "bench/bench_util.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

namespace weft::bench {

namespace {
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}
}  // namespace

bool parse_args(int argc, char** argv, Args& a, const char* usage, const ExtraFlag& extra) {
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        const std::function<std::string()> next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (s == "--pg") a.pg_url = next();
        else if (s == "--pgbench") a.pgbench_args = next();
        else if (s == "--sqlite") a.sqlite_path = next();
        else if (s == "--rounds") a.rounds = std::max(1, std::atoi(next().c_str()));
        else if (s == "--json") a.json = next();
        else if (s == "--quick") a.quick = true;
        else if (!extra || !extra(s, next)) {
            fmt::print(stderr, "usage: {}\n", usage);
            return false;
        }
    }
    return true;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Sample measure(std::int64_t ops, const std::function<void(std::int64_t)>& body) { return measure(0, ops, body); }

Sample measure(std::int64_t first, std::int64_t last, const std::function<void(std::int64_t)>& body) {
    auto start = std::chrono::steady_clock::now();
    double cpu0 = thread_cpu_seconds();
    for (std::int64_t i = first; i < last; ++i) body(i);
    double cpu = thread_cpu_seconds() - cpu0;
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto ops = static_cast<double>(last - first);
    return {ops / wall, cpu * 1e6 / ops};
}

void set_paired_ratio(Comparison& c, const std::vector<double>& ours, const std::vector<double>& theirs) {
    std::vector<double> ratios;
    for (std::size_t r = 0; r < ours.size() && r < theirs.size(); ++r) {
        if (ours[r] <= 0 || theirs[r] <= 0) continue;
        ratios.push_back(c.lower_is_better ? theirs[r] / ours[r] : ours[r] / theirs[r]);
    }
    if (ratios.empty()) return;
    c.paired_ratio = median(ratios);
    c.ratio_min = *std::min_element(ratios.begin(), ratios.end());
    c.ratio_max = *std::max_element(ratios.begin(), ratios.end());
}

Comparison compare(std::string name, std::string baseline, double target, int rounds, std::int64_t ops,
                   const std::function<void(std::int64_t)>& ours, const std::function<void(std::int64_t)>& theirs) {
    measure(std::max<std::int64_t>(ops / 10, 1), ours);  // warm caches, statement caches, pages
    measure(std::max<std::int64_t>(ops / 10, 1), theirs);
    const std::int64_t slices = std::clamp<std::int64_t>(ops, 1, 10);
    std::vector<double> o_ops, o_cpu, t_ops, t_cpu, o_slice, t_slice;
    for (int r = 0; r < rounds; ++r) {
        double o_wall = 0, o_cpu_s = 0, t_wall = 0, t_cpu_s = 0;
        for (std::int64_t k = 0; k < slices; ++k) {
            const std::int64_t first = ops * k / slices, last = ops * (k + 1) / slices;
            const auto n = static_cast<double>(last - first);
            // Alternate which goes first so drift on a shared machine hits both alike.
            Sample a, b;
            if ((r * slices + k) % 2 == 0) {
                a = measure(first, last, ours);
                b = measure(first, last, theirs);
            } else {
                b = measure(first, last, theirs);
                a = measure(first, last, ours);
            }
            o_slice.push_back(a.ops_per_sec);
            t_slice.push_back(b.ops_per_sec);
            o_wall += n / a.ops_per_sec;
            o_cpu_s += a.cpu_us_per_op * n;
            t_wall += n / b.ops_per_sec;
            t_cpu_s += b.cpu_us_per_op * n;
        }
        o_ops.push_back(static_cast<double>(ops) / o_wall);
        o_cpu.push_back(o_cpu_s / static_cast<double>(ops));
        t_ops.push_back(static_cast<double>(ops) / t_wall);
        t_cpu.push_back(t_cpu_s / static_cast<double>(ops));
    }
    Comparison c{std::move(name), std::move(baseline), target, {median(o_ops), median(o_cpu)}, {median(t_ops), median(t_cpu)}};
    set_paired_ratio(c, o_slice, t_slice);
    fmt::print("  {:<44} ours {:>10.0f}/s ({:.2f} us cpu)  {} {:>10.0f}/s ({:.2f} us cpu)  ratio {:.3f} "
               "(slices {:.3f}-{:.3f})\n",
               c.name, c.ours.ops_per_sec, c.ours.cpu_us_per_op, c.baseline, c.theirs.ops_per_sec,
               c.theirs.cpu_us_per_op, c.ratio(), c.ratio_min, c.ratio_max);
    std::fflush(stdout);
    return c;
}

void print_table(const std::vector<Comparison>& rows) {
    fmt::print("\n{:<58} {:>12} {:>8} {:<16} {:>12} {:>8} {:>6} {:>6} {:>11} {:>6}\n", "benchmark", "ours", "cpu us",
               "baseline", "theirs", "cpu us", "unit", "ratio", "range", "target");
    fmt::print("{}\n", std::string(152, '-'));
    auto num = [](double v) { return v >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.2f}", v); };
    auto cpu = [](double v) { return v > 0 ? fmt::format("{:.2f}", v) : std::string("-"); };
    for (const auto& r : rows) {
        // The range of the paired ratios (per slice or per round; the ratio column is their median).
        std::string range = r.paired_ratio > 0 ? fmt::format("{:.2f}-{:.2f}", r.ratio_min, r.ratio_max) : "-";
        fmt::print("{:<58} {:>12} {:>8} {:<16} {:>12} {:>8} {:>6} {:>6.3f} {:>11} {:>6.2f}{}\n", r.name,
                   num(r.ours.ops_per_sec), cpu(r.ours.cpu_us_per_op), r.baseline, num(r.theirs.ops_per_sec),
                   cpu(r.theirs.cpu_us_per_op), r.unit, r.ratio(), range, r.target,
                   r.ratio() >= r.target ? "" : "  (below target)");
    }
}

void write_json(const std::string& path, const std::vector<Comparison>& rows) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write " + path);
    fmt::print(f, "[\n");
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        fmt::print(f,
                   "  {{\"name\": \"{}\", \"ours\": {:.1f}, \"baseline\": \"{}\", \"theirs\": {:.1f}, \"ratio\": {:.4f}, "
                   "\"target\": {:.2f}, \"unit\": \"{}\", \"ours_cpu_us\": {:.3f}, \"theirs_cpu_us\": {:.3f}, "
                   "\"ratio_min\": {:.4f}, \"ratio_max\": {:.4f}}}{}\n",
                   json_escape(r.name), r.ours.ops_per_sec, json_escape(r.baseline), r.theirs.ops_per_sec, r.ratio(),
                   r.target, r.unit, r.ours.cpu_us_per_op, r.theirs.cpu_us_per_op, r.paired_ratio > 0 ? r.ratio_min : r.ratio(),
                   r.paired_ratio > 0 ? r.ratio_max : r.ratio(), i + 1 < rows.size() ? "," : "");
    }
    fmt::print(f, "]\n");
    std::fclose(f);
}

}  // namespace weft::bench
