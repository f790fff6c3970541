// URL option parsing shared by every backend: durations, sizes, booleans, query strings, and
// the common pool / timeout / cache options.
#include "drivers/config.hpp"

#include <charconv>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "drivers/backend.hpp"
#include "drivers/errors.hpp"
#include "drivers/features.hpp"

namespace orm::db {

const std::vector<std::string_view>& common_url_options() {
    static const std::vector<std::string_view> names = {
        "pool_size", "pool_timeout", "health_check_interval", "statement_timeout", "connect_timeout",
        "statement_cache_size", "disable_features",
    };
    return names;
}

std::chrono::milliseconds parse_duration_option(std::string_view option, std::string_view value) {
    double number = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    std::string_view unit(end, static_cast<std::size_t>(value.data() + value.size() - end));
    double factor = -1;
    if (ec == std::errc() && number >= 0) {
        if (unit.empty() || unit == "ms") factor = 1;
        else if (unit == "s") factor = 1000;
        else if (unit == "min" || unit == "m") factor = 60'000;
        else if (unit == "h") factor = 3'600'000;
        else if (unit == "us") factor = 0.001;
    }
    if (factor < 0)
        throw InterfaceError(fmt::format(
            "option {}: '{}' is not a duration; use a non-negative number with an optional unit "
            "(us, ms, s, min, h), e.g. 250ms or 5s; a bare number means milliseconds",
            option, value));
    // PostgreSQL's own limit for its timeouts (an int of milliseconds, about 24.8 days); inf,
    // nan and 1e300 would otherwise overflow the conversion below into a negative duration.
    constexpr double max_ms = 2147483647.0;
    const double ms = number * factor;
    if (!(ms <= max_ms))
        throw InterfaceError(fmt::format(
            "option {}: '{}' is out of range; a duration must lie between 0 and 2147483647ms "
            "(about 24.8 days), e.g. 250ms, 5s or 2h",
            option, value));
    return std::chrono::milliseconds(static_cast<std::int64_t>(ms + 0.5));
}

std::size_t parse_size_option(std::string_view option, std::string_view value) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size())
        throw InterfaceError(fmt::format("option {}: '{}' is not a non-negative integer", option, value));
    return n;
}

bool parse_bool_option(std::string_view option, std::string_view value) {
    if (value == "1" || value == "true" || value == "on" || value == "yes") return true;
    if (value == "0" || value == "false" || value == "off" || value == "no") return false;
    throw InterfaceError(
        fmt::format("option {}: '{}' is not a boolean; use one of true/false, on/off, yes/no, 1/0", option, value));
}

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view url, std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                throw InterfaceError(fmt::format("malformed URL '{}': bad percent escape in '{}'", mask_password(url), s));
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}
}  // namespace

std::vector<std::pair<std::string, std::string>> split_query_string(std::string_view url, std::string_view query) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        if (eq == std::string_view::npos || eq == 0)
            throw InterfaceError(fmt::format("malformed URL '{}': query parameter '{}' is not of the form key=value",
                                             mask_password(url), pair));
        out.emplace_back(percent_decode(url, pair.substr(0, eq)), percent_decode(url, pair.substr(eq + 1)));
    }
    return out;
}

