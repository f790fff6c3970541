// orm::Model<T>: the CRTP base of a model. Its data members are the database the object came
// from and the mask of its deferred fields (only() / defer()); the model stays a plain aggregate
// with designated initializers. It gives T:
//   T::objects                    the manager (queries start here)
//   T::DoesNotExist               thrown by get() on no row (an orm::ObjectDoesNotExist)
//   T::MultipleObjectsReturned    thrown by get() on several rows
//   save(), remove(), refresh_from_db(), pk()
// The model also declares `static void describe(orm::Meta<T>&)` (see meta.hpp).
#pragma once

#include "orm/manager.hpp"
#include "orm/meta.hpp"
#include "orm/queryset_base.hpp"
#include "orm/relations_impl.hpp"

namespace orm {

template <class T>
struct Model {
    // Registers T with the model registry at program start (reverse relations and the
    // deletion collector need to know every model that points at another).
    Model() noexcept { (void)registered_; }

    struct DoesNotExist : ObjectDoesNotExist {
        using ObjectDoesNotExist::ObjectDoesNotExist;
    };
    struct MultipleObjectsReturned : orm::MultipleObjectsReturned {
        using orm::MultipleObjectsReturned::MultipleObjectsReturned;
    };

    static constexpr Manager<T> objects{};

    // Each takes the database alias to use (Django's `using=`); without one, the routers choose
    // (db_for_write for save and remove, db_for_read for refresh_from_db), else "default".
    //
    // INSERT when the auto-increment key is still 0 (then the key is filled in), else UPDATE by
    // primary key (INSERT if no row has it). Validates every field before any SQL is sent.
    // An object loaded from (or saved to) a database goes back to it unless an alias is given.
    void save(std::string_view using_db = {}) { detail::save_object(model_info<T>(), self(), target(using_db)); }
    // DELETE by primary key; an auto-increment key goes back to 0. Returns the rows deleted
    // (of this model: cascades delete more, see on_delete).
    std::int64_t remove(std::string_view using_db = {}) {
        return detail::delete_object(model_info<T>(), self(), target(using_db));
    }
    // Reloads every field from the database; throws DoesNotExist if the row is gone.
    void refresh_from_db(std::string_view using_db = {}) {
        detail::refresh_object(model_info<T>(), self(), target(using_db));
    }

    // Deferred fields (only() / defer()). A C++ member cannot run a query when it is read, so a
    // deferred member holds its type's default value until it is loaded, on request:
    //   book.loaded(&Book::body)   the member, read from the database first if it was deferred
    //                              (one SELECT of that column, as Django's attribute access);
    //   book.load_deferred()       every deferred field in one SELECT;
    //   book.get_deferred_fields() the names of the fields still deferred (Django's method).
    // save() of an object with deferred fields UPDATEs only the loaded fields (as Django), so
    // unloaded columns are never overwritten with defaults; assign a deferred field through
    // loaded() (obj.loaded(&Book::body) = "...") for save() to write it.
    template <class M>
    M& loaded(M T::*member) {
        if (deferred_) detail::load_deferred_member(model_info<T>(), self(), typeid(M T::*), &member, db());
        return self()->*member;
    }
    void load_deferred() {
        if (deferred_) detail::load_deferred_fields(model_info<T>(), self(), deferred_, db());
    }
    std::vector<std::string> get_deferred_fields() const {
        return deferred_ ? detail::deferred_names(model_info<T>(), deferred_) : std::vector<std::string>();
    }
    // The primary key as a Value.
    Value pk() const { return model_info<T>().pk().access->get(static_cast<const T*>(this)); }
    // The database alias this object was loaded from or last saved to (Django's _state.db);
    // empty for an object that has not been to a database.
    std::string_view db() const noexcept { return db_ ? std::string_view(*db_) : std::string_view(); }

private:
    friend struct detail::RelationAccess;
    T* self() { return static_cast<T*>(this); }
    std::string_view target(std::string_view using_db) const noexcept { return using_db.empty() ? db() : using_db; }
    const std::string* db_ = nullptr;
    std::uint64_t deferred_ = 0;  // only() / defer(): bit FieldInfo::index set for fields not loaded
    static inline const bool registered_ = (detail::register_model(&model_info<T>), true);
};

}  // namespace orm
