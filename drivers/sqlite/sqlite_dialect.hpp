// SqliteDialect: how SQLite spells placeholders and DDL literals. The base class's LIMIT/OFFSET
// (with "LIMIT -1" for an OFFSET alone) and quoting already fit SQLite.
#pragma once

#include "drivers/dialect.hpp"

namespace orm::db::sqlite {

class SqliteDialect final : public Dialect {
public:
    std::string_view name() const override { return "sqlite"; }
    std::string placeholder(std::size_t) const override { return "?"; }
    // Booleans as 1/0, blobs as X'..', infinities as 9e999, timestamps and dates as their text.
    // Booleans as 1/0; infinities as 9e999; NaN has no literal (orm::DataError).
    std::string bool_literal(bool b) const override { return b ? "1" : "0"; }
    std::string double_literal(double d) const override;
    // SQLite's LIKE ignores ASCII case, so the case-sensitive contains / startswith / endswith
    // use GLOB with the user text escaped ('*', '?' and '[' as bracket expressions); the
    // case-insensitive forms use LIKE itself (which folds ASCII only). regex / iregex call the
    // functions of sqlite_regexp.cpp.
    std::string text_match_sql(TextMatch m, std::string_view lhs, std::string_view rhs) const override;
    std::string text_match_param(TextMatch m, std::string_view value) const override;
    // `lhs IN (SELECT value FROM json_each(?))` with the list as one JSON array; blobs compare
    // by hex(lhs). Lists JSON cannot carry exactly (non-finite doubles, text with NUL) get "".
    std::string in_list_sql(std::string_view lhs, std::size_t index, ValueKind kind,
                            std::span<const Value> values) const override;
    Value in_list_param(ValueKind kind, std::span<const Value> values) const override;
    // Timestamps are text "YYYY-MM-DD HH:MM:SS.ffffff" (UTC) and dates "YYYY-MM-DD": parts come
    // from strftime(), the ISO week from the Thursday of the week, truncations keep the format.
    std::string extract_sql(DatePart part, std::string_view x, bool timestamp) const override;
    std::string trunc_sql(DatePart part, std::string_view x, bool timestamp) const override;
    std::string timestamp_date_sql(std::string_view x) const override;
    std::string cast_sql(std::string_view x, ValueKind to) const override;
    std::string now_sql() const override;
    // The scalar MAX / MIN: NULL when any operand is (Features::greatest_least_ignore_nulls false).
    std::string greatest_least_sql(bool greatest, std::span<const std::string> args) const override;
    std::string round_sql(std::string_view x, std::string_view places) const override;
    // NotSupportedError (Features::supports_distinct_on_fields false).
    std::string distinct_on_sql(std::span<const std::string> exprs) const override;
    // INTERSECT ALL / EXCEPT ALL: NotSupportedError (Features::supports_intersect_except_all).
    std::string compound_sql(Compound op, bool all) const override;
};

}  // namespace orm::db::sqlite
