// Creating and dropping the tables of a set of models through the backend's schema editor
// (per-dialect DDL with unique constraints and indexes). A database router's allow_migrate()
// can keep a model's table off an alias (orm/routers.hpp).
//     orm::create_tables<Author, Book>();   // creates what is missing
//     orm::drop_tables<Author, Book>();     // drops what exists (in reverse order)
#pragma once

#include <span>
#include <string_view>

#include "orm/meta.hpp"

namespace orm {

namespace detail {
void create_tables(std::span<const ModelInfo* const> models, std::string_view alias, bool if_not_exists);
void drop_tables(std::span<const ModelInfo* const> models, std::string_view alias, bool if_exists);
}  // namespace detail

// CREATE TABLE IF NOT EXISTS (and its indexes) for each model, in one transaction where the
// backend has transactional DDL.
template <class... Ts>
void create_tables(std::string_view alias = "default") {
    const ModelInfo* models[] = {&model_info<Ts>()...};
    detail::create_tables(models, alias, true);
}

// DROP TABLE IF EXISTS for each model, last model first.
template <class... Ts>
void drop_tables(std::string_view alias = "default") {
    const ModelInfo* models[] = {&model_info<Ts>()...};
    detail::drop_tables(models, alias, true);
}

}  // namespace orm
