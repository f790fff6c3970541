// Bulk writes: bulk_create's options (Django's keyword arguments) and bulk_update. The work is
// in orm/bulk.cpp; QuerySet<T> and Manager<T> add the types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "orm/meta.hpp"

namespace orm {

// A field named by a string ("title") or a member pointer (&Book::title): both spellings give
// the same name.
struct FieldName {
    std::string name;
    FieldName(const char* n) : name(n) {}                 // NOLINT: a field name
    FieldName(std::string n) : name(std::move(n)) {}      // NOLINT
    FieldName(std::string_view n) : name(n) {}            // NOLINT
    template <class T, class M>
    FieldName(M T::*member) : name(field_of(member).name) {}  // NOLINT
};
using FieldNames = std::vector<FieldName>;

// bulk_create(objs, {.ignore_conflicts = true}) / bulk_create(objs, {.update_conflicts = true,
// .update_fields = {"price"}, .unique_fields = {"isbn"}}), as Django 4.1's keyword arguments.
struct BulkCreate {
    // Rows per statement (0: COPY takes every row in one statement; multi-row INSERTs take as
    // many as the backend's parameter limit allows, up to 1000).
    std::size_t batch_size = 0;
    // INSERT ... ON CONFLICT DO NOTHING: rows that conflict are skipped. Primary keys are not set.
    bool ignore_conflicts = false;
    // INSERT ... ON CONFLICT (unique_fields) DO UPDATE SET f = EXCLUDED.f for each of
    // update_fields. Keys are set where the backend returns rows from a bulk insert.
    bool update_conflicts = false;
    FieldNames update_fields;
    FieldNames unique_fields;
};

namespace detail {

// bulk_create(): objects first, first + stride, ... (count of them) on `alias` (empty: routed).
void bulk_create_objects(const ModelInfo& m, void* first, std::size_t count, std::size_t stride,
                         std::string_view alias, const BulkCreate& options);
// bulk_update(): the number of rows matched.
std::int64_t bulk_update_objects(const ModelInfo& m, const void* first, std::size_t count, std::size_t stride,
                                 std::string_view alias, const FieldNames& fields, std::size_t batch_size);

// Shared with instance.cpp: the relation checks of a bulk insert (objs[i] of count), and one
// plain INSERT of an object whose checks are done.
void check_bulk_related(const ModelInfo& m, const void* obj, std::string_view alias, std::size_t i, std::size_t count);
void insert_checked(const ModelInfo& m, void* obj, std::string_view alias);

}  // namespace detail
}  // namespace orm
