// Models and helpers shared by the ORM conformance tests (test_orm_*.cpp). Each test registers
// the runner's database as the ORM's "default" alias, creates the models' tables (dropping
// leftovers first) and drops them at the end.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/conformance/harness.hpp"

namespace weft::conformance::orm_models {

struct Author : orm::Model<Author> {
    std::int64_t id = 0;
    std::string name;
    std::optional<std::string> email;

    static void describe(orm::Meta<Author>& m) {
        m.table("weft_ct_orm_author");
        m.field(&Author::id, "id").primary_key();
        m.field(&Author::name, "name").max_length(50).unique();
        m.field(&Author::email, "email");
    }
};

struct Book : orm::Model<Book> {
    std::int64_t id = 0;
    std::string title;
    double price = 0;
    std::int32_t pages = 0;
    bool in_print = true;
    std::optional<orm::Date> published;
    std::optional<std::string> isbn;
    std::optional<double> rating;
    std::int64_t author_id = 0;

    static void describe(orm::Meta<Book>& m) {
        m.table("weft_ct_orm_book");
        m.field(&Book::id, "id").primary_key();
        m.field(&Book::title, "title").max_length(100).index();
        m.field(&Book::price, "price").default_value(0.0);
        m.field(&Book::pages, "pages");
        m.field(&Book::in_print, "in_print").column("available");
        m.field(&Book::published, "published");
        m.field(&Book::isbn, "isbn").max_length(13).unique();
        m.field(&Book::rating, "rating");
        m.field(&Book::author_id, "author_id").index();
        m.ordering({"id"});
    }
};

// Every field type, nullable and not.
struct Everything : orm::Model<Everything> {
    std::int64_t id = 0;
    bool flag = false;
    std::int32_t small = 0;
    std::int64_t big = 0;
    double real = 0;
    std::string text;
    std::string code;
    orm::Bytes blob;
    std::chrono::system_clock::time_point at{};
    orm::Timestamp stamp{};
    orm::Date day{};
    std::optional<bool> o_flag;
    std::optional<std::int32_t> o_small;
    std::optional<std::int64_t> o_big;
    std::optional<double> o_real;
    std::optional<std::string> o_text;
    std::optional<orm::Bytes> o_blob;
    std::optional<orm::Timestamp> o_stamp;
    std::optional<orm::Date> o_day;

    static void describe(orm::Meta<Everything>& m) {
        m.table("weft_ct_orm_everything");
        m.field(&Everything::id, "id");
        m.field(&Everything::flag, "flag");
        m.field(&Everything::small, "small");
        m.field(&Everything::big, "big");
        m.field(&Everything::real, "real").column("real_value");
        m.field(&Everything::text, "text");
        m.field(&Everything::code, "code").max_length(8).default_value("none");
        m.field(&Everything::blob, "blob");
        m.field(&Everything::at, "at");
        m.field(&Everything::stamp, "stamp");
        m.field(&Everything::day, "day");
        m.field(&Everything::o_flag, "o_flag");
        m.field(&Everything::o_small, "o_small");
        m.field(&Everything::o_big, "o_big");
        m.field(&Everything::o_real, "o_real");
        m.field(&Everything::o_text, "o_text");
        m.field(&Everything::o_blob, "o_blob");
        m.field(&Everything::o_stamp, "o_stamp");
        m.field(&Everything::o_day, "o_day");
    }
};

// A primary key the application chooses.
struct Setting : orm::Model<Setting> {
    std::string key;
    std::string value;

    static void describe(orm::Meta<Setting>& m) {
        m.table("weft_ct_orm_setting");
        m.field(&Setting::key, "key").primary_key().max_length(40);
        m.field(&Setting::value, "value");
    }
};

// Registers the test's database as "default" and creates the tables of Ts (dropped after).
template <class... Ts>
class Tables {
public:
    explicit Tables(Context& ctx) {
        orm::connect(ctx.url(), "default");
        orm::drop_tables<Ts...>();
        orm::create_tables<Ts...>();
    }
    ~Tables() {
        try {
            orm::set_query_logger({});
            orm::drop_tables<Ts...>();
        } catch (...) {
        }
        orm::disconnect("default");
    }
    Tables(const Tables&) = delete;
    Tables& operator=(const Tables&) = delete;
};

// Records every statement the ORM sends while it lives.
class Capture {
public:
    Capture() {
        orm::set_query_logger([this](const orm::QueryEvent& e) {
            std::lock_guard lock(mu_);
            sql_.emplace_back(e.sql);
            params_.emplace_back(e.params.begin(), e.params.end());
            aliases_.emplace_back(e.alias);
            durations_.push_back(e.duration);
        });
    }
    ~Capture() { orm::set_query_logger({}); }
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;

    std::size_t size() const {
        std::lock_guard lock(mu_);
        return sql_.size();
    }
    // Statements starting with `prefix` ("SELECT", "INSERT", ...).
    std::size_t count(std::string_view prefix) const {
        std::lock_guard lock(mu_);
        std::size_t n = 0;
        for (const auto& s : sql_) n += s.starts_with(prefix);
        return n;
    }
    std::vector<std::string> sql() const {
        std::lock_guard lock(mu_);
        return sql_;
    }
    std::vector<std::vector<orm::Value>> params() const {
        std::lock_guard lock(mu_);
        return params_;
    }
    std::vector<std::string> aliases() const {
        std::lock_guard lock(mu_);
        return aliases_;
    }
    std::vector<std::chrono::nanoseconds> durations() const {
        std::lock_guard lock(mu_);
        return durations_;
    }
    void clear() {
        std::lock_guard lock(mu_);
        sql_.clear();
        params_.clear();
        aliases_.clear();
        durations_.clear();
    }

private:
    mutable std::mutex mu_;
    std::vector<std::string> sql_;
    std::vector<std::vector<orm::Value>> params_;
    std::vector<std::string> aliases_;
    std::vector<std::chrono::nanoseconds> durations_;
};

// A few books by two authors, for query tests.
inline std::vector<Book> seed_books() {
    auto ann = Author::objects.create({.name = "Ann", .email = "ann@example.com"});
    auto bob = Author::objects.create({.name = "Bob"});
    using std::chrono::year;
    std::vector<Book> books{
        {.title = "Fibers in Practice", .price = 12.5, .pages = 320, .published = orm::Date(year(2021) / 3 / 1),
         .isbn = "111", .rating = 4.5, .author_id = ann.id},
        {.title = "Pools & Deadlines", .price = 30.0, .pages = 150, .in_print = false, .isbn = "222",
         .author_id = ann.id},
        {.title = "fibers for beginners", .price = 8.75, .pages = 90, .published = orm::Date(year(2019) / 7 / 14),
         .rating = 3.0, .author_id = bob.id},
        {.title = "Async 100%_done\\", .price = 20.0, .pages = 200, .isbn = "444", .rating = 4.0, .author_id = bob.id},
        {.title = "Zero", .price = 0.0, .pages = 0, .author_id = bob.id},
    };
    Book::objects.bulk_create(books);
    return books;
}

// Titles of a queryset's rows, in order.
template <class QS>
std::vector<std::string> titles(const QS& qs) {
    std::vector<std::string> out;
    for (const auto& b : qs) out.push_back(b.title);
    return out;
}

}  // namespace weft::conformance::orm_models

namespace weft::conformance {
template <>
inline std::string show<std::vector<std::string>>(const std::vector<std::string>& v) {
    return fmt::format("[{}]", fmt::join(v, ", "));
}
}  // namespace weft::conformance
