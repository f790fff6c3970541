// Feature flag names, so runners and tests can print and look up flags by name.
#include "drivers/features.hpp"

namespace orm::db {

const std::vector<FeatureFlag>& feature_flags() {
    static const std::vector<FeatureFlag> flags = {
        {"supports_returning", &Features::supports_returning},
        {"has_last_insert_id", &Features::has_last_insert_id},
        {"can_return_rows_from_bulk_insert", &Features::can_return_rows_from_bulk_insert},
        {"supports_savepoints", &Features::supports_savepoints},
        {"supports_transactional_ddl", &Features::supports_transactional_ddl},
        {"supports_select_for_update", &Features::supports_select_for_update},
        {"supports_select_for_update_nowait", &Features::supports_select_for_update_nowait},
        {"supports_select_for_update_skip_locked", &Features::supports_select_for_update_skip_locked},
        {"supports_statement_timeout", &Features::supports_statement_timeout},
        {"supports_cancel", &Features::supports_cancel},
        {"has_native_boolean", &Features::has_native_boolean},
        {"has_native_timestamp", &Features::has_native_timestamp},
        {"case_insensitive_matches_non_ascii", &Features::case_insensitive_matches_non_ascii},
        {"iregex_matches_non_ascii", &Features::iregex_matches_non_ascii},
        {"supports_regex", &Features::supports_regex},
        {"supports_concurrent_writers", &Features::supports_concurrent_writers},
        {"enforces_max_length", &Features::enforces_max_length},
        {"strict_column_types", &Features::strict_column_types},
        {"text_allows_nul", &Features::text_allows_nul},
        {"is_embedded", &Features::is_embedded},
        {"supports_distinct_on_fields", &Features::supports_distinct_on_fields},
        {"greatest_least_ignore_nulls", &Features::greatest_least_ignore_nulls},
        {"supports_slicing_ordering_in_compound", &Features::supports_slicing_ordering_in_compound},
        {"supports_intersect_except_all", &Features::supports_intersect_except_all},
        {"supports_copy_in", &Features::supports_copy_in},
        {"supports_pipelining", &Features::supports_pipelining},
        {"supports_ignore_conflicts", &Features::supports_ignore_conflicts},
        {"supports_update_conflicts", &Features::supports_update_conflicts},
        {"supports_update_conflicts_with_target", &Features::supports_update_conflicts_with_target},
    };
    return flags;
}

}  // namespace orm::db
