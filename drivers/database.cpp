// Database: a parsed URL, its backend, and the pool of connections to it.
#include "drivers/database.hpp"

#include "drivers/backend.hpp"
#include "drivers/connection.hpp"
#include "drivers/features.hpp"

#include <string>

namespace orm::db {

namespace {

bool pipelining_on(const ConnectionConfig& cfg) {
    const Features& f = cfg.features ? *cfg.features : cfg.backend->features();
    auto it = cfg.options.find("pipelining");
    return f.supports_pipelining && it != cfg.options.end() && it->second == "on";
}

std::size_t pipeline_depth(const ConnectionConfig& cfg) {
    auto it = cfg.options.find("pipeline_depth");
    return it == cfg.options.end() ? 0 : static_cast<std::size_t>(std::stoull(it->second));
}

}  // namespace

std::shared_ptr<Database> Database::open(std::string_view url) {
    return std::make_shared<Database>(parse_url(url));
}

Database::Database(ConnectionConfig cfg)
    : cfg_(std::move(cfg)),
      pool_(
          [this] {
              auto c = cfg_.backend->connect(cfg_);
              learn_features(*c);
              return c;
          },
          cfg_.pool, cfg_.url),
      sharing_(pool_, pipelining_on(cfg_), pipeline_depth(cfg_)) {}

const Dialect& Database::dialect() const { return cfg_.backend->dialect(); }

const Features& Database::features() const {
    if (const Features* learnt = learnt_.load(std::memory_order_acquire)) return *learnt;
    return cfg_.features ? *cfg_.features : cfg_.backend->features();
}

void Database::learn_features(const Connection& c) const {
    const Features& configured = cfg_.features ? *cfg_.features : cfg_.backend->features();
    if (&c.features() == &configured) return;  // the connection learnt nothing new
    std::call_once(learnt_once_, [&] {
        learnt_owner_.reset(new Features(c.features()));
        learnt_.store(learnt_owner_.get(), std::memory_order_release);
    });
}

std::unique_ptr<Connection> Database::connect() const {
    auto c = cfg_.backend->connect(cfg_);
    learn_features(*c);
    return c;
}

}  // namespace orm::db
