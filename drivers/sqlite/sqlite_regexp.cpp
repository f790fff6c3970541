// REGEXP for SQLite through PCRE2 in UTF mode with Unicode properties (so '.' is one character,
// \w and [[:alpha:]] know letters beyond ASCII, and caseless matching folds them), JIT-compiled
// and cached per statement (sqlite3_set_auxdata), so a scan compiles the pattern once.
#include "drivers/sqlite/sqlite_regexp.hpp"

#include <memory>
#include <string>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <sqlite3.h>

namespace orm::db::sqlite {

namespace {

// Backtracking bounds: a pathological pattern ends in an SQL error, not a stalled statement or
// an exhausted heap. (The statement's own deadline still applies on top: see sqlite_session.)
constexpr std::uint32_t match_limit = 10'000'000;
constexpr std::uint32_t heap_limit_kib = 64 * 1024;

struct CodeDeleter {
    void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct MatchDataDeleter {
    void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};
struct ContextDeleter {
    void operator()(pcre2_match_context* m) const { pcre2_match_context_free(m); }
};

// One compiled pattern with what matching it needs; lives as long as the statement keeps it.
struct Compiled {
    std::unique_ptr<pcre2_code, CodeDeleter> code;
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> data;
    std::unique_ptr<pcre2_match_context, ContextDeleter> context;
    bool jit = false;
};

std::string pcre2_message(int code) {
    PCRE2_UCHAR buf[256];
    int n = pcre2_get_error_message(code, buf, sizeof buf);
    if (n < 0) return "error " + std::to_string(code);
    return std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

std::string shorten(std::string_view s) {
    if (s.size() <= 80) return std::string(s);
    return std::string(s.substr(0, 80)) + "... (" + std::to_string(s.size()) + " bytes)";
}

// Compiles the pattern; on failure sets the SQL error and returns null.
Compiled* compile(sqlite3_context* ctx, std::string_view pattern, bool icase) {
    std::uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    if (icase) options |= PCRE2_CASELESS;
    int error = 0;
    PCRE2_SIZE offset = 0;
    auto out = std::make_unique<Compiled>();
    out->code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error,
                                  &offset, nullptr));
    if (!out->code) {
        std::string message = "invalid regular expression '" + shorten(pattern) + "': " + pcre2_message(error) +
                              " at offset " + std::to_string(offset) + " (PCRE2 syntax)";
        sqlite3_result_error(ctx, message.c_str(), -1);
        return nullptr;
    }
    out->jit = pcre2_jit_compile(out->code.get(), PCRE2_JIT_COMPLETE) == 0;
    out->data.reset(pcre2_match_data_create_from_pattern(out->code.get(), nullptr));
    out->context.reset(pcre2_match_context_create(nullptr));
    if (!out->data || !out->context) {
        sqlite3_result_error_nomem(ctx);
        return nullptr;
    }
    pcre2_set_match_limit(out->context.get(), match_limit);
    pcre2_set_heap_limit(out->context.get(), heap_limit_kib);
    return out.release();
}

// text_index / pattern_index say where each argument is; icase for weft_iregexp.
void match(sqlite3_context* ctx, sqlite3_value** argv, int text_index, int pattern_index, bool icase) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    auto* re = static_cast<Compiled*>(sqlite3_get_auxdata(ctx, pattern_index));
    if (!re) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(argv[pattern_index]));
        const int n = sqlite3_value_bytes(argv[pattern_index]);
        re = compile(ctx, std::string_view(p ? p : "", static_cast<std::size_t>(n)), icase);
        if (!re) return;
        sqlite3_set_auxdata(ctx, pattern_index, re, [](void* x) { delete static_cast<Compiled*>(x); });
        // set_auxdata may have destroyed it already (out of memory): fetch it back.
        re = static_cast<Compiled*>(sqlite3_get_auxdata(ctx, pattern_index));
        if (!re) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
    }
    const auto* t = reinterpret_cast<PCRE2_SPTR>(sqlite3_value_text(argv[text_index]));
    const auto tn = static_cast<PCRE2_SIZE>(sqlite3_value_bytes(argv[text_index]));
    static const PCRE2_UCHAR empty[1] = {0};
    // The JIT's stack is small; a pattern that outgrows it runs again in the interpreter, whose
    // backtracking lives on the heap (bounded by heap_limit_kib), never on the thread's stack.
    int rc = pcre2_match(re->code.get(), t ? t : empty, tn, 0, 0, re->data.get(), re->context.get());
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(re->code.get(), t ? t : empty, tn, 0, PCRE2_NO_JIT, re->data.get(), re->context.get());
    if (rc >= 0) {
        sqlite3_result_int(ctx, 1);
    } else if (rc == PCRE2_ERROR_NOMATCH) {
        sqlite3_result_int(ctx, 0);
    } else {
        std::string message = "regular expression could not be matched: " + pcre2_message(rc);
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
            message += " (the pattern backtracks too much on this text; simplify it)";
        sqlite3_result_error(ctx, message.c_str(), -1);
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
