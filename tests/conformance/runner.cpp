// weft-conformance: runs the conformance suite against a database URL in one or both modes.
//   weft-conformance --url URL [--url2 URL] [--replica-url URL] [--mode sync|async|both] [--prefix P] [--filter TEXT] [--list] [--quiet]
// Prints one line per test, a summary line per backend and mode ("conformance sqlite-async: ..."),
// and a final "N passed, N failed, N skipped" line. Exit status 0 when nothing failed. In async
// mode each test runs as the root fiber of orm::run with orm::set_async(true).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tests/conformance/harness.hpp"
#include "tests/conformance/modes.hpp"
#include "tests/conformance/replica.hpp"

using namespace weft::conformance;

namespace {

struct Counts {
    int passed = 0, failed = 0, skipped = 0;
};

void usage(FILE* out) {
    fmt::print(out,
               "usage: weft-conformance --url URL [--url2 URL] [--mode sync|async|both] [--prefix PREFIX] "
               "[--replica-url URL] [--filter TEXT] [--list] [--quiet]\n"
               "  URL: sqlite:///path/to.db, sqlite::memory:, postgresql://user@host/db, or 'host=... dbname=...'\n"
               "  --url2: a second database of the same backend for the multi-database tests; without it a\n"
               "    SQLite file gets a sibling (x.db -> x.second.db), :memory: another in-memory database, and\n"
               "    PostgreSQL the same database with search_path set to the schema PREFIXsecond.\n"
               "  --replica-url: a hot standby of --url (streaming replication) for the primary/replica router\n"
               "    tests, which skip without it.\n"
               "  Tables are created as PREFIX<name> (default weft_ct_) and dropped afterwards.\n");
}

Counts run_mode(const std::string& url, const std::string& url2, const std::string& prefix, const std::string& mode,
                const std::string& filter, bool quiet, std::string& label) {
    Counts counts;
    label = mode;
    for (const auto& test : registry()) {
        if (!filter.empty() && test.name.find(filter) == std::string::npos) continue;
        Context ctx(url, prefix, mode, url2);
        std::string skip_reason, error;
        try {
            run_in_mode(mode, [&] {
                if (label == mode) label = fmt::format("{}-{}", ctx.db().backend().name(), mode);
                try {
                    test.fn(ctx);
                } catch (const Abort&) {
                }
                ctx.finish();
            });
        } catch (const Skip& s) {
            skip_reason = s.reason;
        } catch (const std::exception& e) {
            error = fmt::format("unexpected exception: {}", e.what());
        }
        try {
            ctx.finish();
        } catch (const std::exception& e) {
            if (error.empty()) error = fmt::format("cleanup failed: {}", e.what());
        }
        if (!skip_reason.empty()) {
            ++counts.skipped;
            if (!quiet) fmt::print("SKIP  {} ({})\n", test.name, skip_reason);
        } else if (!error.empty() || !ctx.failures().empty()) {
            ++counts.failed;
            fmt::print("FAIL  {}\n", test.name);
            for (const auto& f : ctx.failures()) fmt::print("      {}\n", f);
            if (!error.empty()) fmt::print("      {}\n", error);
        } else {
            ++counts.passed;
            if (!quiet) fmt::print("PASS  {}\n", test.name);
        }
        if (!quiet)
            for (const auto& n : ctx.notes()) fmt::print("      note: {}\n", n);
        std::fflush(stdout);
    }
    return counts;
}

}  // namespace

int main(int argc, char** argv) {
    std::string url, url2, mode = "sync", prefix = "weft_ct_", filter;
    bool list = false, quiet = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                fmt::print(stderr, "weft-conformance: {} needs a value\n", a);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--url") url = value();
        else if (a == "--url2") url2 = value();
        else if (a == "--replica-url") replica_url() = value();
        else if (a == "--mode") mode = value();
        else if (a == "--prefix") prefix = value();
        else if (a == "--filter") filter = value();
        else if (a == "--list") list = true;
        else if (a == "--quiet") quiet = true;
        else if (a == "--help" || a == "-h") { usage(stdout); return 0; }
        else {
            fmt::print(stderr, "weft-conformance: unknown argument '{}'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (list) {
        for (const auto& t : registry()) fmt::print("{}\n", t.name);
        return 0;
    }
    if (url.empty()) {
        usage(stderr);
        return 2;
    }
    std::vector<std::string> modes;
    if (mode == "both") modes = {"sync", "async"};
    else if (mode == "sync" || mode == "async") modes = {mode};
    else {
        fmt::print(stderr, "weft-conformance: unknown mode '{}'; valid modes: sync, async, both\n", mode);
        return 2;
    }
    for (const auto& m : modes) {
        if (!mode_available(m)) {
            fmt::print(stderr, "weft-conformance: mode '{}' is not available in this build\n", m);
            return 2;
        }
    }
    try {
        fmt::print("weft-conformance: {} ({} tests), prefix {}\n", orm::db::mask_password(url), registry().size(), prefix);
        (void)orm::db::parse_url(url);
        if (!url2.empty()) {
            fmt::print("weft-conformance: second database {}\n", orm::db::mask_password(url2));
            (void)orm::db::parse_url(url2);
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "weft-conformance: {}\n", e.what());
        return 2;
    }
    Counts total;
    std::vector<std::string> summaries;
    for (const auto& m : modes) {
        std::string label;
        Counts c = run_mode(url, url2, prefix, m, filter, quiet, label);
        summaries.push_back(fmt::format("conformance {}: {} passed, {} failed, {} skipped", label, c.passed, c.failed,
                                        c.skipped));
        total.passed += c.passed;
        total.failed += c.failed;
        total.skipped += c.skipped;
    }
    for (const auto& s : summaries) fmt::print("{}\n", s);
    fmt::print("{} passed, {} failed, {} skipped\n", total.passed, total.failed, total.skipped);
    return total.failed == 0 ? 0 : 1;
}
