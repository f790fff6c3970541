// The operations behind ManyToMany and RelatedSet members: the related rows of one owner, and
// linking / unlinking rows (join-table rows for many-to-many, the foreign key for reverse sets).
#include <fmt/format.h>

#include "orm/errors.hpp"
#include "orm/model_info.hpp"
#include "orm/relations.hpp"

namespace orm::detail {

}  // namespace orm::detail
