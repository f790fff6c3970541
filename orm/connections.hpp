// Named databases for the ORM: orm::connect(url, alias) registers a database (its pool opens
// connections on demand), orm::database(alias) finds it. Querysets and models use "default"
// unless told otherwise.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/database.hpp"

namespace orm {

// Opens (lazily) the database at `url` and registers it as `alias`, replacing an earlier one
// with that alias. Throws orm::InterfaceError for a malformed URL.
db::Database& connect(std::string_view url, std::string_view alias = "default");
// Registers an existing database object.
db::Database& connect(std::shared_ptr<db::Database> database, std::string_view alias = "default");
// The database registered as `alias`; throws orm::InterfaceError listing the aliases.
db::Database& database(std::string_view alias = "default");
std::shared_ptr<db::Database> database_ptr(std::string_view alias = "default");
// Unregisters `alias` (its pool closes once nobody uses it). False if it was not registered.
bool disconnect(std::string_view alias = "default");
std::vector<std::string> database_aliases();

}  // namespace orm
