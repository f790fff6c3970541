// orm::Model<T>: the CRTP base of a model. It adds no data members (the model stays a plain
// aggregate with designated initializers), and gives T:
//   T::objects                    the manager (queries start here)
//   T::DoesNotExist               thrown by get() on no row (an orm::ObjectDoesNotExist)
//   T::MultipleObjectsReturned    thrown by get() on several rows
//   save(), remove(), refresh_from_db(), pk()
// The model also declares `static void describe(orm::Meta<T>&)` (see meta.hpp).
#pragma once

#include "orm/manager.hpp"
#include "orm/meta.hpp"
#include "orm/queryset_base.hpp"

namespace orm {

template <class T>
struct Model {
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
    void save(std::string_view using_db = {}) { detail::save_object(model_info<T>(), self(), using_db); }
    // DELETE by primary key; an auto-increment key goes back to 0. Returns the rows deleted.
    std::int64_t remove(std::string_view using_db = {}) {
        return detail::delete_object(model_info<T>(), self(), using_db);
    }
    // Reloads every field from the database; throws DoesNotExist if the row is gone.
    void refresh_from_db(std::string_view using_db = {}) {
        detail::refresh_object(model_info<T>(), self(), using_db);
    }
    // The primary key as a Value.
    Value pk() const { return model_info<T>().pk().access->get(static_cast<const T*>(this)); }

private:
    T* self() { return static_cast<T*>(this); }
};

}  // namespace orm
