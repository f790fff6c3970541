// PgCursor: reads a text-format PGresult. Shared by the sync and async paths (it never waits):
// both hand it a finished result. Values are parsed from PostgreSQL's text output, which the
// connection pins down at connect (DateStyle ISO, TimeZone UTC, bytea_output hex,
// extra_float_digits 3).
#pragma once

#include "drivers/postgres/pg_libpq.hpp"
#include "drivers/result.hpp"

namespace orm::db::postgres {

class PgCursor final : public Cursor {
public:
    explicit PgCursor(PgHandle::Result r);

    bool next() override;
    std::size_t column_count() const override;
    std::string_view column_name(std::size_t i) const override;
    bool is_null(std::size_t i) const override;
    bool get_bool(std::size_t i) const override;
    std::int64_t get_int64(std::size_t i) const override;
    double get_double(std::size_t i) const override;
    std::string_view get_text(std::size_t i) const override;
    Bytes get_bytes(std::size_t i) const override;
    Timestamp get_timestamp(std::size_t i) const override;
    Date get_date(std::size_t i) const override;
    Value get_value(std::size_t i) const override;
    std::int64_t rows_affected() const override { return rows_affected_; }

private:
    std::string_view text(std::size_t i) const;
    [[noreturn]] void bad(std::size_t i, std::string_view wanted) const;

    PgHandle::Result r_;
    int row_ = -1;
    int rows_ = 0;
    std::int64_t rows_affected_ = 0;
};

// Parsers for PostgreSQL's text output (exposed for tests). All throw orm::DataError.
std::int64_t parse_pg_int(std::string_view s);
double parse_pg_double(std::string_view s);
Bytes parse_pg_bytea(std::string_view s);

}  // namespace orm::db::postgres
