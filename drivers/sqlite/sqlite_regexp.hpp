// SQL functions for regular expressions on SQLite, which has the REGEXP operator but no
// implementation of it: regexp(pattern, text) (so `text REGEXP pattern` works), and the ORM's
// weft_regexp(text, pattern) / weft_iregexp(text, pattern). Internal to the SQLite driver.
#pragma once

struct sqlite3;

namespace orm::db::sqlite {

// Registers the functions on a connection. Patterns are ECMAScript regular expressions
// (std::regex), searched anywhere in the text like PostgreSQL's ~; they work on bytes, so '.'
// matches one byte of a multi-byte UTF-8 character, and case folding is ASCII only.
void register_regexp(sqlite3* db);

}  // namespace orm::db::sqlite
