// SQL functions for regular expressions on SQLite, which has the REGEXP operator but no
// implementation of it: regexp(pattern, text) (so `text REGEXP pattern` works), and the ORM's
// weft_regexp(text, pattern) / weft_iregexp(text, pattern). Internal to the SQLite driver.
#pragma once

struct sqlite3;

namespace orm::db::sqlite {

// Registers the functions on a connection. Patterns are PCRE2 regular expressions (Perl syntax,
// as Python's re that Django's SQLite backend uses), searched anywhere in the text like
// PostgreSQL's ~, on characters: UTF-8 with Unicode properties, so '.' is one character,
// \w \d \s and POSIX classes know non-ASCII letters, and caseless matching folds them.
void register_regexp(sqlite3* db);

}  // namespace orm::db::sqlite
