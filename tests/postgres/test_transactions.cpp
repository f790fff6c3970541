// Transactions and savepoints: state tracking, failed transactions, nothing half-written.
#include "tests/postgres/pg_test.hpp"

using orm::Value;
using orm::db::TransactionState;
using pgtest::expect_error;

namespace {

std::int64_t rows(orm::db::Connection& c, const pgtest::ScratchTable& t) {
    return pgtest::scalar_int(c, "SELECT count(*) FROM " + t.quoted());
}

}  // namespace

TEST_CASE("commit makes changes visible to others; rollback discards them") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        auto other = pgtest::connect();
        pgtest::ScratchTable t(*c, pgtest::table("tx"), "id int PRIMARY KEY");
        CHECK(c->transaction_state() == TransactionState::idle);
        c->begin();
        CHECK(c->transaction_state() == TransactionState::active);
        c->execute("INSERT INTO " + t.quoted() + " VALUES ($1)", {1});
        CHECK(rows(*other, t) == 0);  // not yet committed
        c->commit();
        CHECK(c->transaction_state() == TransactionState::idle);
        CHECK(rows(*other, t) == 1);

        c->begin();
        c->execute("INSERT INTO " + t.quoted() + " VALUES ($1)", {2});
        c->rollback();
        CHECK(c->transaction_state() == TransactionState::idle);
        CHECK(rows(*other, t) == 1);
        {
            orm::db::Transaction guard(*c);
            c->execute("INSERT INTO " + t.quoted() + " VALUES ($1)", {3});
        }  // rolled back by the guard
        CHECK(rows(*c, t) == 1);
        // BEGIN inside a transaction is refused rather than silently ignored.
        c->begin();
        auto e = expect_error<orm::OperationalError>([&] { c->begin(); });
        CHECK(e.sqlstate() == "25001");
        CHECK(c->transaction_state() == TransactionState::active);
        c->rollback();
    });
}

TEST_CASE("a failed transaction: state failed, rollback works, nothing half-written") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        pgtest::ScratchTable t(*c, pgtest::table("failed"), "id int PRIMARY KEY");
        c->begin();
        c->execute("INSERT INTO " + t.quoted() + " VALUES ($1)", {1});
        expect_error<orm::UniqueViolation>([&] { c->execute("INSERT INTO " + t.quoted() + " VALUES ($1)", {1}); });
        CHECK(c->transaction_state() == TransactionState::failed);
        SUBCASE("rollback") {
            c->rollback();
        }
        SUBCASE("commit answers with an error and rolls back") {
            auto e = expect_error<orm::DatabaseError>([&] { c->commit(); });
            CHECK(e.sqlstate() == "25P02");
            CHECK(std::string(e.what()).find("rolled the transaction back") != std::string::npos);
        }
        CHECK(c->transaction_state() == TransactionState::idle);
        CHECK(rows(*c, t) == 0);
        CHECK(c->is_usable(true));
    });
}

TEST_CASE("a savepoint recovers a failed statement inside a transaction") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        pgtest::ScratchTable t(*c, pgtest::table("sp"), "id int PRIMARY KEY");
        std::string ins = "INSERT INTO " + t.quoted() + " VALUES ($1)";
        c->begin();
        c->execute(ins, {1});
        c->savepoint("before_dup");
        expect_error<orm::UniqueViolation>([&] { c->execute(ins, {1}); });
        CHECK(c->transaction_state() == TransactionState::failed);
        c->rollback_to_savepoint("before_dup");
        CHECK(c->transaction_state() == TransactionState::active);
        c->execute(ins, {2});
        c->savepoint("s2");
        c->execute(ins, {3});
        c->release_savepoint("s2");
        c->commit();
        auto all = c->execute("SELECT id FROM " + t.quoted() + " ORDER BY id").fetch_all();
        REQUIRE(all.size() == 3);
        CHECK(all[0][0] == Value(1));
        CHECK(all[1][0] == Value(2));
        CHECK(all[2][0] == Value(3));
    });
}

TEST_CASE("DDL is transactional") {
    pgtest::both_modes([&] {
        auto c = pgtest::connect();
        CHECK(c->features().supports_transactional_ddl);
        std::string name = pgtest::table("ddl_tx");
        c->begin();
        c->execute_script("CREATE TABLE \"" + name + "\" (a int)");
        CHECK(c->backend().introspection().table_exists(*c, name));
        c->rollback();
        CHECK_FALSE(c->backend().introspection().table_exists(*c, name));
    });
}
