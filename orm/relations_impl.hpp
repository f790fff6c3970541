// The template members of ForeignKey, RelatedOne, ManyToMany and RelatedSet that need QuerySet<T> (they are
// declared in relations.hpp, which models include before querysets exist). Thin: the work is in
// relations.cpp.
#pragma once

#include "orm/queryset.hpp"
#include "orm/relations.hpp"

namespace orm {

template <class T, class K>
ForeignKey<T, K>::ForeignKey(const T& obj) {
    const ModelInfo& m = model_info<T>();
    if (detail::pk_unset(m, &obj)) detail::throw_unsaved_target(m);
    key_ = detail::from_value<K>(m.normalize(m.pk(), obj.pk()));
    cache_ = std::make_shared<T>(obj);
}

template <class T, class K>
Value ForeignKey<T, K>::pk() const {
    return key_ ? detail::to_value(*key_) : Value();
}

template <class T, class K>
T& ForeignKey<T, K>::get() const {
    if (!cache_) {
        if (!key_) detail::throw_null_relation(model_info<T>());
        auto loaded = std::make_shared<T>(detail::get_by_pk<T>(detail::to_value(*key_), detail::alias_or_default(alias_)));
        // Another fiber may have filled the cache while this one waited for its query: the first
        // object stays, so references it handed out remain valid.
        if (!cache_) cache_ = std::move(loaded);
    }
    return *cache_;
}

template <class T>
T* RelatedOne<T>::get_or_null() const {
    if (!loaded_) {
        auto found = detail::related_one_fetch(
            detail::checked_binding(b_, "access", " to an orm::RelatedOne<", model_info<T>(), ">"));
        // Another fiber may have filled the cache while this one waited for its query: the first
        // answer stays, so references it handed out remain valid.
        if (!loaded_) {
            cache_ = std::static_pointer_cast<T>(std::move(found));
            loaded_ = true;
        }
    }
    return cache_.get();
}

template <class T>
T& RelatedOne<T>::get() const {
    if (T* obj = get_or_null()) return *obj;
    detail::throw_no_related_one(b_);
}

namespace detail {

template <class T>
const SetBinding& RelatedSetImpl<T>::binding(std::string_view what) const {
    return checked_binding(b_, what, " on a related set of ", model_info<T>(), "");
}

template <class T>
QuerySet<T> RelatedSetImpl<T>::all() const {
    QuerySet<T> qs(related_query(binding("all()"), "all()"));
    if (prefetched_) qs.set_cache(prefetched_);
    return qs;
}

template <class T>
QuerySet<T> RelatedSetImpl<T>::filter(const Q& q) const {
    return QuerySet<T>(related_query(binding("filter()"), "filter()")).filter(q);
}
template <class T>
QuerySet<T> RelatedSetImpl<T>::filter(std::string lookup, Operand v) const {
    return filter(Q(std::move(lookup), std::move(v)));
}
template <class T>
QuerySet<T> RelatedSetImpl<T>::exclude(const Q& q) const {
    return QuerySet<T>(related_query(binding("exclude()"), "exclude()")).exclude(q);
}
template <class T>
QuerySet<T> RelatedSetImpl<T>::exclude(std::string lookup, Operand v) const {
    return exclude(Q(std::move(lookup), std::move(v)));
}
template <class T>
std::int64_t RelatedSetImpl<T>::count() const {
    if (prefetched_) return static_cast<std::int64_t>(prefetched_->size());
    return QuerySet<T>(related_query(binding("count()"), "count()")).count();
}
template <class T>
bool RelatedSetImpl<T>::exists() const {
    if (prefetched_) return !prefetched_->empty();
    return QuerySet<T>(related_query(binding("exists()"), "exists()")).exists();
}

template <class T>
T RelatedSetImpl<T>::create(T obj) {
    const SetBinding& b = binding("create()");
    related_prepare_create(b, &obj);
    insert_object(model_info<T>(), &obj, alias_or_default(b.alias));
    related_after_create(b, obj.pk());
    prefetched_.reset();
    return obj;
}

}  // namespace detail
}  // namespace orm
