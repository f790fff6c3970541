// PgDialect: how PostgreSQL spells things ($n placeholders, LIMIT/OFFSET, typed literals).
#pragma once

#include "drivers/dialect.hpp"

namespace orm::db::postgres {

class PgDialect final : public Dialect {
public:
    std::string_view name() const override { return "postgresql"; }
    // The insert position, not pg_current_wal_lsn() (the write position): with
    // synchronous_commit=off a commit is acknowledged before its WAL is written.
    std::string_view wal_write_position_sql() const override {
        return "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), '0/0')::bigint";
    }
    std::string_view wal_replay_position_sql() const override {
        return "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_replay_lsn(), '0/0')::bigint";
    }
    std::string placeholder(std::size_t index) const override;
    // No "LIMIT -1": PostgreSQL rejects negative limits, and OFFSET stands alone.
    std::string limit_offset(std::optional<std::int64_t> limit, std::int64_t offset) const override;
    // Typed literals: bytea as '\x..'::bytea (X'..' is a bit string here), timestamps with +00,
    // non-finite doubles as 'Infinity'::double precision. Relies on standard_conforming_strings
    // (set at connect).
    std::string literal(const Value& v) const override;
    // UPPER(x) LIKE UPPER(pattern) and UPPER(x) = UPPER(y) for the case-insensitive lookups, as
    // Django spells them ('ß' and 'ẞ', 'ς' and 'Σ', the Kelvin sign and 'K' then compare as they
    // do there; ILIKE and LOWER fold those differently); POSIX regular expressions (~, ~*).
    std::string text_match_sql(TextMatch m, std::string_view lhs, std::string_view rhs) const override;
    // $n::bigint, $n::double precision, ...: parameters are sent untyped (see pg_params.hpp).
    std::string typed_placeholder(std::size_t index, ValueKind kind) const override;
    // `lhs = ANY($n::bigint[])` with the list as one array parameter (its text form).
    std::string in_list_sql(std::string_view lhs, std::size_t index, ValueKind kind,
                            std::span<const Value> values) const override;
    Value in_list_param(ValueKind kind, std::span<const Value> values) const override;
    // nextval of the column's sequence (serial or identity), n times, in one statement (OFFSET 0
    // keeps the planner from pulling the subquery up and looking the sequence up once per row).
    std::string_view reserve_keys_sql() const override {
        return "SELECT nextval(s.seq) FROM (SELECT pg_get_serial_sequence($1, $2)::regclass AS seq OFFSET 0) s, "
               "generate_series(1, $3::bigint)";
    }
};

}  // namespace orm::db::postgres
