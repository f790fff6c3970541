// The SQLSTATE -> error family map (no database).
#include <doctest/doctest.h>

#include "drivers/errors.hpp"

using namespace orm;

template <class E>
static bool throws_as(const char* sqlstate) {
    try {
        throw_database_error(sqlstate, "msg");
    } catch (const E& e) {
        return e.sqlstate() == sqlstate && std::string(e.what()) == "msg";
    } catch (...) {
    }
    return false;
}

TEST_CASE("SQLSTATEs map to the DB-API families") {
    CHECK(throws_as<UniqueViolation>("23505"));
    CHECK(throws_as<ForeignKeyViolation>("23503"));
    CHECK(throws_as<NotNullViolation>("23502"));
    CHECK(throws_as<CheckViolation>("23514"));
    CHECK(throws_as<IntegrityError>("23000"));
    CHECK(throws_as<DataError>("22012"));
    CHECK(throws_as<DataError>("22P02"));
    CHECK(throws_as<ProgrammingError>("42601"));
    CHECK(throws_as<ProgrammingError>("42P01"));
    CHECK(throws_as<ConnectionError>("08006"));
    CHECK(throws_as<ConnectionError>("57P01"));
    CHECK(throws_as<TimeoutError>("57014"));
    CHECK(throws_as<TimeoutError>("55P03"));
    CHECK(throws_as<ReadOnlyError>("25006"));  // a write on a hot standby or in a READ ONLY transaction
    CHECK_FALSE(throws_as<ReadOnlyError>("25001"));
    CHECK(throws_as<OperationalError>("40001"));
    CHECK(throws_as<OperationalError>("53300"));
    CHECK(throws_as<NotSupportedError>("0A000"));
    CHECK(throws_as<InternalError>("XX000"));
    CHECK(throws_as<DatabaseError>("ZZ999"));
}

TEST_CASE("the families nest as in DB-API") {
    CHECK(throws_as<IntegrityError>("23505"));
    CHECK(throws_as<DatabaseError>("23505"));
    CHECK(throws_as<Error>("23505"));
    CHECK(throws_as<OperationalError>("57014"));
    CHECK(throws_as<OperationalError>("08006"));
    CHECK(throws_as<OperationalError>("25006"));  // ReadOnlyError is an OperationalError, as before it existed
    CHECK_FALSE(throws_as<OperationalError>("23505"));
    CHECK_FALSE(throws_as<IntegrityError>("42601"));
}

TEST_CASE("error_family names the family") {
    CHECK(error_family("23505") == "UniqueViolation");
    CHECK(error_family("42P01") == "ProgrammingError");
    CHECK(error_family("25006") == "ReadOnlyError");
    CHECK(error_family("") == "DatabaseError");
}
