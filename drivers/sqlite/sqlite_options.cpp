// Parsing of the SQLite backend's URL options.
#include "drivers/sqlite/sqlite_options.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "drivers/errors.hpp"

namespace orm::db::sqlite {

namespace {

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

// The value upper-cased if it is one of `choices` (compared case-insensitively).
std::string one_of(std::string_view url, std::string_view name, std::string_view value,
                   std::initializer_list<std::string_view> choices) {
    std::string v = upper(value);
    for (auto c : choices)
        if (upper(c) == v) return v;
    throw InterfaceError(fmt::format("invalid value '{}' for option '{}' in database URL '{}'; valid values: {}",
                                     value, name, url, fmt::join(choices, ", ")));
}

}  // namespace

const std::vector<std::string_view>& option_names() {
    static const std::vector<std::string_view> names{"busy_timeout", "foreign_keys",     "journal_mode", "synchronous",
                                                     "mode",         "transaction_mode", "async_inline"};
    return names;
}

void apply_option(SqliteOptions& o, std::string_view url, std::string_view name, std::string_view value) {
    if (name == "busy_timeout") {
        o.busy_timeout = parse_duration_option(name, value);
    } else if (name == "foreign_keys") {
        o.foreign_keys = parse_bool_option(name, value);
    } else if (name == "journal_mode") {
        o.journal_mode = one_of(url, name, value, {"wal", "delete", "truncate", "persist", "memory", "off"});
    } else if (name == "synchronous") {
        o.synchronous = one_of(url, name, value, {"off", "normal", "full", "extra"});
    } else if (name == "mode") {
        std::string m = one_of(url, name, value, {"rwc", "rw", "ro"});
        o.mode = m == "RWC" ? OpenMode::rwc : m == "RW" ? OpenMode::rw : OpenMode::ro;
    } else if (name == "transaction_mode") {
        o.transaction_mode = one_of(url, name, value, {"deferred", "immediate", "exclusive"});
    } else if (name == "async_inline") {
        o.async_inline = parse_bool_option(name, value);
    } else {
        std::vector<std::string_view> valid = common_url_options();
        valid.insert(valid.end(), option_names().begin(), option_names().end());
        std::sort(valid.begin(), valid.end());
        throw InterfaceError(fmt::format("unknown option '{}' in SQLite database URL '{}'; valid options: {}", name,
                                         url, fmt::join(valid, ", ")));
    }
}

SqliteOptions read_options(const ConnectionConfig& cfg) {
    SqliteOptions o;
    for (const auto& [name, value] : cfg.options) apply_option(o, cfg.url, name, value);
    return o;
}

bool is_memory_target(std::string_view target) noexcept { return target == ":memory:"; }

}  // namespace orm::db::sqlite
