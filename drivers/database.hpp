// Database: one configured database (backend + URL options + connection pool).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string_view>

#include "drivers/backend.hpp"
#include "drivers/config.hpp"
#include "drivers/own_ptr.hpp"
#include "drivers/pipeline.hpp"
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
    // The backend's features, less what the URL switched off (disable_features), refined by what
    // the first connection learnt of the server (e.g. whether its LC_CTYPE folds non-ASCII
    // letters): before any connection is made, the backend's general answer.
    const Features& features() const;

    PooledConnection acquire() { return pool_.acquire(); }
    // A connection outside the pool, owned by the caller.
    std::unique_ptr<Connection> connect() const;
    Pool& pool() { return pool_; }
    // Connections shared by fibers (automatic pipelining; off unless the backend's URL options
    // turned it on: PostgreSQL's pipelining=on, its default).
    Sharing& sharing() { return sharing_; }

private:
    // Keeps the features of the first connection that differ from the configured ones.
    void learn_features(const Connection& c) const;

    ConnectionConfig cfg_;
    mutable std::once_flag learnt_once_;
    mutable orm::detail::OwnPtr<const Features> learnt_owner_;
    mutable std::atomic<const Features*> learnt_{nullptr};
    Pool pool_;
    Sharing sharing_;  // after pool_: destroyed first
};

}  // namespace orm::db
