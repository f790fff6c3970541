// The router list and the decisions made from it.
#include "orm/routers.hpp"

#include <mutex>

#include <fmt/format.h>

#include "orm/errors.hpp"
#include "orm/model_info.hpp"

namespace orm {

namespace detail {

std::atomic<bool> routers_installed{false};

namespace {

using RouterList = std::vector<RouterPtr>;

std::mutex routers_mu;
std::shared_ptr<const RouterList> router_list;

// The current routers; the list itself is never modified once published.
std::shared_ptr<const RouterList> snapshot() {
    std::lock_guard lock(routers_mu);
    return router_list;
}

// Replaces the list with edit(current list), atomically with respect to other writers.
template <class Edit>
void publish(Edit&& edit) {
    std::lock_guard lock(routers_mu);
    RouterList list = router_list ? *router_list : RouterList{};
    edit(list);
    std::erase(list, nullptr);
    const bool on = !list.empty();
    router_list = on ? std::make_shared<const RouterList>(std::move(list)) : nullptr;
    routers_installed.store(on, std::memory_order_relaxed);
}

template <class R, class Ask>
std::optional<R> first_opinion(Ask&& ask) {
    if (!routers_on()) return std::nullopt;
    auto list = snapshot();
    if (!list) return std::nullopt;
    for (const auto& r : *list)
        if (std::optional<R> answer = ask(*r)) return answer;
    return std::nullopt;
}

std::string checked_alias(std::optional<std::string> alias, std::string_view what, const ModelInfo& m) {
    if (!alias) return "default";
    if (alias->empty())
        throw RouterError(fmt::format("a router's {}({}) returned an empty alias; return std::nullopt for no opinion",
                                      what, m.type_name()));
    return std::move(*alias);
}

}  // namespace

bool relation_allowed(const ModelInfo& a, std::string_view alias_a, const ModelInfo& b, std::string_view alias_b) {
    // Django: an object not yet on a database counts as being on its db_for_write.
    RoutedAlias on_a(Access::write, a, alias_a), on_b(Access::write, b, alias_b);
    auto answer = first_opinion<bool>(
        [&](const Router& r) { return r.allow_relation(a, on_a.get(), b, on_b.get()); });
    return answer ? *answer : on_a.get() == on_b.get();
}

void check_relation(const ModelInfo& a, std::string_view alias_a, const ModelInfo& b, std::string_view alias_b) {
    if (!relation_allowed(a, alias_a, b, alias_b)) refuse_relation(a, alias_a, b, alias_b, {});
}

void refuse_relation(const ModelInfo& a, std::string_view alias_a, const ModelInfo& b, std::string_view alias_b,
                     std::string_view via) {
    RoutedAlias on_a(Access::write, a, alias_a), on_b(Access::write, b, alias_b);
    throw RouterError(fmt::format("Cannot relate {} (on database '{}') to {} (on database '{}'){}{}: {}", a.type_name(),
                                  on_a.get(), b.type_name(), on_b.get(), via.empty() ? "" : " ", via,
                                  on_a.get() == on_b.get()
                                      ? "a database router does not allow this relation"
                                      : "objects on different databases cannot be related unless a database "
                                        "router's allow_relation() allows it"));
}

}  // namespace detail

void set_routers(std::vector<RouterPtr> routers) {
    detail::publish([&](std::vector<RouterPtr>& list) { list = std::move(routers); });
}

void add_router(RouterPtr router) {
    detail::publish([&](std::vector<RouterPtr>& list) { list.push_back(std::move(router)); });
}

void clear_routers() {
    detail::publish([](std::vector<RouterPtr>& list) { list.clear(); });
}

std::vector<RouterPtr> routers() {
    auto current = detail::snapshot();
    return current ? *current : std::vector<RouterPtr>{};
}

std::string db_for_read(const ModelInfo& m) {
    return detail::checked_alias(
        detail::first_opinion<std::string>([&](const Router& r) { return r.db_for_read(m); }), "db_for_read", m);
}

std::string db_for_write(const ModelInfo& m) {
    return detail::checked_alias(
        detail::first_opinion<std::string>([&](const Router& r) { return r.db_for_write(m); }), "db_for_write", m);
}

bool allow_migrate(std::string_view alias, const ModelInfo& m) {
    return detail::first_opinion<bool>([&](const Router& r) { return r.allow_migrate(alias, m); }).value_or(true);
}

bool allow_relation(const ModelInfo& a, std::string_view alias_a, const ModelInfo& b, std::string_view alias_b) {
    return detail::relation_allowed(a, alias_a, b, alias_b);
}

}  // namespace orm
