// The relations part of the demo (examples/demo.cpp calls relations_tour()): a foreign key, a
// many-to-many, reverse sets, lookups across them, lazy loading and the N+1 it costs,
// select_related / prefetch_related, a cascade, a protect error, and lazy loading inside fibers
// in async mode.
#include <atomic>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "orm/orm.hpp"

// Global names (no namespace), so messages read "Order(id=1)"; demo.cpp uses other names.
struct Novel;

struct Writer : orm::Model<Writer> {
    std::int64_t id = 0;
    std::string name;
    orm::RelatedSet<Novel> novels;  // the reverse side of Novel::writer
    static void describe(orm::Meta<Writer>& m);
};

struct Tag : orm::Model<Tag> {
    std::int64_t id = 0;
    std::string name;
    orm::RelatedSet<Novel> novels;  // the reverse side of Novel::tags
    static void describe(orm::Meta<Tag>& m);
};

struct Novel : orm::Model<Novel> {
    std::int64_t id = 0;
    std::string title;
    double price = 0;
    orm::ForeignKey<Writer> writer;  // column writer_id
    orm::ManyToMany<Tag> tags;       // join table demo_rel_novel_tags, made by create_tables
    static void describe(orm::Meta<Novel>& m) {
        m.table("demo_rel_novel");
        m.field(&Novel::id, "id").primary_key();
        m.field(&Novel::title, "title").max_length(100);
        m.field(&Novel::price, "price");
        m.field(&Novel::writer, "writer").on_delete(orm::OnDelete::cascade).related_name("novels");
        m.field(&Novel::tags, "tags").related_name("novels");
    }
};

// An order protects the novel it is for: deleting that novel is refused.
struct Order : orm::Model<Order> {
    std::int64_t id = 0;
    orm::ForeignKey<Novel> novel;
    std::int32_t copies = 1;
    static void describe(orm::Meta<Order>& m) {
        m.table("demo_rel_order");
        m.field(&Order::id, "id").primary_key();
        m.field(&Order::novel, "novel").on_delete(orm::OnDelete::protect).related_name("orders");
        m.field(&Order::copies, "copies");
    }
};

// Defined after Novel: they name Novel's relations.
void Writer::describe(orm::Meta<Writer>& m) {
    m.table("demo_rel_writer");
    m.field(&Writer::id, "id").primary_key();
    m.field(&Writer::name, "name").max_length(100).unique();
    m.field(&Writer::novels, "novels");
}
void Tag::describe(orm::Meta<Tag>& m) {
    m.table("demo_rel_tag");
    m.field(&Tag::id, "id").primary_key();
    m.field(&Tag::name, "name").max_length(40).unique();
    m.field(&Tag::novels, "novels");
}

namespace {

// Counts the statements sent while it lives.
struct Statements {
    std::atomic<int> n{0};
    Statements() {
        orm::set_query_logger([this](const orm::QueryEvent&) { n.fetch_add(1); });
    }
    ~Statements() { orm::set_query_logger({}); }
};

}  // namespace

void relations_tour() {
    fmt::print("\n--- relations\n");
    orm::drop_tables<Writer, Tag, Novel, Order>();
    orm::create_tables<Writer, Tag, Novel, Order>();  // foreign keys, and the join table of Novel::tags

    auto ursula = Writer::objects.create({.name = "Ursula"});
    auto stanislaw = Writer::objects.create({.name = "Stanislaw"});
    auto sf = Tag::objects.create({.name = "sf"});
    auto classic = Tag::objects.create({.name = "classic"});
    auto earthsea = Novel::objects.create({.title = "A Wizard of Earthsea", .price = 9.5, .writer = ursula});
    auto dispossessed = Novel::objects.create({.title = "The Dispossessed", .price = 12, .writer = ursula});
    auto solaris = Novel::objects.create({.title = "Solaris", .price = 11, .writer = stanislaw.id});  // a key works too
    dispossessed.tags.add(std::vector<Tag>{sf, classic});
    solaris.tags.add(sf);
    earthsea.tags.add(classic);
    ursula.novels.create(Novel{.title = "The Left Hand of Darkness", .price = 10});  // writer set by the set
    fmt::print("Ursula has {} novels; 'sf' is on {}; Solaris is tagged {}\n", ursula.novels.count(), sf.novels.count(),
               fmt::join(solaris.tags.all().values_as<std::string>("name"), ", "));

    // Lookups across relations: forward, reverse, many-to-many; annotate per writer.
    fmt::print("novels by writers starting with 'S': {}\n", Novel::objects.filter("writer__name__startswith", "S").count());
    for (const Writer& w : Writer::objects.filter("novels__tags__name", "sf").distinct())
        fmt::print("writes sf: {}\n", w.name);
    fmt::print("writers without any 'classic' novel: {}\n",
               fmt::join(Writer::objects.exclude("novels__tags__name", "classic").values_as<std::string>("name"), ", "));
    for (const auto& row : Writer::objects.annotate("n", orm::Count("novels")).order_by("name").values("name", "n"))
        fmt::print("  {:<10} {} novels\n", row["name"].as_text(), row["n"].as_int64());

    // Lazy loading: each novel's writer is loaded on first access (N+1 statements) ...
    {
        Statements st;
        for (const Novel& n : Novel::objects.order_by("title")) (void)n.writer->name;
        fmt::print("lazy:             {} statements for 4 novels and their writers\n", st.n.load());
    }
    // ... or eagerly, with a JOIN or one extra query per level.
    {
        Statements st;
        for (const Novel& n : Novel::objects.select_related("writer").order_by("title"))
            fmt::print("  {:<28} by {}\n", n.title, n.writer->name);
        fmt::print("select_related:   {} statement\n", st.n.load());
    }
    {
        Statements st;
        for (const Writer& w : Writer::objects.prefetch_related("novels__tags").order_by("name"))
            for (const Novel& n : w.novels.all())
                fmt::print("  {:<10} {:<28} [{}]\n", w.name, n.title, n.tags.count());
        fmt::print("prefetch_related: {} statements (writers, novels, tags)\n", st.n.load());
    }

    // on_delete: protect refuses and names the blocking rows; cascade takes novels and their tag links.
    auto order = Order::objects.create({.novel = solaris, .copies = 2});
    try {
        stanislaw.remove();
    } catch (const orm::ProtectedError& e) {
        fmt::print("ProtectedError: {} (blocking: {})\n", e.what(), fmt::join(e.objects(), ", "));
    }
    order.remove();
    stanislaw.remove();
    fmt::print("after deleting Stanislaw: {} novels, 'sf' is on {}\n", Novel::objects.count(), sf.novels.count());

    // Lazy loading in async mode: the very same access, now inside fibers.
    orm::set_async(true);
    auto names = orm::run([] {
        std::vector<orm::Task<std::string>> tasks;
        for (const Novel& n : Novel::objects.order_by("title"))
            tasks.push_back(orm::spawn([id = n.id] {
                Novel mine = Novel::objects.get("pk", id);
                return mine.title + " / " + mine.writer->name;  // the writer loads inside this fiber
            }));
        std::vector<std::string> out;
        for (auto& t : tasks) out.push_back(t.get());
        return out;
    });
    orm::set_async(false);
    fmt::print("async, one fiber per novel: {}\n", fmt::join(names, "; "));
    orm::drop_tables<Writer, Tag, Novel, Order>();
}
