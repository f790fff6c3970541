// Dialect (Django's "operations"): how a backend spells things in SQL. The ORM's compiler asks
// the dialect for every vendor-specific piece of text; it never checks which backend it talks to.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "drivers/value.hpp"

namespace orm::db {

class Dialect {
public:
    virtual ~Dialect() = default;
    virtual std::string_view name() const = 0;

    // Quotes an identifier ("a""b" for a"b). Throws orm::InterfaceError for empty names or NUL bytes.
    virtual std::string quote_name(std::string_view identifier) const;
    // The placeholder for the index-th bound parameter (1-based): "?" or "$1".
    virtual std::string placeholder(std::size_t index) const = 0;
    // " LIMIT n OFFSET m" (with a leading space), or "" when neither is set.
    virtual std::string limit_offset(std::optional<std::int64_t> limit, std::int64_t offset) const;
    // An SQL literal, for the few places parameters cannot go (DDL DEFAULT clauses). Never used for
    // query values, which are always bound.
    virtual std::string literal(const Value& v) const;
    // The pieces of literal() that backends spell differently (SQLite keeps booleans as 1/0 and
    // spells infinity only as an overflowing 9e999).
    virtual std::string bool_literal(bool b) const { return b ? "TRUE" : "FALSE"; }
    // Throws orm::DataError where the backend has no literal for the value (e.g. NaN on SQLite).
    virtual std::string double_literal(double d) const;

    virtual std::string begin_sql() const { return "BEGIN"; }
    virtual std::string savepoint_sql(std::string_view name) const;
    virtual std::string release_savepoint_sql(std::string_view name) const;
    virtual std::string rollback_to_savepoint_sql(std::string_view name) const;

    // LIKE pattern escaping: user text matched literally (%, _ and the escape char escaped with '\').
    virtual std::string escape_like(std::string_view text) const;
    // The clause after a LIKE pattern that declares the escape character.
    virtual std::string_view like_escape_clause() const { return " ESCAPE '\\'"; }

    // The ORM's text-matching lookups. text_match_sql() spells `lhs <match> rhs`, where `lhs` is a
    // rendered column expression and `rhs` a placeholder that the ORM binds to
    // text_match_param(m, value); so user text is always a bound parameter, and '%', '_' and
    // the escape character in it match literally. The defaults are standard SQL: LIKE for the
    // case-sensitive forms, UPPER(..) LIKE UPPER(..) for the case-insensitive ones (as Django), and no
    // regular expressions (orm::NotSupportedError; see Features::supports_regex).
    enum class TextMatch { iexact, contains, icontains, startswith, istartswith, endswith, iendswith, regex, iregex };
    virtual std::string text_match_sql(TextMatch m, std::string_view lhs, std::string_view rhs) const;
    virtual std::string text_match_param(TextMatch m, std::string_view value) const;
    // A placeholder for a parameter whose type the database cannot infer from its context (an
    // operand of arithmetic, a select-list item). Defaults to placeholder(index).
    virtual std::string typed_placeholder(std::size_t index, ValueKind kind) const;

    // `lhs IN (values...)` with the whole list as one bound parameter, so any length works and
    // the statement text is the same whatever the length (the prepared-statement cache keeps
    // hitting). `kind` is the kind every element has; `index` the parameter's number. Returns ""
    // where the backend cannot carry this list in one parameter (the ORM then binds one
    // parameter per value); in_list_param() makes the parameter. The default: "".
    virtual std::string in_list_sql(std::string_view lhs, std::size_t index, ValueKind kind,
                                    std::span<const Value> values) const;
    virtual Value in_list_param(ValueKind kind, std::span<const Value> values) const;

    // --- Database functions and transforms (orm/functions.hpp). Each takes rendered operands and
    // returns the expression; user values inside them are placeholders the ORM binds. The
    // defaults are standard SQL as PostgreSQL spells it; a backend overrides what differs. ---

    // The parts Extract / Trunc and the date transforms take. Timestamps are UTC; `timestamp`
    // says whether the operand is a timestamp (else a date).
    enum class DatePart : std::uint8_t { year, iso_year, quarter, month, week, week_day, iso_week_day, day, hour, minute, second };
    // An integer: the year, ISO year, quarter 1-4, month 1-12, ISO week 1-53, week_day 1 (Sunday)
    // to 7 (Saturday), iso_week_day 1 (Monday) to 7 (Sunday), day, hour, minute, whole seconds.
    virtual std::string extract_sql(DatePart part, std::string_view x, bool timestamp) const;
    // The start of the year / quarter / month / week (a Monday) / day / hour / minute / second
    // holding x: a timestamp for a timestamp, a date for a date.
    virtual std::string trunc_sql(DatePart part, std::string_view x, bool timestamp) const;
    // The UTC date of a timestamp.
    virtual std::string timestamp_date_sql(std::string_view x) const;
    // CAST(x AS <the type that holds values of this kind>).
    virtual std::string cast_sql(std::string_view x, ValueKind to) const;
    // The current time as a UTC timestamp.
    virtual std::string now_sql() const { return "CURRENT_TIMESTAMP"; }
    // GREATEST / LEAST of two or more operands.
    virtual std::string greatest_least_sql(bool greatest, std::span<const std::string> args) const;
    // x rounded to `places` decimal places (a rendered operand), halves away from zero.
    virtual std::string round_sql(std::string_view x, std::string_view places) const;
    // A random number per row (order_by("?")).
    virtual std::string random_sql() const { return "RANDOM()"; }
    // "DISTINCT ON (exprs) " for SELECT (Features::supports_distinct_on_fields).
    virtual std::string distinct_on_sql(std::span<const std::string> exprs) const;
    // The operator between the parts of a compound SELECT, with spaces: " UNION ", " UNION ALL ",
    // " INTERSECT ", " EXCEPT " (and ALL forms: Features::supports_intersect_except_all).
    enum class Compound : std::uint8_t { union_, intersection, difference };
    virtual std::string compound_sql(Compound op, bool all) const;

    // The conflict clause of an upsert INSERT (with a leading space): " ON CONFLICT DO NOTHING"
    // (update false; unique_columns may be empty), or " ON CONFLICT (unique) DO UPDATE SET
    // c = EXCLUDED.c" for each of update_columns. Names are quoted here. Standard SQL as
    // PostgreSQL and SQLite (3.24+) spell it.
    virtual std::string on_conflict_sql(bool update, std::span<const std::string> unique_columns,
                                        std::span<const std::string> update_columns) const;

    // A query that takes one new key per row from the sequence behind table's auto-increment
    // column pk_column: parameters (1) table quoted as in SQL, (2) pk_column, (3) how many keys;
    // one row per key. bulk_create reserves keys this way before a COPY. Empty (the default):
    // the backend reserves no keys.
    virtual std::string_view reserve_keys_sql() const { return {}; }

    // Streaming replication, for read-your-writes routing (orm::PrimaryReplicaRouter): one-value
    // queries giving a position in the write-ahead log as a BIGINT. wal_write_position_sql: on a
    // primary, where its WAL ends now (every commit acknowledged so far lies before it);
    // wal_replay_position_sql: on a standby, how far it has replayed, NULL on a server that is not
    // a standby. Empty (the default): the backend has no replication positions.
    virtual std::string_view wal_write_position_sql() const { return {}; }
    virtual std::string_view wal_replay_position_sql() const { return {}; }
};

}  // namespace orm::db
