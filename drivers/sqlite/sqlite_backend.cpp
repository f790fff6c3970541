// SqliteBackend: the parts of the SQLite driver, and its URL parsing.
#include "drivers/sqlite/sqlite_backend.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "drivers/errors.hpp"
#include "drivers/sqlite/sqlite_connection.hpp"
#include "drivers/sqlite/sqlite_dialect.hpp"
#include "drivers/sqlite/sqlite_features.hpp"
#include "drivers/sqlite/sqlite_introspection.hpp"
#include "drivers/sqlite/sqlite_options.hpp"
#include "drivers/sqlite/sqlite_schema.hpp"

namespace orm::db::sqlite {

namespace {

constexpr std::string_view url_forms =
    "sqlite:///abs/path.db, sqlite://relative/path.db, sqlite:relative.db, sqlite::memory: or sqlite://:memory:";

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string decode_path(std::string_view url, std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            throw InterfaceError(fmt::format("malformed SQLite URL '{}': bad percent escape in the path", url));
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    if (out.find('\0') != std::string::npos)
        throw InterfaceError(fmt::format("malformed SQLite URL '{}': the path contains a NUL byte", url));
    return out;
}

class SqliteBackend final : public Backend {
public:
    SqliteBackend() : features_(make_features()), schema_editor_(dialect_) {}

    std::string_view name() const override { return "sqlite"; }
    std::vector<std::string_view> schemes() const override { return {"sqlite"}; }
    const Dialect& dialect() const override { return dialect_; }
    const Features& features() const override { return features_; }
    const SchemaEditor& schema_editor() const override { return schema_editor_; }
    const Introspection& introspection() const override { return introspection_; }
    std::vector<std::string_view> option_names() const override { return sqlite::option_names(); }
    ConnectionConfig parse_url(std::string_view url) const override;
    std::unique_ptr<Connection> connect(const ConnectionConfig& cfg) const override {
        return std::make_unique<SqliteConnection>(*this, cfg);
    }

private:
    SqliteDialect dialect_;
    Features features_;
    SqliteSchemaEditor schema_editor_;
    SqliteIntrospection introspection_;
};

ConnectionConfig SqliteBackend::parse_url(std::string_view url) const {
    ConnectionConfig cfg;
    cfg.backend = this;
    cfg.url = mask_password(url);

    auto colon = url.find(':');
    std::string scheme(url.substr(0, colon == std::string_view::npos ? 0 : colon));
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (colon == std::string_view::npos || scheme != "sqlite")
        throw InterfaceError(fmt::format("not an SQLite URL: '{}'; expected {}", cfg.url, url_forms));

    std::string_view rest = url.substr(colon + 1);
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    if (rest.starts_with("//")) rest.remove_prefix(2);  // "sqlite://" + "relative" | "/abs" | ":memory:"
    std::string path = decode_path(cfg.url, rest);
    if (path == "/:memory:") path = ":memory:";  // SQLAlchemy's spelling
    if (path.empty())
        throw InterfaceError(fmt::format("SQLite URL '{}' names no database file; use {}", cfg.url, url_forms));

    auto leftover = apply_common_options(cfg, split_query_string(url, query));
    SqliteOptions checked;
    for (auto& [name, value] : leftover) {
        apply_option(checked, cfg.url, name, value);
        cfg.options[name] = value;
    }

    if (is_memory_target(path)) {
        // Every connection to ":memory:" opens a separate, empty database, so a pool of more than
        // one connection would show different data to different callers.
        cfg.pool.max_size = 1;
    } else {
        std::error_code ec;
        auto absolute = std::filesystem::absolute(path, ec);
        if (!ec) path = absolute.lexically_normal().string();
    }
    cfg.target = std::move(path);
    return cfg;
}

}  // namespace

std::shared_ptr<const Backend> make_backend() {
    static const std::shared_ptr<const Backend> backend = std::make_shared<const SqliteBackend>();
    return backend;
}

}  // namespace orm::db::sqlite
