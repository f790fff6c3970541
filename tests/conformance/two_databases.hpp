// The multiple-databases fixture of the ORM conformance tests: "default" on the runner's database
// and "other" on a second, separate one (Context::second_url(): --url2, or derived from --url),
// with the tables of some models on both. Shared by test_orm_multidb.cpp (plain models) and the
// relation tests (test_rel_models.hpp).
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "tests/conformance/test_orm_models.hpp"

namespace weft::conformance {

// Registers "default" and "other" and creates the tables of Ts on both (dropping leftovers
// first; `create = false` only drops them). At the end: routers and the query logger are reset,
// the tables dropped on both databases, both aliases disconnected.
template <class... Ts>
class TwoDatabases {
public:
    explicit TwoDatabases(Context& ctx, bool create = true) {
        orm::clear_routers();
        orm::connect(ctx.url(), "default");
        orm::connect(ctx.second_url(), "other");
        for (const char* alias : {"default", "other"}) {
            orm::drop_tables<Ts...>(alias);
            if (create) orm::create_tables<Ts...>(alias);
        }
    }
    ~TwoDatabases() {
        orm::clear_routers();
        orm::set_query_logger({});
        for (const char* alias : {"default", "other"}) {
            try {
                orm::drop_tables<Ts...>(alias);
            } catch (...) {
            }
        }
        orm::disconnect("other");
        orm::disconnect("default");
    }
    TwoDatabases(const TwoDatabases&) = delete;
    TwoDatabases& operator=(const TwoDatabases&) = delete;
};

// Every model's reads and writes to one alias.
struct AllTo : orm::Router {
    explicit AllTo(std::string a) : alias(std::move(a)) {}
    std::optional<std::string> db_for_read(const orm::ModelInfo&) const override { return alias; }
    std::optional<std::string> db_for_write(const orm::ModelInfo&) const override { return alias; }
    std::string alias;
};

// A router with no opinion on anything.
struct Silent : orm::Router {};

// How many statements a Capture saw go to `alias`.
inline std::size_t on_alias(const orm_models::Capture& cap, std::string_view alias) {
    auto aliases = cap.aliases();
    return static_cast<std::size_t>(std::count(aliases.begin(), aliases.end(), alias));
}

}  // namespace weft::conformance
