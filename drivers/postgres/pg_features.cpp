// PostgreSQL feature flags (PostgreSQL 12 or later assumed: identity columns, shortest-exact floats).
#include "drivers/postgres/pg_features.hpp"

namespace orm::db::postgres {

const Features& pg_features() {
    static const Features f = [] {
        Features x;
        x.supports_returning = true;
        x.has_last_insert_id = false;  // no session-wide "last id": use INSERT ... RETURNING
        x.can_return_rows_from_bulk_insert = true;
        x.supports_savepoints = true;
        x.supports_transactional_ddl = true;
        x.supports_select_for_update = true;
        x.supports_select_for_update_nowait = true;
        x.supports_select_for_update_skip_locked = true;
        x.supports_statement_timeout = true;
        x.supports_cancel = true;
        x.has_native_boolean = true;
        x.has_native_timestamp = true;
        // upper() folds non-ASCII letters under any non-C LC_CTYPE (C.UTF-8, en_US.UTF-8...);
        // a database created with LC_CTYPE=C folds ASCII only: each connection asks its database
        // (PgConnection::configure_session) and its features say so.
        x.case_insensitive_matches_non_ascii = true;
        x.iregex_matches_non_ascii = true;  // ~* folds as upper() does: the same LC_CTYPE decides
        x.supports_regex = true;
        x.regex_syntax = RegexSyntax::posix_are;
        x.supports_concurrent_writers = true;
        x.enforces_max_length = true;
        x.strict_column_types = true;
        // The protocol counts parameters in an Int16 (65535), but libpq before 16 drops the
        // connection ("lost synchronization with server: got message type "t"") when a
        // ParameterDescription exceeds 30000 bytes, i.e. past 7498 parameters, and every
        // statement here is described once after PQprepare. Checked with libpq 15.
        x.max_query_params = 7498;
        x.text_allows_nul = false;
        x.is_embedded = false;
        x.supports_copy_in = true;  // PgConnection::copy_in (pg_copy.cpp): binary COPY
        x.supports_pipelining = true;  // pg_pipeline.cpp (libpq pipeline mode)
        return x;
    }();
    return f;
}

}  // namespace orm::db::postgres