namespace {

// The backend's features with the comma-separated flags in `names` switched off.
std::shared_ptr<const Features> disable_features(const ConnectionConfig& cfg, std::string_view names) {
    if (!cfg.backend) throw InterfaceError("option disable_features: no backend chosen yet");
    auto out = std::make_shared<Features>(cfg.backend->features());
    std::size_t start = 0;
    while (start <= names.size()) {
        std::size_t comma = names.find(',', start);
        if (comma == std::string_view::npos) comma = names.size();
        std::string_view name = names.substr(start, comma - start);
        while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
        while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
        start = comma + 1;
        if (name.empty()) continue;
        const FeatureFlag* found = nullptr;
        for (const auto& f : feature_flags())
            if (f.name == name) found = &f;
        if (!found) {
            std::vector<std::string_view> valid;
            for (const auto& f : feature_flags()) valid.push_back(f.name);
            throw InterfaceError(fmt::format("option disable_features: unknown feature '{}'; feature names are {}",
                                             name, fmt::join(valid, ", ")));
        }
        out.get()->*(found->flag) = false;
    }
    return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> apply_common_options(
    ConnectionConfig& cfg, std::vector<std::pair<std::string, std::string>> pairs) {
    std::vector<std::pair<std::string, std::string>> rest;
    for (auto& [k, v] : pairs) {
        if (k == "pool_size") {
            cfg.pool.max_size = parse_size_option(k, v);
            if (cfg.pool.max_size == 0) throw InterfaceError("option pool_size: must be at least 1");
        } else if (k == "pool_timeout") {
            cfg.pool.acquire_timeout = parse_duration_option(k, v);
        } else if (k == "health_check_interval") {
            cfg.pool.health_check_interval = parse_duration_option(k, v);
        } else if (k == "statement_timeout") {
            cfg.statement_timeout = parse_duration_option(k, v);
        } else if (k == "connect_timeout") {
            // libpq spells connect_timeout in whole seconds; a bare number keeps that meaning here
            // so conninfo strings copied from elsewhere behave as they did.
            bool bare = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
            cfg.connect_timeout = parse_duration_option(k, bare ? v + "s" : v);
        } else if (k == "statement_cache_size") {
            cfg.statement_cache_size = parse_size_option(k, v);
        } else if (k == "disable_features") {
            cfg.features = disable_features(cfg, v);
        } else {
            rest.emplace_back(std::move(k), std::move(v));
        }
    }
    return rest;
}

// A single left-to-right scan, linear in the input and without recursion: URLs carry user input
// (a password may be a 2 kB cloud token), so no backtracking regex engine runs over them.
std::string mask_password(std::string_view url) {
    const auto is_alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
    const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    std::string s(url);
    // URI form: scheme://user:password@host (the first one only).
    if (!s.empty() && is_alpha(s[0])) {
        std::size_t i = 1;
        while (i < s.size() && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '.' || s[i] == '-')) ++i;
        if (s.compare(i, 3, "://") == 0) {
            std::size_t j = i + 3;
            while (j < s.size() && s[j] != ':' && s[j] != '/' && s[j] != '@' && s[j] != '?') ++j;
            if (j < s.size() && s[j] == ':') {
                std::size_t k = j + 1;
                while (k < s.size() && s[k] != '@' && s[k] != '/') ++k;
                if (k < s.size() && s[k] == '@') s.replace(j + 1, k - (j + 1), "***");
            }
        }
    }
    // key=value form and query parameters: password=... (quoted or not), every occurrence.
    constexpr std::string_view key = "password";
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        bool match = s.size() - i >= key.size();
        for (std::size_t k = 0; match && k < key.size(); ++k)
            match = (s[i + k] | 0x20) == key[k];  // ASCII case-insensitive ('=' never matches a letter)
        if (!match) {
            out += s[i++];
            continue;
        }
        std::size_t j = i + key.size();
        while (j < s.size() && is_space(s[j])) ++j;
        if (j >= s.size() || s[j] != '=') {
            out += s[i++];
            continue;
        }
        ++j;
        while (j < s.size() && is_space(s[j])) ++j;
        out.append(s, i, j - i);  // "password = "
        std::size_t v = j;
        bool quoted = false;
        if (v < s.size() && s[v] == '\'') {  // 'quoted, with \-escapes', when it is closed
            std::size_t q = v + 1;
            while (q < s.size() && s[q] != '\'') q += (s[q] == '\\' && q + 1 < s.size()) ? 2 : 1;
            if (q < s.size()) {
                v = q + 1;
                quoted = true;
            }
        }
        if (!quoted)
            while (v < s.size() && !is_space(s[v]) && s[v] != '&') ++v;
        out += "***";
        i = v;
    }
    return out;
}

}  // namespace orm::db
