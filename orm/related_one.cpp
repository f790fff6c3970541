// The compiled half of RelatedOne<T> (the reverse side of a one-to-one): the one row whose
// one-to-one key is the owner's read lazily, and the error when none is; also the error for any
// relation member (sets too) whose owner is not saved.
// select_related and prefetch_related fill the same cache (query.cpp, relations.cpp).
#include <fmt/format.h>

#include "orm/errors.hpp"
#include "orm/model_info.hpp"
#include "orm/query.hpp"
#include "orm/queryset_base.hpp"
#include "orm/relations.hpp"

namespace orm::detail {

namespace {

// "Profile" for "app::Profile": messages about one object read better without namespaces.
std::string_view short_name(const ModelInfo& m) {
    std::string_view n = m.type_name();
    if (auto pos = n.rfind("::"); pos != std::string_view::npos) n.remove_prefix(pos + 2);
    return n;
}

}  // namespace

void throw_unbound_member(std::string_view what, std::string_view member_before, const ModelInfo& target,
                          std::string_view member_after) {
    throw InterfaceError(fmt::format("{}{}{}{}: its owner is not saved (or not loaded from the database) yet; save the "
                                     "owner first",
                                     what, member_before, target.type_name(), member_after));
}

std::shared_ptr<void> related_one_fetch(const SetBinding& b) {
    const Relation& r = *b.relation;
    const ModelInfo& target = r.target();
    // The column is unique, so at most one row matches; a second one (a table made without the
    // constraint) is reported as get() would.
    auto filtered = with_filter(*make_query(target), Q(r.fk->name, b.owner_pk), false);
    auto q = std::make_shared<Query>(*with_slice(*filtered, 0, 2));
    q->alias = alias_or_default(b.alias);
    q->order_by.clear();
    auto rows = target.ops().new_vector();
    fetch_objects(*q, [&]() -> void* { return target.ops().emplace_back(rows.get()); });
    const std::size_t n = target.ops().size(rows.get());
    if (n == 0) return nullptr;
    if (n > 1)
        target.throw_multiple_objects(fmt::format("more than one {} refers to {} through the one-to-one {}.{}",
                                                  short_name(target), r.owner->describe_object(b.owner_pk),
                                                  short_name(target), r.fk->name));
    return std::shared_ptr<void>(rows, target.ops().at(rows.get(), 0));
}

void throw_no_related_one(const SetBinding& b) {
    if (!b.relation) throw InterfaceError("get() on an orm::RelatedOne whose owner is not saved (or not loaded) yet");
    const Relation& r = *b.relation;
    const ModelInfo& target = r.target();
    target.throw_does_not_exist(fmt::format("{} has no {}: no {} refers to it through {}.{}",
                                            r.owner->describe_object(b.owner_pk), r.name, short_name(target),
                                            short_name(target), r.fk->name));
}

}  // namespace orm::detail
