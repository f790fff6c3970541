// The reverse side of a one-to-one (orm::RelatedOne) without a database: its metadata, the SQL
// of select_related through it per dialect, the errors of bad names and unsaved owners, and a
// declaration that is not one-to-one refused for its own model only.
#include "tests/orm/models.hpp"

using namespace ut;

namespace ut_one {

struct Restaurant;
struct Place : orm::Model<Place> {
    std::int64_t id = 0;
    std::string name;
    orm::RelatedOne<Restaurant> restaurant;
    static void describe(orm::Meta<Place>& m);
};
struct Restaurant : orm::Model<Restaurant> {
    std::int64_t id = 0;
    orm::OneToOne<Place> place;
    bool serves_pizza = false;
    static void describe(orm::Meta<Restaurant>& m) {
        m.table("restaurant");
        m.field(&Restaurant::id, "id").primary_key();
        m.field(&Restaurant::place, "place").related_name("restaurant");
        m.field(&Restaurant::serves_pizza, "serves_pizza");
    }
};
inline void Place::describe(orm::Meta<Place>& m) {
    m.table("place");
    m.field(&Place::id, "id").primary_key();
    m.field(&Place::name, "name").max_length(50);
    m.field(&Place::restaurant, "restaurant");
}

// A plain foreign key: its reverse holds many rows, so a RelatedOne for it is refused.
struct Waiter;
struct Bar : orm::Model<Bar> {
    std::int64_t id = 0;
    orm::RelatedOne<Waiter> waiters;
    static void describe(orm::Meta<Bar>& m) {
        m.table("bar");
        m.field(&Bar::id, "id").primary_key();
        m.field(&Bar::waiters, "waiters");
    }
};
struct Waiter : orm::Model<Waiter> {
    std::int64_t id = 0;
    orm::ForeignKey<Bar> bar;
    static void describe(orm::Meta<Waiter>& m) {
        m.table("waiter");
        m.field(&Waiter::id, "id").primary_key();
        m.field(&Waiter::bar, "bar").related_name("waiters");
    }
};

}  // namespace ut_one

using ut_one::Bar;
using ut_one::Place;
using ut_one::Restaurant;
using ut_one::Waiter;

TEST_CASE("RelatedOne: the member resolves to the reverse one-to-one") {
    const orm::ModelInfo& place = orm::model_info<Place>();
    const orm::Relation* r = place.find_relation("restaurant");
    REQUIRE(r != nullptr);
    CHECK(r->kind == orm::RelationKind::reverse_one_to_one);
    const orm::SetMember* member = place.one_member_for(*r);
    REQUIRE(member != nullptr);
    CHECK(member->single);
    CHECK(member->name == "restaurant");
    place.check_members();
    CHECK(orm::model_info<Restaurant>().field("place").unique);
}

TEST_CASE("RelatedOne: select_related through it is a LEFT OUTER JOIN, nested paths too") {
    const std::string place_cols = "SELECT \"place\".\"id\", \"place\".\"name\", ";
    auto sql = Place::objects.select_related("restaurant").sql(pg()).text;
    CHECK(sql == place_cols +
                     "\"T1\".\"id\", \"T1\".\"place_id\", \"T1\".\"serves_pizza\" FROM \"place\" LEFT OUTER JOIN "
                     "\"restaurant\" \"T1\" ON (\"place\".\"id\" = \"T1\".\"place_id\")");
    CHECK(Place::objects.select_related("restaurant").sql(sqlite()).text == sql);  // no dialect differences here
    // Back again through the forward one-to-one: the second join is outer too (it hangs off an outer one).
    auto round = Place::objects.select_related("restaurant__place").sql(pg()).text;
    CHECK(round.find("LEFT OUTER JOIN \"restaurant\" \"T1\"") != std::string::npos);
    CHECK(round.find("LEFT OUTER JOIN \"place\" \"T2\" ON (\"T1\".\"place_id\" = \"T2\".\"id\")") != std::string::npos);
    // From the forward side it stays an INNER JOIN (the key is not null).
    CHECK(Restaurant::objects.select_related("place").sql(pg()).text.find("INNER JOIN \"place\"") != std::string::npos);
}

TEST_CASE("RelatedOne: bad names list the choices; unsaved owners are refused") {
    CHECK_THROWS_WITH_AS(Place::objects.select_related("restaurants"),
                         doctest::Contains("Choices are: restaurant"), orm::FieldError);
    CHECK_THROWS_AS(Place::objects.select_related("name"), orm::FieldError);
    Place p{.name = "Demon Dogs"};
    CHECK_FALSE(p.restaurant.is_loaded());
    CHECK_THROWS_WITH_AS(p.restaurant.get(), doctest::Contains("its owner is not saved"), orm::InterfaceError);
    CHECK_THROWS_AS(p.restaurant.get_or_null(), orm::InterfaceError);
    CHECK_THROWS_AS((void)p.restaurant->serves_pizza, orm::InterfaceError);
}

TEST_CASE("RelatedOne: a member for a relation that is not one-to-one is refused for its model only") {
    CHECK_THROWS_WITH_AS(orm::model_info<Bar>().check_members(),
                         doctest::Contains("member 'waiters' needs the reverse side of a one-to-one, but 'waiters' is "
                                           "the reverse of the foreign key ut_one::Waiter.bar"),
                         orm::InterfaceError);
    CHECK_THROWS_WITH_AS(orm::model_info<Bar>().check_members(),
                         doctest::Contains("declare the member as orm::RelatedSet<ut_one::Waiter>, or make "
                                           "ut_one::Waiter.bar an orm::OneToOne"),
                         orm::InterfaceError);
    // Lookups through the relation still compile; the other models are untouched.
    CHECK(Bar::objects.filter("waiters__id", 1).sql(pg()).text.find("\"waiter\"") != std::string::npos);
    orm::model_info<Waiter>().check_members();
    orm::model_info<Place>().check_members();
}
