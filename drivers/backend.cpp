// The registry from URL scheme to backend. The built-in backends are registered on first use
// (not by static initializers, which a static library's linker may drop).
#include "drivers/backend.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "drivers/errors.hpp"
#include "drivers/postgres/pg_backend.hpp"
#include "drivers/sqlite/sqlite_backend.hpp"

namespace orm::db {

namespace {

struct Registry {
    std::mutex mu;
    std::map<std::string, std::shared_ptr<const Backend>, std::less<>> by_scheme;
};

void add_locked(Registry& r, std::shared_ptr<const Backend> b) {
    for (auto s : b->schemes()) r.by_scheme[std::string(s)] = b;
}

Registry& registry() {
    static Registry* r = [] {
        auto* reg = new Registry;  // never destroyed: backends may be used during static destruction
        add_locked(*reg, sqlite::make_backend());
        add_locked(*reg, postgres::make_backend());
        return reg;
    }();
    return *r;
}

// "scheme" when the URL starts with scheme ":" (RFC 3986 scheme characters), else "".
std::string_view scheme_of(std::string_view url) {
    auto colon = url.find(':');
    if (colon == std::string_view::npos || colon == 0) return {};
    auto s = url.substr(0, colon);
    bool first_alpha = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z');
    bool rest_ok = std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
               c == '.';
    });
    return first_alpha && rest_ok ? s : std::string_view{};
}

}  // namespace

void register_backend(std::shared_ptr<const Backend> backend) {
    if (!backend) throw InterfaceError("register_backend: null backend");
    auto& r = registry();
    std::lock_guard lock(r.mu);
    add_locked(r, std::move(backend));
}

std::vector<std::string> registered_schemes() {
    auto& r = registry();
    std::lock_guard lock(r.mu);
    std::vector<std::string> out;
    for (auto& [s, b] : r.by_scheme) out.push_back(s);
    return out;
}

const Backend& backend_for_url(std::string_view url) {
    auto& r = registry();
    std::unique_lock lock(r.mu);
    std::string_view scheme = scheme_of(url);
    if (!scheme.empty()) {
        std::string lower(scheme);
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (auto it = r.by_scheme.find(lower); it != r.by_scheme.end()) return *it->second;
    }
    bool key_value = url.find("://") == std::string_view::npos && url.find('=') != std::string_view::npos;
    if (key_value) {
        if (auto it = r.by_scheme.find("postgresql"); it != r.by_scheme.end()) return *it->second;
    }
    std::vector<std::string> names;
    for (auto& [s, b] : r.by_scheme) names.push_back(s);
    lock.unlock();
    if (url.empty())
        throw InterfaceError(fmt::format("empty database URL; expected scheme:... with a scheme among {}",
                                         fmt::join(names, ", ")));
    throw InterfaceError(fmt::format(
        "unknown database URL scheme '{}' in '{}'; registered schemes: {} (libpq key=value strings such as "
        "'host=/tmp dbname=app' are accepted too)",
        scheme.empty() ? url.substr(0, url.find(':')) : scheme, mask_password(url), fmt::join(names, ", ")));
}

ConnectionConfig parse_url(std::string_view url) {
    return backend_for_url(url).parse_url(url);
}

}  // namespace orm::db
