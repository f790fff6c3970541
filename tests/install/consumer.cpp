// A program written the way a user of an installed weft writes one: it includes only
// <orm/orm.hpp>, and scripts/lib/install-check.sh builds it three ways (pkg-config, a meson
// subproject, CMake find_package) against a staged install, never against the source tree.
// It exits non-zero with a message on the first wrong answer.
//   consumer [URL]      (default sqlite::memory:)
#include <orm/orm.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

struct Part : orm::Model<Part> {
    std::int64_t id = 0;
    std::string name;
    std::int64_t qty = 0;

    static void describe(orm::Meta<Part>& m) {
        m.table("install_check_part");
        m.field(&Part::id, "id").primary_key();
        m.field(&Part::name, "name").max_length(40).unique();
        m.field(&Part::qty, "qty").default_value(std::int64_t{0});
    }
};

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "consumer: wrong answer: %s\n", what);
        ++failures;
    }
}

}  // namespace

int main(int argc, char** argv) try {
    orm::connect(argc > 1 ? argv[1] : "sqlite::memory:");
    orm::create_tables<Part>();

    for (const char* name : {"bolt", "nut", "washer"})
        Part::objects.create({.name = name, .qty = static_cast<std::int64_t>(std::string(name).size())});
    auto nut = Part::objects.get("name", "nut");
    nut.qty = 10;
    nut.save();

    expect(Part::objects.count() == 3, "three rows after three creates");
    expect(Part::objects.filter("qty__gte", 4).count() == 3, "qty >= 4 matches bolt, nut, washer");
    expect(Part::objects.get("name", "nut").qty == 10, "the saved update is read back");
    expect(Part::objects.aggregate(orm::Sum("qty")).as_int64() == 4 + 10 + 6, "sum of qty");
    auto names = Part::objects.order_by("-qty").values_list("name", orm::flat);
    expect(names.size() == 3 && names[0].as_text() == "nut" && names[2].as_text() == "bolt",
           "order_by(\"-qty\") gives nut, washer, bolt");

    // The same calls in async mode, on fibers.
    orm::set_async(true);
    std::vector<orm::Task<std::int64_t>> tasks;
    for (int i = 0; i < 8; ++i)
        tasks.push_back(orm::spawn([i] {
            Part::objects.create({.name = "spring" + std::to_string(i), .qty = i});
            return Part::objects.filter("qty__gte", 4).count();
        }));
    std::int64_t least = 1000;
    for (auto& t : tasks) least = std::min(least, t.get());
    expect(least >= 3, "each fiber sees at least the three synchronous rows");
    expect(orm::spawn([] { return Part::objects.filter("name__startswith", "spring").count(); }).get() == 8,
           "eight rows created on fibers");
    orm::set_async(false);

    expect(Part::objects.count() == 11, "eleven rows in sync mode again");
    orm::drop_tables<Part>();

    if (failures) return 1;
    std::printf("consumer: ok\n");
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
}
