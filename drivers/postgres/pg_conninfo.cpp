// Finding weft's options in libpq URIs and key=value strings.
#include "drivers/postgres/pg_conninfo.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "drivers/config.hpp"

namespace orm::db::postgres {

namespace {

bool is_ours(std::string_view key, const std::vector<std::string_view>& names) {
    return std::find(names.begin(), names.end(), key) != names.end();
}

// Lenient percent-decoding, only for recognizing keys and secrets (libpq decodes the real thing).
std::string loose_decode(std::string_view s) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::optional<std::size_t> uri_prefix(std::string_view s) {
    for (std::string_view p : {std::string_view("postgresql://"), std::string_view("postgres://")}) {
        if (s.size() >= p.size() && std::equal(p.begin(), p.end(), s.begin(), [](char a, char b) {
                return a == std::tolower(static_cast<unsigned char>(b));
            }))
            return p.size();
    }
    return std::nullopt;
}

PgConninfo split_uri(std::string_view url, std::size_t prefix, std::string_view masked,
                     const std::vector<std::string_view>& names) {
    PgConninfo out;
    // libpq compares the scheme case-sensitively; we accept any case, as the registry does.
    std::string base;
    for (std::size_t i = 0; i < prefix; ++i) base += static_cast<char>(std::tolower(static_cast<unsigned char>(url[i])));
    std::string_view rest = url.substr(prefix);
    // Like libpq, credentials end at the first '@' before any '/'; a '?' may sit in a password.
    std::size_t search_from = 0;
    if (auto stop = rest.find_first_of("@/"); stop != std::string_view::npos && rest[stop] == '@') {
        std::string_view creds = rest.substr(0, stop);
        if (auto colon = creds.find(':'); colon != std::string_view::npos) {
            std::string_view pw = creds.substr(colon + 1);
            out.secrets.emplace_back(pw);
            out.secrets.push_back(loose_decode(pw));
        }
        search_from = stop + 1;
    }
    std::size_t q = rest.find('?', search_from);
    base += rest.substr(0, q);
    if (q == std::string_view::npos) {
        out.libpq = std::move(base);
        return out;
    }
    std::string_view query = rest.substr(q + 1);
    std::vector<std::string_view> kept;
    for (bool more = true; more;) {
        auto amp = query.find('&');
        std::string_view seg = query.substr(0, amp);
        more = amp != std::string_view::npos;
        if (more) query = query.substr(amp + 1);
        if (seg.empty()) continue;
        auto eq = seg.find('=');
        std::string key = loose_decode(seg.substr(0, eq));
        if (eq != std::string_view::npos && is_ours(key, names)) {
            auto pairs = split_query_string(masked, seg);  // decodes and reports bad escapes
            out.ours.insert(out.ours.end(), pairs.begin(), pairs.end());
        } else {
            if (key == "password" && eq != std::string_view::npos) {
                out.secrets.emplace_back(seg.substr(eq + 1));
                out.secrets.push_back(loose_decode(seg.substr(eq + 1)));
            }
            kept.push_back(seg);
        }
    }
    out.libpq = std::move(base);
    if (!kept.empty()) {
        out.libpq += '?';
        for (std::size_t i = 0; i < kept.size(); ++i) {
            if (i) out.libpq += '&';
            out.libpq += kept[i];
        }
    }
    return out;
}

bool space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

PgConninfo split_key_value(std::string_view s, const std::vector<std::string_view>& names) {
    PgConninfo out;
    std::string kept;
    std::vector<std::pair<std::string, std::string>> ours;
    std::size_t i = 0, n = s.size();
    auto give_up = [&] {
        // Malformed: let libpq report it in its own words.
        PgConninfo raw;
        raw.libpq = std::string(s);
        raw.secrets = out.secrets;
        return raw;
    };
    while (true) {
        while (i < n && space(s[i])) ++i;
        if (i >= n) break;
        std::size_t start = i;
        while (i < n && s[i] != '=' && !space(s[i])) ++i;
        std::string key(s.substr(start, i - start));
        while (i < n && space(s[i])) ++i;
        if (i >= n || s[i] != '=') return give_up();
        ++i;
        while (i < n && space(s[i])) ++i;
        std::string value;
        if (i < n && s[i] == '\'') {
            ++i;
            bool closed = false;
            while (i < n) {
                if (s[i] == '\\') {
                    if (++i >= n) break;
                    value += s[i++];
                } else if (s[i] == '\'') {
                    ++i;
                    closed = true;
                    break;
                } else {
                    value += s[i++];
                }
            }
            if (!closed) return give_up();
        } else {
            while (i < n && !space(s[i])) {
                if (s[i] == '\\') {
                    if (++i >= n) break;
                }
                value += s[i++];
            }
        }
        if (key == "password") out.secrets.push_back(value);
        if (is_ours(key, names)) {
            ours.emplace_back(std::move(key), std::move(value));
        } else {
            if (!kept.empty()) kept += ' ';
            kept += s.substr(start, i - start);
        }
    }
    out.libpq = std::move(kept);
    out.ours = std::move(ours);
    return out;
}

}  // namespace

PgConninfo split_conninfo(std::string_view url, std::string_view masked, const std::vector<std::string_view>& names) {
    if (auto prefix = uri_prefix(url)) return split_uri(url, *prefix, masked, names);
    return split_key_value(url, names);
}

std::string scrub(std::string message, const std::vector<std::string>& secrets) {
    for (const auto& s : secrets) {
        if (s.size() < 4) continue;
        for (auto pos = message.find(s); pos != std::string::npos; pos = message.find(s, pos + 3))
            message.replace(pos, s.size(), "***");
    }
    return message;
}

std::string to_conninfo(const Keywords& keywords) {
    std::string out;
    for (const auto& [k, v] : keywords) {
        if (!out.empty()) out += ' ';
        out += k;
        out += "='";
        for (char c : v) {
            if (c == '\\' || c == '\'') out += '\\';
            out += c;
        }
        out += '\'';
    }
    return out;
}

}  // namespace orm::db::postgres
