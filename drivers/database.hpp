// Database: one configured database (backend + URL options + connection pool).
#pragma once

#include <memory>
#include <string_view>

#include "drivers/backend.hpp"
#include "drivers/config.hpp"
#include "drivers/pool.hpp"

namespace orm::db {

class Database {
public:
    // Parses the URL and prepares the pool; no connection is opened until one is needed.
    static std::shared_ptr<Database> open(std::string_view url);
    explicit Database(ConnectionConfig cfg);
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    const Backend& backend() const { return *cfg_.backend; }
    const ConnectionConfig& config() const { return cfg_; }
    const Dialect& dialect() const;
    const Features& features() const;

    PooledConnection acquire() { return pool_.acquire(); }
    // A connection outside the pool, owned by the caller.
    std::unique_ptr<Connection> connect() const;
    Pool& pool() { return pool_; }

private:
    ConnectionConfig cfg_;
    Pool pool_;
};

}  // namespace orm::db
