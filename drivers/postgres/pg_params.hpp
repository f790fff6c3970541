// PgParams: Values encoded as libpq parameter arrays. Shared by the sync and async paths.
//
// Every parameter goes in text format with no declared type (the statement is prepared with
// paramTypes = NULL, so the server infers each type from its context, as for a literal). Why
// not declare OIDs from the Value kinds: a prepared statement keeps the types of its first
// call, but the cache is keyed by the SQL text alone, so the same SQL called later with another
// kind (int32 then int64, NULL then a value, a Date where a Timestamp was) would run under the
// first call's types: an int64 past 2^31 would fail against a parameter frozen as int4, and
// the plan could depend on which call came first. With inferred types the statement's types
// depend only on its text, the text forms we send are valid input for every type they fit
// (int32 "5" into bigint, numeric or double precision), and cache and no-cache paths behave
// alike. The cost: a parameter without context (SELECT $1) is text; cast it ($1::bigint).
// Bytes are the exception: they go in binary format (no escaping, no doubling in size).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "drivers/postgres/pg_libpq.hpp"
#include "drivers/value.hpp"

namespace orm::db::postgres {

class PgParams {
public:
    // Throws orm::DataError for text containing a NUL byte (PostgreSQL text cannot hold one).
    explicit PgParams(std::span<const Value> params);
    PgParams(const PgParams&) = delete;
    PgParams& operator=(const PgParams&) = delete;

    int size() const { return static_cast<int>(n_); }
    // About how many bytes the values take on the wire (what a pipeline batches by). Counted on
    // each call, which only a read that may share its Sync makes.
    std::size_t wire_bytes() const;
    // Fills the parameter fields of a request.
    void apply(PgRequest& req) const;

private:
    // Up to inline_count parameters (the usual statement) need no allocation: their arrays and
    // the text of integer parameters live in the object itself.
    static constexpr std::size_t inline_count = 8;
    static constexpr std::size_t number_chars = 24;  // an int64 in decimal, its sign and a NUL
    std::size_t n_ = 0;
    const char** values_;
    int* lengths_;
    int* formats_;
    const char* values_inline_[inline_count];
    int lengths_inline_[inline_count];
    int formats_inline_[inline_count];
    char numbers_[inline_count][number_chars];
    std::vector<const char*> values_heap_;
    std::vector<int> lengths_heap_, formats_heap_;
    std::vector<std::string> owned_;  // other text forms we made (reals, timestamps, dates, overflow)
};

}  // namespace orm::db::postgres
