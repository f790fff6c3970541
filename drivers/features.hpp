// Features: what a backend can do. Library code and tests ask these flags, never the vendor name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace orm::db {

// The pattern language of the regex / iregex lookups (Features::regex_syntax).
enum class RegexSyntax : std::uint8_t {
    none,        // no regular expression lookups
    ecmascript,  // std::regex ECMAScript: \b word boundary, no lookbehind (no backend uses it now)
    posix_are,   // PostgreSQL's advanced regular expressions: \y word boundary, \b is a backspace,
                 // lookbehind (?<=...), [[:<:]] / \m \M word starts and ends
    pcre2,       // PCRE2 (SQLite here), Perl's syntax as Python's re has it: \b word boundary,
                 // lookbehind, \p{L} Unicode properties; \y and other unknown escapes are errors
};

struct Features {
    // INSERT/UPDATE/DELETE ... RETURNING cols.
    bool supports_returning = false;
    // Connection::last_insert_id() gives the key of the last inserted row.
    bool has_last_insert_id = false;
    // Multi-row INSERT ... RETURNING gives every new key (bulk_create can fill primary keys).
    bool can_return_rows_from_bulk_insert = false;
    bool supports_savepoints = true;
    // CREATE/DROP TABLE inside a transaction is rolled back with it.
    bool supports_transactional_ddl = true;
    // SELECT ... FOR UPDATE, and its NOWAIT / SKIP LOCKED variants.
    bool supports_select_for_update = false;
    bool supports_select_for_update_nowait = false;
    bool supports_select_for_update_skip_locked = false;
    // Server-side statement timeout that cancels the statement on the server.
    bool supports_statement_timeout = false;
    // Connection::cancel() interrupts a running statement.
    bool supports_cancel = true;
    // A native boolean column type (else stored as 0/1 integers).
    bool has_native_boolean = false;
    // Timestamps stored with a time zone (else stored as UTC text).
    bool has_native_timestamp = false;
    // Case-insensitive comparisons fold non-ASCII letters (e.g. 'É' iexact 'é'): iexact,
    // icontains, istartswith, iendswith.
    bool case_insensitive_matches_non_ascii = false;
    // iregex folds non-ASCII letters ('^é' matches "Élodie").
    bool iregex_matches_non_ascii = false;
    // Regular expression lookups run in the database.
    bool supports_regex = false;
    // Which syntax those patterns use. The common ground (classes [a-z], anchors ^ $, . * + ?,
    // alternation, groups, {m,n}, \d \s \w) means the same on every backend; beyond it a pattern
    // may mean something else or be an error elsewhere (the conformance suite shows where).
    RegexSyntax regex_syntax = RegexSyntax::none;
    // Several connections can write at the same time (else writers serialize on a file lock).
    bool supports_concurrent_writers = false;
    // Enforces varchar(n) lengths itself (else only the ORM checks max_length).
    bool enforces_max_length = false;
    // Column types are enforced (SQLite's flexible typing lets '12abc' into an integer column).
    bool strict_column_types = false;
    // Most bound parameters one statement may carry.
    std::size_t max_query_params = 999;
    // TEXT values may contain NUL bytes.
    bool text_allows_nul = false;
    // Connection::copy_in loads rows with COPY (bulk_create uses it for large batches).
    bool supports_copy_in = false;
    // Statements of several fibers can share one connection (PostgreSQL pipeline mode: automatic
    // pipelining in async mode and orm::gather), when the URL leaves pipelining on.
    bool supports_pipelining = false;
    // The database lives in this process (no server to lose, no network round trip).
    bool is_embedded = false;
    // The flags below default to true, what standard SQL and PostgreSQL do; a backend that
    // cannot sets them false.
    // SELECT DISTINCT ON (fields): distinct("a", "b") (else orm::NotSupportedError).
    bool supports_distinct_on_fields = true;
    // INSERT ... ON CONFLICT DO NOTHING (bulk_create(ignore_conflicts)).
    bool supports_ignore_conflicts = true;
    // INSERT ... ON CONFLICT (unique fields) DO UPDATE SET col = EXCLUDED.col (bulk_create(update_conflicts)).
    bool supports_update_conflicts = true;
    // ... and the conflict target (unique_fields) must be named.
    bool supports_update_conflicts_with_target = true;
    // Greatest() / Least() skip NULL operands (PostgreSQL); else any NULL makes them NULL (SQLite).
    bool greatest_least_ignore_nulls = true;
    // union() / intersection() / difference(): a combined queryset may be ordered or sliced
    // (each is then written in parentheses); else such a queryset is an orm::DatabaseError,
    // as Django's "ORDER BY not allowed in subqueries of compound statements".
    bool supports_slicing_ordering_in_compound = true;
    // intersection(all=true) / difference(all=true): INTERSECT ALL / EXCEPT ALL (else
    // orm::NotSupportedError naming the backend; union(all=true) works everywhere).
    bool supports_intersect_except_all = true;
};

// Flag names with pointers, so runners can print and look up features by name.
struct FeatureFlag {
    std::string_view name;
    bool Features::*flag;
};
const std::vector<FeatureFlag>& feature_flags();

}  // namespace orm::db
