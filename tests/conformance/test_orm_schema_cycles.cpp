// ORM conformance: create_tables / drop_tables on models whose foreign keys form a cycle, with
// rows that refer to each other across it.
#include <algorithm>

#include "tests/conformance/test_orm_models.hpp"

using namespace orm;
using namespace weft::conformance;
using weft::conformance::orm_models::Tables;

namespace {

struct CycleShip;

struct CyclePort : orm::Model<CyclePort> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<CycleShip> flagship;  // nullable: a port may have none yet

    static void describe(orm::Meta<CyclePort>& m);
};

struct CycleShip : orm::Model<CycleShip> {
    std::int64_t id = 0;
    std::string name;
    orm::ForeignKey<CyclePort> home;

    static void describe(orm::Meta<CycleShip>& m) {
        m.table("weft_ct_cycle_ship");
        m.field(&CycleShip::id, "id").primary_key();
        m.field(&CycleShip::name, "name");
        m.field(&CycleShip::home, "home").on_delete(orm::OnDelete::do_nothing).related_name("ships");
    }
};

void CyclePort::describe(orm::Meta<CyclePort>& m) {
    m.table("weft_ct_cycle_port");
    m.field(&CyclePort::id, "id").primary_key();
    m.field(&CyclePort::name, "name");
    m.field(&CyclePort::flagship, "flagship").null().on_delete(orm::OnDelete::do_nothing).related_name("flagship_of");
}

// Two unrelated models: created in the order given.
struct SchemaLabel : orm::Model<SchemaLabel> {
    std::int64_t id = 0;
    std::string text;
    static void describe(orm::Meta<SchemaLabel>& m) {
        m.table("weft_ct_schema_label");
        m.field(&SchemaLabel::id, "id").primary_key();
        m.field(&SchemaLabel::text, "text");
    }
};

struct SchemaNote : orm::Model<SchemaNote> {
    std::int64_t id = 0;
    std::string text;
    static void describe(orm::Meta<SchemaNote>& m) {
        m.table("weft_ct_schema_note");
        m.field(&SchemaNote::id, "id").primary_key();
        m.field(&SchemaNote::text, "text");
    }
};

bool has_table(const std::string& table) {
    auto conn = orm::database().acquire();
    auto names = conn->backend().introspection().table_names(*conn);
    return std::find(names.begin(), names.end(), table) != names.end();
}

}  // namespace

CONFORMANCE_TEST("orm schema: tables whose foreign keys form a cycle are created and dropped, rows and all") {
    Tables<CyclePort, CycleShip> tables(ctx);
    auto port = CyclePort::objects.create({.name = "Lerwick"});
    auto ship = CycleShip::objects.create({.name = "Shetlander", .home = port});
    port.flagship = ship;
    port.save();
    CT_CHECK_EQ(CyclePort::objects.get("pk", port.id).flagship->name, std::string("Shetlander"));
    CT_CHECK_EQ(CycleShip::objects.filter("home__flagship__name", "Shetlander").count(), std::int64_t{1});

    // Each table refers to the other and the rows to each other: whichever goes first still
    // has a reference to it.
    orm::drop_tables<CyclePort, CycleShip>();
    CT_CHECK(!has_table("weft_ct_cycle_port"));
    CT_CHECK(!has_table("weft_ct_cycle_ship"));
    // Both orders of declaration, and again on tables that do not exist (nothing to do).
    orm::create_tables<CycleShip, CyclePort>();
    CT_CHECK(has_table("weft_ct_cycle_port"));
    CT_CHECK(has_table("weft_ct_cycle_ship"));
    orm::drop_tables<CycleShip, CyclePort>();
    orm::drop_tables<CycleShip, CyclePort>();
    CT_CHECK(!has_table("weft_ct_cycle_ship"));

    // Foreign key checks are immediate again afterwards (SQLite defers them while dropping).
    orm::create_tables<CyclePort, CycleShip>();
    // Creating again is a no-op, the foreign keys that close the cycle included (one each).
    orm::create_tables<CyclePort, CycleShip>();
    orm::create_tables<CycleShip, CyclePort>();
    {
        auto conn = orm::database().acquire();
        const auto& intro = conn->backend().introspection();
        auto port_fks = intro.foreign_keys(*conn, "weft_ct_cycle_port");
        auto ship_fks = intro.foreign_keys(*conn, "weft_ct_cycle_ship");
        CT_REQUIRE(port_fks.size() == 1);
        CT_REQUIRE(ship_fks.size() == 1);
        CT_CHECK_EQ(port_fks[0].column, std::string("flagship_id"));
        CT_CHECK_EQ(port_fks[0].referenced_table, std::string("weft_ct_cycle_ship"));
        CT_CHECK_EQ(ship_fks[0].column, std::string("home_id"));
        CT_CHECK_EQ(ship_fks[0].referenced_table, std::string("weft_ct_cycle_port"));
        CT_CHECK_EQ(ship_fks[0].on_delete, std::string("NO ACTION"));
    }
    CT_CHECK_THROWS_AS(CycleShip::objects.create({.name = "Ghost", .home = std::int64_t{999}}), IntegrityError);
    CT_CHECK_EQ(CycleShip::objects.count(), std::int64_t{0});
}

CONFORMANCE_TEST("orm schema: IfExists::fail and IfMissing::fail refuse and leave the schema as it was") {
    Tables<CyclePort, CycleShip> tables(ctx);
    auto port = CyclePort::objects.create({.name = "Lerwick"});
    // Every table of the call exists: the database's error; the rows stay.
    CT_CHECK_THROWS_WITH(orm::create_tables<CyclePort>(orm::IfExists::fail), DatabaseError, "already exists");
    CT_CHECK_EQ(CyclePort::objects.count(), std::int64_t{1});
    orm::drop_tables<CyclePort, CycleShip>(orm::IfMissing::fail);
    CT_CHECK(!has_table("weft_ct_cycle_port"));
    CT_CHECK_THROWS_AS(orm::drop_tables<CyclePort>(orm::IfMissing::fail), DatabaseError);
    orm::create_tables<CyclePort, CycleShip>(orm::IfExists::fail);
    CT_CHECK(has_table("weft_ct_cycle_port"));
    CT_CHECK(has_table("weft_ct_cycle_ship"));
    if (ctx.features().supports_transactional_ddl) {
        // One table of the call exists: the one made before the error is not left behind.
        orm::drop_tables<SchemaLabel>();
        orm::create_tables<SchemaNote>();
        CT_CHECK_THROWS_AS((orm::create_tables<SchemaLabel, SchemaNote>(orm::IfExists::fail)), DatabaseError);
        CT_CHECK(!has_table("weft_ct_schema_label"));
        CT_CHECK(has_table("weft_ct_schema_note"));
        orm::create_tables<SchemaLabel, SchemaNote>();  // "if missing": makes the one that is
        CT_CHECK(has_table("weft_ct_schema_label"));
        orm::drop_tables<SchemaLabel, SchemaNote>();
    }
    // The connection is still usable.
    CT_CHECK_EQ(CyclePort::objects.count(), std::int64_t{0});
}
