// Database routers, as Django's DATABASE_ROUTERS: objects the ORM asks which database alias a
// model's reads and writes go to, whether two objects on given databases may be related, and
// whether a model's table belongs on a database. A queryset or instance operation without an
// explicit alias (using_db("x"), save("x"), ...) asks the routers when it runs; the first router
// with an opinion wins, and without one the alias is "default".
//
//     struct PrimaryReplica : orm::Router {
//         std::optional<std::string> db_for_read(const orm::ModelInfo&) const override { return "replica"; }
//         std::optional<std::string> db_for_write(const orm::ModelInfo&) const override { return "default"; }
//     };
//     orm::add_router(std::make_shared<PrimaryReplica>());
//
// With no router installed, choosing an alias costs one relaxed atomic load.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orm {

class ModelInfo;

// Every method may be called from several threads at once. std::nullopt: no opinion (the next
// router is asked).
class Router {
public:
    virtual ~Router() = default;
    // The alias reads of this model go to.
    virtual std::optional<std::string> db_for_read(const ModelInfo&) const { return std::nullopt; }
    // The alias writes (insert, update, delete, save, bulk_create, get_or_create ...) go to.
    virtual std::optional<std::string> db_for_write(const ModelInfo&) const { return std::nullopt; }
    // Whether an object of `a` on `alias_a` may refer to one of `b` on `alias_b`.
    virtual std::optional<bool> allow_relation(const ModelInfo& /*a*/, std::string_view /*alias_a*/,
                                               const ModelInfo& /*b*/, std::string_view /*alias_b*/) const {
        return std::nullopt;
    }
    // Whether create_tables / drop_tables on `alias` handle this model's table.
    virtual std::optional<bool> allow_migrate(std::string_view /*alias*/, const ModelInfo&) const {
        return std::nullopt;
    }
};

using RouterPtr = std::shared_ptr<const Router>;

// Replaces the routers (asked in this order); an empty list turns routing off.
void set_routers(std::vector<RouterPtr> routers);
// Appends a router (asked after the ones installed before).
void add_router(RouterPtr router);
void clear_routers();
std::vector<RouterPtr> routers();

// What the routers decide, with Django's defaults when none has an opinion: "default" for reads
// and writes, migration allowed, relations allowed only between objects on the same alias (an
// empty alias stands for the object's db_for_write, as Django does for unsaved objects).
std::string db_for_read(const ModelInfo& m);
std::string db_for_write(const ModelInfo& m);
bool allow_migrate(std::string_view alias, const ModelInfo& m);
bool allow_relation(const ModelInfo& a, std::string_view alias_a, const ModelInfo& b, std::string_view alias_b);

namespace detail {

extern std::atomic<bool> routers_installed;
inline bool routers_on() noexcept { return routers_installed.load(std::memory_order_relaxed); }

enum class Access : std::uint8_t { read, write };

const std::string& interned_default_alias() noexcept;  // model_info.hpp

// The alias an operation on model `m` runs on: `alias` when not empty (an explicit using_db /
// alias argument), else the routers' choice for `access`, else "default". Holds the routed
// name, so it must outlive the string_view taken from it.
class RoutedAlias {
public:
    RoutedAlias(Access access, const ModelInfo& m, std::string_view alias) {
        if (!alias.empty()) view_ = alias;
        else if (!routers_on()) view_ = interned_default_alias();  // alias_ptr() knows it by address
        else view_ = routed_ = (access == Access::read ? db_for_read(m) : db_for_write(m));
    }
    RoutedAlias(const RoutedAlias&) = delete;
    RoutedAlias& operator=(const RoutedAlias&) = delete;

    std::string_view get() const noexcept { return view_; }
    operator std::string_view() const noexcept { return view_; }

private:
    std::string routed_;
    std::string_view view_;
};

// The relation check the relation code runs when it links two objects: allow_relation() above.
bool relation_allowed(const ModelInfo& a, std::string_view alias_a, const ModelInfo& b, std::string_view alias_b);
// Throws orm::RouterError naming both models and both aliases when relation_allowed() is false.
void check_relation(const ModelInfo& a, std::string_view alias_a, const ModelInfo& b, std::string_view alias_b);
// The orm::RouterError of a refused relation; `via` (may be empty) says through which relation and
// in which operation ("through Book.author in save()").
[[noreturn]] void refuse_relation(const ModelInfo& a, std::string_view alias_a, const ModelInfo& b,
                                  std::string_view alias_b, std::string_view via);
// Whether linking an object on `alias` to one on `other_db` must ask relation_allowed(): when the
// other object has been to a database (`other_db` not empty) and either the databases differ or a
// router is installed (its allow_relation() may refuse a relation on one database too). Without
// routers, linking objects of one database costs nothing.
inline bool link_needs_check(std::string_view alias, std::string_view other_db) noexcept {
    return !other_db.empty() && (other_db != alias || routers_on());
}

}  // namespace detail

}  // namespace orm
