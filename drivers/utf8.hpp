// UTF-8 validation of text parameters, shared by every backend (internal: not installed).
// PostgreSQL refuses invalid UTF-8 and SQLite would store it silently; checking before either
// sees it gives the same DataError on both, naming the parameter and the byte offset.
#pragma once

#include <cstddef>
#include <string_view>

namespace orm::db {

// The offset of the first byte that does not start or continue a valid UTF-8 sequence
// (overlong forms, surrogates and code points past U+10FFFF included), or npos.
std::size_t invalid_utf8_offset(std::string_view text) noexcept;

// Throws orm::DataError when `text` is not valid UTF-8: "parameter <name>: text is not valid
// UTF-8 at byte offset N ...". `name` is how the backend numbers parameters ("$2", "2").
void check_utf8_param(std::string_view text, std::string_view name);

}  // namespace orm::db
