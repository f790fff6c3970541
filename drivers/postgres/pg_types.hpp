// Built-in type OIDs the driver reads (pg_type.dat; stable across PostgreSQL versions).
#pragma once

#include "drivers/postgres/pg_libpq.hpp"

namespace orm::db::postgres::oid {

constexpr Oid boolean = 16;
constexpr Oid bytea = 17;
constexpr Oid name = 19;
constexpr Oid int8 = 20;
constexpr Oid int2 = 21;
constexpr Oid int4 = 23;
constexpr Oid text = 25;
constexpr Oid oid = 26;
constexpr Oid float4 = 700;
constexpr Oid float8 = 701;
constexpr Oid unknown = 705;
constexpr Oid bpchar = 1042;
constexpr Oid varchar = 1043;
constexpr Oid date = 1082;
constexpr Oid timestamp = 1114;
constexpr Oid timestamptz = 1184;
constexpr Oid numeric = 1700;

}  // namespace orm::db::postgres::oid
