// The errors orm::Meta<T> and ForeignKey<T> raise from their inline code, compiled here so that
// the headers stay free of fmt's formatting (see bench/compile_bench.cpp).
#include <fmt/format.h>

#include "orm/errors.hpp"
#include "orm/meta.hpp"

namespace orm::detail {

void throw_not_a_relation(const ModelInfo& m, std::string_view option, const FieldInfo& f) {
    throw InterfaceError(fmt::format("model {}: {}() is for foreign keys, but '{}' is not one", m.type_name(), option,
                                     f.name));
}

void throw_unsaved_target(const ModelInfo& target) {
    throw ValidationError(fmt::format(
        "cannot refer to this {}: it is not saved yet (its primary key is unset); save it first", target.type_name()));
}

}  // namespace orm::detail
