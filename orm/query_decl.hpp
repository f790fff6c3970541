// The query tree as the public headers see it: detail::Query stays an incomplete type here (its
// definition, orm/query.hpp, and the SQL compiler, orm/compiler.hpp, are the library's own, so a
// user's build does not compile them); QuerySet<T> builds queries through the compiled functions
// below and reads what it needs of one through the accessors at the end.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/dialect.hpp"
#include "drivers/value.hpp"
#include "orm/expressions.hpp"
#include "orm/q.hpp"

namespace orm {

class ModelInfo;

namespace detail {

struct Query;
struct Combined;
using QueryPtr = std::shared_ptr<const Query>;

// A statement and its bound parameters (what the compiler renders, QuerySetBase::sql()).
struct Sql {
    std::string text;
    std::vector<Value> params;
};

// Prefetch(..., to_attr): the std::vector<R> member of the owner model that receives the rows
// (orm/queryset.hpp makes one from a member pointer).
struct ToAttr {
    virtual ~ToAttr() = default;
    virtual const ModelInfo& owner() const = 0;
    virtual const ModelInfo& target() const = 0;
    // Moves the rows (a std::vector of the target) into the owner's member.
    virtual void assign(void* owner, void* rows) const = 0;
    // The owner's member, a std::vector of the target.
    virtual void* vector_of(void* owner) const = 0;
    // Whether both name the same member.
    virtual bool same(const ToAttr& other) const noexcept = 0;
};

// One prefetch_related() entry: a path ("books__tags"), and from a Prefetch object the
// queryset its last level reads (null: all rows) and the member it fills instead of the
// relation's own (null: the relation's member).
struct PrefetchSpec {
    std::string path;
    std::shared_ptr<const Query> queryset;
    std::shared_ptr<const ToAttr> to_attr;
};

// Building (each returns a new Query; throws orm::FieldError / orm::ValidationError for bad
// names and values, orm::InterfaceError for misuse such as filtering a sliced query).
QueryPtr make_query(const ModelInfo& model);
QueryPtr with_filter(const Query& q, const Q& cond, bool negate);
QueryPtr with_order_by(const Query& q, std::span<const OrderBy> terms);
QueryPtr with_order_by(const Query& q, std::span<const std::string> names);
QueryPtr with_reverse(const Query& q);
QueryPtr with_slice(const Query& q, std::int64_t start, std::optional<std::int64_t> stop);
QueryPtr with_distinct(const Query& q, bool on);
// distinct("a", "b"): DISTINCT ON those fields (checked against Features when it runs).
QueryPtr with_distinct_fields(const Query& q, std::span<const std::string> names);
// The query `q` as a subquery of one column (`__in`): a values() query of one item, or the
// primary key of a model query. Throws FieldError naming the columns otherwise.
QueryPtr as_in_subquery(const Query& q);
QueryPtr with_none(const Query& q);
QueryPtr with_annotation(const Query& q, std::string name, const Expr& e);
QueryPtr with_values(const Query& q, std::span<const std::string> names);
// select_related(names...); no names: every non-null foreign key, nested.
QueryPtr with_select_related(const Query& q, std::span<const std::string> names);
QueryPtr with_prefetch_related(const Query& q, std::span<const PrefetchSpec> specs);
// only(names) (only true: every other field but the primary key deferred) / defer(names)
// (added to the deferred ones; no names: none deferred). FieldError listing the fields.
QueryPtr with_deferred(const Query& q, std::span<const std::string> names, bool only);
// union(others...) etc.: the compound of q and others (FieldError when they select different
// columns, naming both lists).
QueryPtr with_combined(const Query& q, std::span<const QueryPtr> others, db::Dialect::Compound op, bool all);
// NotSupportedError for `what` ("filter") on a combined query, as Django's
// "Calling QuerySet.filter() after union() is not supported."
void check_not_combined(const Query& q, std::string_view what);
// The names of the columns a query selects, in order (the model's loaded fields and the
// annotations, or the values() items), for messages.
std::vector<std::string> selected_names(const Query& q);
// How many of the model's own columns (table 0) a model-mode query selects.
std::size_t selected_field_count(const Query& q) noexcept;
// What QuerySet<T>'s inline code reads of a query (orm/query.cpp).
const ModelInfo& query_model(const Query& q) noexcept;
// The using_db() alias (empty: routed).
const std::string& query_alias(const Query& q) noexcept;
// prefetch_related() paths to run after the rows are read.
bool has_prefetch(const Query& q) noexcept;
// No explicit or default ordering, and no slice: first() orders by the primary key.
bool is_unordered(const Query& q) noexcept;
bool is_unordered_unsliced(const Query& q) noexcept;

// Which way QuerySet<T>::get(pk) may go (queryset_base.cpp): a plain query (plain, one SELECT by
// primary key, compiled once per model), one with select_related only (related), one that also
// prefetches (related_prefetch), or none of these (other: through filter().get()).
enum class PkGet : std::uint8_t { other, plain, related, related_prefetch };
PkGet pk_get_path(const Query& q) noexcept;

}  // namespace detail
}  // namespace orm
