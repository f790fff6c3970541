// STDDEV_POP / STDDEV_SAMP / VAR_POP / VAR_SAMP for SQLite (see sqlite_statistics.hpp).
#include "drivers/sqlite/sqlite_statistics.hpp"

#include <cmath>
#include <cstdint>

#include <sqlite3.h>

namespace orm::db::sqlite {

namespace {

struct Running {
    std::int64_t n;
    double mean;
    double m2;  // sum of squared deviations from the mean
};

void step(sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
    auto* r = static_cast<Running*>(sqlite3_aggregate_context(ctx, sizeof(Running)));
    if (!r) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    const double x = sqlite3_value_double(argv[0]);
    ++r->n;
    const double delta = x - r->mean;
    r->mean += delta / static_cast<double>(r->n);
    r->m2 += delta * (x - r->mean);
}

template <bool Sample, bool Root>
void finish(sqlite3_context* ctx) {
    auto* r = static_cast<Running*>(sqlite3_aggregate_context(ctx, 0));
    const std::int64_t n = r ? r->n : 0;
    if (n == 0 || (Sample && n < 2)) {
        sqlite3_result_null(ctx);
        return;
    }
    const double var = r->m2 / static_cast<double>(Sample ? n - 1 : n);
    sqlite3_result_double(ctx, Root ? std::sqrt(var) : var);
}

}  // namespace

void register_statistics(sqlite3* db) {
    constexpr int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    sqlite3_create_function(db, "STDDEV_POP", 1, flags, nullptr, nullptr, step, finish<false, true>);
    sqlite3_create_function(db, "STDDEV_SAMP", 1, flags, nullptr, nullptr, step, finish<true, true>);
    sqlite3_create_function(db, "VAR_POP", 1, flags, nullptr, nullptr, step, finish<false, false>);
    sqlite3_create_function(db, "VAR_SAMP", 1, flags, nullptr, nullptr, step, finish<true, false>);
}

}  // namespace orm::db::sqlite
