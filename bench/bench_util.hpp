// Benchmark helpers: alternate ours and the baseline several times, take medians of throughput,
// of client CPU per operation and of the per-round ratio, print a table, and write JSON records.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

namespace weft::bench {

struct Sample {
    double ops_per_sec = 0;
    double cpu_us_per_op = 0;  // CPU time of the calling thread (client side)
};

// Runs `ops` operations through `body(i)` once and measures wall and thread CPU time.
Sample measure(std::int64_t ops, const std::function<void(std::int64_t)>& body);
// The same for body(first) .. body(last - 1).
Sample measure(std::int64_t first, std::int64_t last, const std::function<void(std::int64_t)>& body);

struct Comparison {
    std::string name;
    std::string baseline;
    double target = 0;  // the ratio the issue asks for
    Sample ours, theirs;
    // Most rows are throughputs (ops/s, higher is better); a few are latencies or sizes, where
    // the ratio is inverted so that >= target still means "good".
    std::string unit = "ops/s";
    bool lower_is_better = false;
    // From compare(): the median and the range of the per-slice ratios (each round is cut into
    // slices, and each slice measures ours and the baseline back to back on the same operations,
    // so drift of the machine's speed cancels within a slice, and a stall of a few tens of
    // milliseconds spoils one slice of many rather than a whole round). Zero when not measured
    // in rounds: the ratio of the medians stands in.
    double paired_ratio = 0, ratio_min = 0, ratio_max = 0;
    double ratio() const {
        if (paired_ratio > 0) return paired_ratio;
        if (lower_is_better) return ours.ops_per_sec > 0 ? theirs.ops_per_sec / ours.ops_per_sec : 0;
        return theirs.ops_per_sec > 0 ? ours.ops_per_sec / theirs.ops_per_sec : 0;
    }
};

// Runs ours and theirs over the same `ops` operations `rounds` times (after one warm-up each),
// alternating in slices of the round (up to 10, each side in turn going first), and keeps the
// medians of each side's per-round throughput and CPU and of the per-slice ratios.
Comparison compare(std::string name, std::string baseline, double target, int rounds, std::int64_t ops,
                   const std::function<void(std::int64_t)>& ours, const std::function<void(std::int64_t)>& theirs);

// Sets c's paired ratio and its range from paired throughputs (ours[r] against theirs[r]).
void set_paired_ratio(Comparison& c, const std::vector<double>& ours, const std::vector<double>& theirs);

void print_table(const std::vector<Comparison>& rows);
// Writes [{"name", "ours", "baseline", "theirs", "ratio", "target", "unit", "ours_cpu_us", "theirs_cpu_us",
// "ratio_min", "ratio_max"}, ...].
void write_json(const std::string& path, const std::vector<Comparison>& rows);

double median(std::vector<double> v);

// The command line every benchmark program takes: --pg URL, --pgbench "ARGS", --sqlite PATH,
// --rounds N, --json FILE, --quick. `extra` handles program-specific flags (it gets the flag
// and a function returning the next argument) and returns false for unknown ones.
struct Args {
    std::string pg_url, pgbench_args, sqlite_path, json;
    int rounds = 5;
    bool quick = false;
};
using ExtraFlag = std::function<bool(const std::string& flag, const std::function<std::string()>& next)>;
// Returns false (after printing `usage` to stderr) on an unknown flag.
bool parse_args(int argc, char** argv, Args& a, const char* usage, const ExtraFlag& extra = {});

}  // namespace weft::bench
