// The aggregate functions SQLite lacks and the ORM's StdDev / Variance need, registered on
// every connection as PostgreSQL names them: STDDEV_POP, STDDEV_SAMP, VAR_POP, VAR_SAMP.
// Internal to the SQLite driver.
#pragma once

struct sqlite3;

namespace orm::db::sqlite {

// Welford's running mean and sum of squared deviations (no cancellation of large squares).
// NULLs are skipped; no values give NULL, and so does a sample of one value, as on PostgreSQL.
void register_statistics(sqlite3* db);

}  // namespace orm::db::sqlite
