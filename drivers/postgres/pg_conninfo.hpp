// Separating weft's own URL options from what libpq parses. libpq is the parser of its own
// syntax (PQconninfoParse, in PgHandle); this file only finds our keys so they can be removed
// first: the query string of a URI, or the key=value pairs of a conninfo string (a minimal
// tokenizer that honours single quotes and backslash escapes, as libpq does).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "drivers/postgres/pg_libpq.hpp"

namespace orm::db::postgres {

struct PgConninfo {
    std::string libpq;                                        // the input minus our options
    std::vector<std::pair<std::string, std::string>> ours;   // our options, values decoded
    std::vector<std::string> secrets;                        // passwords seen, to scrub from messages
};

// `names`: the option names that are ours. `masked` is the URL as shown in messages.
PgConninfo split_conninfo(std::string_view url, std::string_view masked, const std::vector<std::string_view>& names);

// Replaces every secret (of 4+ characters) in `message` with "***".
std::string scrub(std::string message, const std::vector<std::string>& secrets);

// A key='value' conninfo string for parsed keywords (quotes and backslashes escaped).
std::string to_conninfo(const Keywords& keywords);

}  // namespace orm::db::postgres
