// PgBackend: the PostgreSQL parts, URL parsing (libpq parses its own syntax) and connect.
#include "drivers/postgres/pg_backend.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "drivers/errors.hpp"
#include "drivers/postgres/pg_connection.hpp"
#include "drivers/postgres/pg_conninfo.hpp"
#include "drivers/postgres/pg_dialect.hpp"
#include "drivers/postgres/pg_features.hpp"
#include "drivers/postgres/pg_introspection.hpp"
#include "drivers/postgres/pg_libpq.hpp"
#include "drivers/postgres/pg_schema.hpp"

namespace orm::db::postgres {

namespace {

class PgBackend final : public Backend {
public:
    std::string_view name() const override { return "postgresql"; }
    std::vector<std::string_view> schemes() const override { return {"postgresql", "postgres"}; }
    const Dialect& dialect() const override { return dialect_; }
    const Features& features() const override { return pg_features(); }
    const SchemaEditor& schema_editor() const override { return schema_; }
    const Introspection& introspection() const override { return introspection_; }
    // transaction_pooling=on: a pooler in transaction mode (PgBouncer pool_mode=transaction) sits
    // between us and the server (see PgConnection). Every other parameter belongs to libpq.
    // pipelining=on|off (default on) and pipeline_depth=N (default 64): fibers' statements
    // outside transactions share connections in libpq pipeline mode (see pg_pipeline.cpp).
    std::vector<std::string_view> option_names() const override {
        return {"transaction_pooling", "pipelining", "pipeline_depth"};
    }

    ConnectionConfig parse_url(std::string_view url) const override {
        ConnectionConfig cfg;
        cfg.backend = this;
        cfg.url = mask_password(url);
        std::vector<std::string_view> ours = common_url_options();
        for (auto n : option_names()) ours.push_back(n);

        PgConninfo split = split_conninfo(url, cfg.url, ours);
        bool cache_size_given = false;
        for (const auto& [k, v] : split.ours) cache_size_given |= k == "statement_cache_size" && v != "0";
        for (auto& [k, v] : apply_common_options(cfg, std::move(split.ours))) cfg.options.emplace(k, v);
        if (auto it = cfg.options.find("transaction_pooling"); it != cfg.options.end()) {
            if (parse_bool_option("transaction_pooling", it->second)) {
                // Named statements live in one server session, which a transaction pooler hands
                // to other clients between our transactions: only unnamed ones can work.
                if (cache_size_given)
                    throw InterfaceError(fmt::format(
                        "invalid PostgreSQL URL '{}': transaction_pooling=on sends unnamed statements only, so it "
                        "cannot be combined with a statement_cache_size other than 0",
                        cfg.url));
                cfg.statement_cache_size = 0;
                it->second = "on";
            } else {
                it->second = "off";
            }
        }

        // Pipelining: statements of several fibers on one server session at once. Behind a
        // transaction pooler each Sync may land on another server session and named statements
        // do not exist, so it is off there.
        const bool pooled = cfg.options.count("transaction_pooling") && cfg.options["transaction_pooling"] == "on";
        if (auto it = cfg.options.find("pipelining"); it != cfg.options.end()) {
            bool on = parse_bool_option("pipelining", it->second);
            if (on && pooled)
                throw InterfaceError(fmt::format(
                    "invalid PostgreSQL URL '{}': pipelining=on cannot be combined with transaction_pooling=on (a "
                    "transaction pooler may hand each statement of a pipeline to another server session); leave "
                    "pipelining out or set it off",
                    cfg.url));
            it->second = on ? "on" : "off";
        } else {
            cfg.options.emplace("pipelining", pooled ? "off" : "on");
        }
        if (auto it = cfg.options.find("pipeline_depth"); it != cfg.options.end()) {
            std::size_t depth = parse_size_option("pipeline_depth", it->second);
            if (depth == 0)
                throw InterfaceError(fmt::format(
                    "invalid PostgreSQL URL '{}': pipeline_depth must be at least 1 (statements sharing one "
                    "connection at most); to stop sharing connections set pipelining=off",
                    cfg.url));
            it->second = std::to_string(depth);
        } else {
            cfg.options.emplace("pipeline_depth", "64");
        }

        std::string error;
        auto keywords = PgHandle::parse_conninfo(split.libpq, error);
        if (!keywords)
            throw InterfaceError(fmt::format(
                "invalid PostgreSQL URL '{}': {}. weft's own options are {}; every other parameter goes to libpq "
                "(see https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS)",
                cfg.url, scrub(error, split.secrets), fmt::join(ours, ", ")));
        cfg.target = to_conninfo(*keywords);
        return cfg;
    }

    std::unique_ptr<Connection> connect(const ConnectionConfig& cfg) const override {
        if (cfg.backend && cfg.backend != this)
            throw InterfaceError(fmt::format("connection config for '{}' belongs to another backend", cfg.url));
        return std::make_unique<PgConnection>(*this, cfg);
    }

private:
    PgDialect dialect_;
    PgSchemaEditor schema_{dialect_};
    PgIntrospection introspection_;
};

}  // namespace

std::shared_ptr<const Backend> make_backend() {
    static const std::shared_ptr<const Backend> backend = std::make_shared<PgBackend>();
    return backend;
}

}  // namespace orm::db::postgres
