// SqliteDialect (see sqlite_dialect.hpp).
#include "drivers/sqlite/sqlite_dialect.hpp"

#include <cmath>

#include <fmt/format.h>

#include "drivers/errors.hpp"

namespace orm::db::sqlite {

std::string SqliteDialect::double_literal(double d) const {
    if (std::isnan(d)) throw DataError("SQLite has no literal for NaN (it stores NaN as NULL)");
    if (std::isinf(d)) return d > 0 ? "9e999" : "-9e999";
    std::string s = format_double(d);
    if (s.find_first_of(".eE") == std::string::npos) s += ".0";  // stay a REAL literal
    return s;
}

namespace {

// GLOB has no escape character: a special character matches itself inside brackets.
std::string escape_glob(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '*' || c == '?' || c == '[') {
            out += '[';
            out += c;
            out += ']';
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::string SqliteDialect::text_match_sql(TextMatch m, std::string_view lhs, std::string_view rhs) const {
    switch (m) {
        case TextMatch::contains:
        case TextMatch::startswith:
        case TextMatch::endswith: return fmt::format("{} GLOB {}", lhs, rhs);
        case TextMatch::icontains:
        case TextMatch::istartswith:
        case TextMatch::iendswith: return fmt::format("{} LIKE {}{}", lhs, rhs, like_escape_clause());
        case TextMatch::regex: return fmt::format("weft_regexp({}, {})", lhs, rhs);
        case TextMatch::iregex: return fmt::format("weft_iregexp({}, {})", lhs, rhs);
        default: return Dialect::text_match_sql(m, lhs, rhs);
    }
}

std::string SqliteDialect::text_match_param(TextMatch m, std::string_view value) const {
    switch (m) {
        case TextMatch::contains: return "*" + escape_glob(value) + "*";
        case TextMatch::startswith: return escape_glob(value) + "*";
        case TextMatch::endswith: return "*" + escape_glob(value);
        default: return Dialect::text_match_param(m, value);
    }
}

}  // namespace orm::db::sqlite
