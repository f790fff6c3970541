// REGEXP for SQLite through std::regex, with the compiled pattern cached per statement
// (sqlite3_set_auxdata), so a scan compiles it once.
#include "drivers/sqlite/sqlite_regexp.hpp"

#include <regex>
#include <string>

#include <sqlite3.h>

namespace orm::db::sqlite {

namespace {

// args: text_index / pattern_index say where each argument is; icase for weft_iregexp.
void match(sqlite3_context* ctx, sqlite3_value** argv, int text_index, int pattern_index, bool icase) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    auto* re = static_cast<std::regex*>(sqlite3_get_auxdata(ctx, pattern_index));
    if (!re) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(argv[pattern_index]));
        const int n = sqlite3_value_bytes(argv[pattern_index]);
        try {
            auto flags = std::regex::ECMAScript | (icase ? std::regex::icase : std::regex::ECMAScript);
            re = new std::regex(p, static_cast<std::size_t>(n), flags);
        } catch (const std::regex_error& e) {
            std::string message = std::string("invalid regular expression '") + std::string(p, static_cast<std::size_t>(n)) +
                                  "': " + e.what();
            sqlite3_result_error(ctx, message.c_str(), -1);
            return;
        }
        sqlite3_set_auxdata(ctx, pattern_index, re, [](void* x) { delete static_cast<std::regex*>(x); });
        // set_auxdata may have destroyed it already (out of memory): fetch it back.
        re = static_cast<std::regex*>(sqlite3_get_auxdata(ctx, pattern_index));
        if (!re) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
    }
    const auto* t = reinterpret_cast<const char*>(sqlite3_value_text(argv[text_index]));
    const int tn = sqlite3_value_bytes(argv[text_index]);
    try {
        sqlite3_result_int(ctx, std::regex_search(t, t + tn, *re) ? 1 : 0);
    } catch (const std::regex_error& e) {
        sqlite3_result_error(ctx, e.what(), -1);  // e.g. error_complexity on pathological input
    }
}

}  // namespace

void register_regexp(sqlite3* db) {
    constexpr int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    sqlite3_create_function(db, "regexp", 2, flags, nullptr,
                            [](sqlite3_context* c, int, sqlite3_value** v) { match(c, v, 1, 0, false); }, nullptr,
                            nullptr);
    sqlite3_create_function(db, "weft_regexp", 2, flags, nullptr,
                            [](sqlite3_context* c, int, sqlite3_value** v) { match(c, v, 0, 1, false); }, nullptr,
                            nullptr);
    sqlite3_create_function(db, "weft_iregexp", 2, flags, nullptr,
                            [](sqlite3_context* c, int, sqlite3_value** v) { match(c, v, 0, 1, true); }, nullptr,
                            nullptr);
}

}  // namespace orm::db::sqlite
