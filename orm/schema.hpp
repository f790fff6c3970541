// Creating and dropping the tables of a set of models through the backend's schema editor
// (per-dialect DDL with unique constraints and indexes). A database router's allow_migrate()
// can keep a model's table off an alias (orm/routers.hpp).
//     orm::create_tables<Author, Book>();   // creates what is missing
//     orm::create_tables<Author, Book>(orm::IfExists::fail);  // all new, or an error
//     orm::drop_tables<Author, Book>();     // drops what exists (in reverse order)
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "orm/meta.hpp"

namespace orm {

namespace detail {
void create_tables(std::span<const ModelInfo* const> models, std::string_view alias, bool if_not_exists);
void drop_tables(std::span<const ModelInfo* const> models, std::string_view alias, bool if_exists);
}  // namespace detail

// What create_tables does when a table exists already, and drop_tables when one does not:
// leave it be (the default), or fail (the database's error; with transactional DDL nothing of
// the call is left behind).
enum class IfExists : std::uint8_t { skip, fail };
enum class IfMissing : std::uint8_t { skip, fail };

// CREATE TABLE [IF NOT EXISTS] (and its indexes) for each model, in one transaction where the
// backend has transactional DDL.
template <class... Ts>
void create_tables(std::string_view alias = "default", IfExists existing = IfExists::skip) {
    const ModelInfo* models[] = {&model_info<Ts>()...};
    detail::create_tables(models, alias, existing == IfExists::skip);
}
template <class... Ts>
void create_tables(IfExists existing) {
    create_tables<Ts...>("default", existing);
}

// DROP TABLE [IF EXISTS] for each model, dependents first.
template <class... Ts>
void drop_tables(std::string_view alias = "default", IfMissing missing = IfMissing::skip) {
    const ModelInfo* models[] = {&model_info<Ts>()...};
    detail::drop_tables(models, alias, missing == IfMissing::skip);
}
template <class... Ts>
void drop_tables(IfMissing missing) {
    drop_tables<Ts...>("default", missing);
}

}  // namespace orm
