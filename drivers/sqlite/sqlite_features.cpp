// The SQLite backend's capability flags, set from what the linked library actually does.
#include "drivers/sqlite/sqlite_features.hpp"

#include <sqlite3.h>

#include "drivers/sqlite/sqlite_handles.hpp"

namespace orm::db::sqlite {

Features make_features() {
    Features f;
    f.supports_returning = sqlite3_libversion_number() >= 3035000;  // RETURNING arrived in 3.35
    f.has_last_insert_id = true;
    f.can_return_rows_from_bulk_insert = f.supports_returning;
    f.supports_savepoints = true;
    f.supports_transactional_ddl = true;
    // Writers lock the whole file; there are no row locks to take.
    f.supports_select_for_update = false;
    f.supports_select_for_update_nowait = false;
    f.supports_select_for_update_skip_locked = false;
    // A progress handler interrupts the statement inside the library once its deadline passes.
    f.supports_statement_timeout = true;
    f.supports_cancel = true;  // sqlite3_interrupt
    f.has_native_boolean = false;
    f.has_native_timestamp = false;
    // The built-in NOCASE / LIKE / lower() fold ASCII only (without the ICU extension).
    f.case_insensitive_matches_non_ascii = false;
    f.supports_regex = true;  // PCRE2 functions registered on every connection (sqlite_regexp.cpp)
    f.regex_syntax = RegexSyntax::pcre2;
    f.iregex_matches_non_ascii = true;  // PCRE2 caseless matching with Unicode properties
    f.supports_concurrent_writers = false;
    f.enforces_max_length = false;
    f.strict_column_types = false;
    // Values bound with an explicit length keep NUL bytes and read back whole; SQL string
    // functions (length, LIKE, substr) still stop at the first NUL.
    f.text_allows_nul = true;
    f.is_embedded = true;
    f.supports_distinct_on_fields = false;  // no SELECT DISTINCT ON
    f.greatest_least_ignore_nulls = false;  // the scalar MAX() / MIN() are NULL when an operand is
    f.supports_slicing_ordering_in_compound = false;  // no ORDER BY / LIMIT in a compound's parts
    f.supports_intersect_except_all = false;          // INTERSECT and EXCEPT without ALL only

    f.max_query_params = 999;  // SQLite's historical default, if probing fails
    sqlite3* raw = nullptr;
    if (sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, nullptr) == SQLITE_OK) {
        int limit = sqlite3_limit(raw, SQLITE_LIMIT_VARIABLE_NUMBER, -1);
        if (limit > 0) f.max_query_params = static_cast<std::size_t>(limit);
    }
    DbPtr owned(raw);
    return f;
}

}  // namespace orm::db::sqlite
