// ConnectionConfig: everything parsed out of a database URL. Common options (pool, timeouts,
// statement cache) are read here; backend-specific ones are kept by name for the backend.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace orm::db {

class Backend;
struct Features;

struct PoolOptions {
    std::size_t max_size = 4;                              // URL: pool_size
    std::chrono::milliseconds acquire_timeout{30'000};     // URL: pool_timeout
    // A connection idle longer than this is pinged before it is handed out (0: always; it is
    // always checked for a closed socket, which costs no round trip).   URL: health_check_interval
    std::chrono::milliseconds health_check_interval{30'000};
};

struct ConnectionConfig {
    const Backend* backend = nullptr;
    std::string url;              // as given, password masked (for messages)
    std::string target;           // what the backend opens: a file path, ":memory:", or a libpq conninfo
    PoolOptions pool;
    std::chrono::milliseconds statement_timeout{0};        // URL: statement_timeout (0: none)
    std::chrono::milliseconds connect_timeout{10'000};     // URL: connect_timeout
    std::size_t statement_cache_size = 256;                // URL: statement_cache_size (0: no cache)
    std::map<std::string, std::string, std::less<>> options;  // backend-specific URL options
    // The backend's features with some switched off (URL: disable_features=a,b), so code can be
    // run as it would on a backend without them (e.g. INSERT without RETURNING); null: the
    // backend's own. Connection::features() and Database::features() answer with it.
    std::shared_ptr<const Features> features;
};

// The option names every backend accepts in a URL query string.
const std::vector<std::string_view>& common_url_options();

// Parses "250ms", "5s", "2min", "1h" or a bare number of milliseconds. Throws orm::InterfaceError
// naming the option and the accepted forms.
std::chrono::milliseconds parse_duration_option(std::string_view option, std::string_view value);
std::size_t parse_size_option(std::string_view option, std::string_view value);
bool parse_bool_option(std::string_view option, std::string_view value);

// Splits "a=1&b=2" into pairs (percent-decoding values). Throws InterfaceError on a pair without '='.
std::vector<std::pair<std::string, std::string>> split_query_string(std::string_view url, std::string_view query);

// Moves every common option out of `pairs` into `cfg`; returns the ones left over.
std::vector<std::pair<std::string, std::string>> apply_common_options(
    ConnectionConfig& cfg, std::vector<std::pair<std::string, std::string>> pairs);

// Replaces the password in a URL or conninfo with "***" for messages and logs.
std::string mask_password(std::string_view url);

}  // namespace orm::db
