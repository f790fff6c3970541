// Backend: the fixed set of parts a database driver provides, and the registry that maps URL
// schemes to backends. Adding a backend = implementing this and calling register_backend().
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/config.hpp"

namespace orm::db {

class Connection;
class Dialect;
class Introspection;
class SchemaEditor;
struct Features;

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string_view name() const = 0;                 // "sqlite", "postgresql"
    virtual std::vector<std::string_view> schemes() const = 0; // URL schemes it answers to
    virtual const Dialect& dialect() const = 0;
    virtual const Features& features() const = 0;
    virtual const SchemaEditor& schema_editor() const = 0;
    virtual const Introspection& introspection() const = 0;
    // Backend-specific URL options, for parsing and for error messages.
    virtual std::vector<std::string_view> option_names() const = 0;
    // Parses a URL of this backend. Throws orm::InterfaceError saying what is malformed.
    virtual ConnectionConfig parse_url(std::string_view url) const = 0;
    // Opens a connection. Throws orm::ConnectionError (unreachable, refused, bad credentials).
    virtual std::unique_ptr<Connection> connect(const ConnectionConfig& cfg) const = 0;
};

// Registers a backend for its schemes (replacing an earlier one with the same scheme).
void register_backend(std::shared_ptr<const Backend> backend);
// The backend a URL names. A URL without a registered "scheme:" prefix that looks like a libpq
// key=value string ("host=... dbname=...") goes to the backend registered for "postgresql".
// Throws orm::InterfaceError listing the registered schemes.
const Backend& backend_for_url(std::string_view url);
std::vector<std::string> registered_schemes();
// Parses with the right backend.
ConnectionConfig parse_url(std::string_view url);

}  // namespace orm::db
