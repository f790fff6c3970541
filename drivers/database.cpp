// Database: a parsed URL, its backend, and the pool of connections to it.
#include "drivers/database.hpp"

#include "drivers/backend.hpp"
#include "drivers/connection.hpp"
#include "drivers/features.hpp"

namespace orm::db {

std::shared_ptr<Database> Database::open(std::string_view url) {
    return std::make_shared<Database>(parse_url(url));
}

Database::Database(ConnectionConfig cfg)
    : cfg_(std::move(cfg)),
      pool_([this] { return cfg_.backend->connect(cfg_); }, cfg_.pool, cfg_.url) {}

const Dialect& Database::dialect() const { return cfg_.backend->dialect(); }
const Features& Database::features() const { return cfg_.features ? *cfg_.features : cfg_.backend->features(); }

std::unique_ptr<Connection> Database::connect() const { return cfg_.backend->connect(cfg_); }

}  // namespace orm::db
