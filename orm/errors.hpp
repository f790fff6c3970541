// The ORM's own errors, beside the database families of drivers/errors.hpp. Every model also
// has its own Model::DoesNotExist and Model::MultipleObjectsReturned deriving from these.
#pragma once

#include <string>
#include <vector>

#include "drivers/errors.hpp"

namespace orm {

// get() found no row.
class ObjectDoesNotExist : public Error {
    using Error::Error;
};

// get() found more than one row.
class MultipleObjectsReturned : public Error {
    using Error::Error;
};

// A lookup, order_by, values or update names a field or lookup that does not exist; the
// message lists the valid choices.
class FieldError : public Error {
    using Error::Error;
};

// A value the model cannot hold (a string over max_length, NULL for a non-null field, a value
// of the wrong type); raised before any SQL is sent.
class ValidationError : public Error {
public:
    ValidationError(const std::string& message, std::string field = {})
        : Error(message), field_(std::move(field)) {}
    // The field's name, when the error is about one field.
    const std::string& field() const noexcept { return field_; }

private:
    std::string field_;
};

// A delete that on_delete refused; nothing was deleted. objects() names the referencing rows
// ("Book(id=3)"), at most 20 of them; the message names the first few.
class DeleteRefusedError : public IntegrityError {
public:
    DeleteRefusedError(const std::string& message, std::vector<std::string> objects)
        : IntegrityError(message, "23503"), objects_(std::move(objects)) {}
    const std::vector<std::string>& objects() const noexcept { return objects_; }

private:
    std::vector<std::string> objects_;
};

// Refused by on_delete(protect).
class ProtectedError : public DeleteRefusedError {
    using DeleteRefusedError::DeleteRefusedError;
};

// Refused by on_delete(restrict): the referencing rows are not deleted by a cascade of the same
// delete.
class RestrictedError : public DeleteRefusedError {
    using DeleteRefusedError::DeleteRefusedError;
};

// A database router refused something, e.g. relating objects that live on different databases;
// the message names both models and both aliases.
class RouterError : public InterfaceError {
    using InterfaceError::InterfaceError;
};

// A transaction is needed and none is open, e.g. evaluating a select_for_update() queryset
// outside orm::atomic (the row locks would be released at once).
class TransactionManagementError : public InterfaceError {
    using InterfaceError::InterfaceError;
};

}  // namespace orm
