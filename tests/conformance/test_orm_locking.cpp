// ORM conformance: row locking with select_for_update(). The SQL per feature flags; the
// transaction requirement; NotSupportedError for options a backend lacks; and, with two
// transactions at once (a second fiber in async mode, a second thread in sync mode), that NOWAIT
// fails on a locked row, SKIP LOCKED leaves it out, and a plain lock makes the second transaction
// wait until the first commits. Those tests assert the order of events, never durations.
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "drivers/bridge/bridge.hpp"
#include "tests/conformance/test_orm_models.hpp"

using namespace orm;
using namespace weft::conformance;
using namespace weft::conformance::orm_models;

namespace {

// Runs `fn` beside the test body: on a fiber in async mode, on a thread in sync mode (where a
// fiber's blocking call would stop the whole thread). join() rethrows its exception.
class Beside {
public:
    explicit Beside(std::function<void()> fn) {
        if (orm::is_async()) {
            task_.emplace(orm::spawn("beside", std::move(fn)));
        } else {
            thread_ = std::thread([this, fn = std::move(fn)] {
                try {
                    fn();
                } catch (...) {
                    error_ = std::current_exception();
                }
            });
        }
    }
    ~Beside() {
        try {
            join();
        } catch (...) {
        }
    }
    Beside(const Beside&) = delete;
    Beside& operator=(const Beside&) = delete;

    void join() {
        if (task_) {
            auto t = std::move(*task_);
            task_.reset();
            t.get();
            return;
        }
        weft::conformance::join(thread_);
        if (auto e = std::exchange(error_, nullptr)) std::rethrow_exception(e);
    }

private:
    std::optional<Task<void>> task_;
    std::thread thread_;
    std::exception_ptr error_;
};

// Lets the other side run for a while (a fiber sleeps on the loop; a thread just sleeps).
void pause(std::chrono::milliseconds d) {
    if (orm::in_fiber()) orm::sleep_for(d);
    else std::this_thread::sleep_for(d);
}

// Waits until `flag` is set (polling, bounded so that a broken test cannot hang the suite).
bool wait_for(const std::atomic<bool>& flag) {
    for (int i = 0; i < 30'000 && !flag.load(); ++i) pause(std::chrono::milliseconds(1));
    return flag.load();
}

void seed() {
    for (const char* n : {"a", "b", "c"}) Author::objects.create({.name = n});
}

std::vector<std::string> names(const std::vector<Author>& rows) {
    std::vector<std::string> out;
    for (const auto& a : rows) out.push_back(a.name);
    return out;
}

// The last logged SELECT.
std::string last_select(const Capture& cap) {
    auto sql = cap.sql();
    for (auto it = sql.rbegin(); it != sql.rend(); ++it)
        if (it->starts_with("SELECT")) return *it;
    return {};
}

void require_row_locks(Context& ctx) {
    CT_REQUIRE_FEATURE(supports_select_for_update);
    ctx.require_multiple_connections();
}

}  // namespace

CONFORMANCE_TEST("orm select_for_update: FOR UPDATE [NOWAIT | SKIP LOCKED] ends the SELECT where the backend locks rows") {
    Tables<Author> tables(ctx);
    seed();
    const auto& f = ctx.features();
    Capture cap;
    atomic([&] {
        CT_CHECK_EQ(names(Author::objects.select_for_update().filter("name", "a").list()), std::vector<std::string>{"a"});
        if (f.supports_select_for_update) CT_CHECK(last_select(cap).ends_with(" FOR UPDATE"));
        else CT_CHECK(last_select(cap).find("FOR UPDATE") == std::string::npos);

        // Every statement that reads rows locks them; count / exists / aggregate do not.
        auto locked = Author::objects.select_for_update().order_by("name");
        const std::string suffix = f.supports_select_for_update ? " FOR UPDATE" : "";
        auto check_last = [&](const char* what) {
            auto s = last_select(cap);
            if (!s.ends_with(suffix) || (suffix.empty() && s.find("FOR UPDATE") != std::string::npos))
                CT_FAIL_AT(fmt::format("{}: {}", what, s));
        };
        CT_CHECK_EQ(locked.get("name", "b").name, std::string("b"));
        check_last("get");
        CT_CHECK(locked.first().has_value());
        check_last("first");
        CT_CHECK_EQ(locked.filter("name__in", std::vector<Value>{Value("a"), Value("c")}).slice(0, 1).list().size(),
                    std::size_t{1});
        CT_CHECK(last_select(cap).find(" LIMIT 1") != std::string::npos);
        check_last("slice");
        CT_CHECK_EQ(locked.values("name").size(), std::size_t{3});
        check_last("values");
        CT_CHECK_EQ(locked.values_list("name", orm::flat).size(), std::size_t{3});
        check_last("values_list flat");
        std::size_t n = 0;
        for (const auto& a : locked.iterator(2)) n += !a.name.empty();
        CT_CHECK_EQ(n, std::size_t{3});
        check_last("iterator");
        CT_CHECK_EQ(locked.count(), std::int64_t{3});
        CT_CHECK(last_select(cap).find("FOR UPDATE") == std::string::npos);
        CT_CHECK(locked.exists());
        CT_CHECK(last_select(cap).find("FOR UPDATE") == std::string::npos);

        if (f.supports_select_for_update_nowait) {
            Author::objects.select_for_update({.nowait = true}).filter("name", "a").list();
            CT_CHECK(last_select(cap).ends_with(" FOR UPDATE NOWAIT"));
        }
        if (f.supports_select_for_update_skip_locked) {
            Author::objects.select_for_update({.skip_locked = true}).filter("name", "a").list();
            CT_CHECK(last_select(cap).ends_with(" FOR UPDATE SKIP LOCKED"));
        }
        // update_or_create locks the row it reads.
        cap.clear();
        CT_CHECK(!Author::objects.update_or_create({{"name", "a"}}, {{"email", "a@x"}}).second);
        bool saw_lock = false;
        for (const auto& s : cap.sql()) saw_lock = saw_lock || s.find("FOR UPDATE") != std::string::npos;
        CT_CHECK_EQ(saw_lock, f.supports_select_for_update);
    });
    // sql() shows the statement as it would run.
    CT_CHECK_EQ(Author::objects.select_for_update().sql().text.ends_with(" FOR UPDATE"), f.supports_select_for_update);
    CT_CHECK(Author::objects.select_for_update().filter("name", "a").for_update() != nullptr);
    CT_CHECK(Author::objects.filter("name", "a").for_update() == nullptr);
}

CONFORMANCE_TEST("orm select_for_update: evaluating it outside a transaction is an error on every backend") {
    Tables<Author> tables(ctx);
    seed();
    auto locked = Author::objects.select_for_update().filter("name", "a");  // building it is fine
    CT_CHECK_THROWS_WITH(locked.list(), TransactionManagementError,
                         "select_for_update cannot be used outside of a transaction");
    CT_CHECK_THROWS_AS(Author::objects.select_for_update().get("name", "a"), TransactionManagementError);
    CT_CHECK_THROWS_AS(Author::objects.select_for_update().values("name").list(), TransactionManagementError);
    CT_CHECK_THROWS_AS(Author::objects.select_for_update().get("pk", 1), TransactionManagementError);  // no pk fast path
    CT_CHECK_THROWS_AS(Author::objects.select_for_update({.nowait = true, .skip_locked = true}), InterfaceError);
    // count() takes no lock, so it needs no transaction; none() sends no SQL.
    CT_CHECK_EQ(locked.count(), std::int64_t{1});
    CT_CHECK(locked.none().list().empty());
    // The same queryset evaluated inside atomic() is fine.
    atomic([&] { CT_CHECK_EQ(locked.list().size(), std::size_t{1}); });
    // A transaction on another alias does not count.
    orm::connect(ctx.url(), "weft_ct_elsewhere");
    try {
        atomic("weft_ct_elsewhere", [&] {
            CT_CHECK_THROWS_AS(Author::objects.select_for_update().filter("name", "b").list(),
                               TransactionManagementError);
        });
    } catch (...) {
        orm::disconnect("weft_ct_elsewhere");
        throw;
    }
    orm::disconnect("weft_ct_elsewhere");
}

CONFORMANCE_TEST("orm select_for_update: nowait / skip_locked raise NotSupportedError naming a backend without them") {
    const auto& f = ctx.features();
    if (f.supports_select_for_update_nowait && f.supports_select_for_update_skip_locked)
        throw Skip{"the backend has NOWAIT and SKIP LOCKED"};
    Tables<Author> tables(ctx);
    seed();
    const std::string backend(ctx.db().backend().name());
    atomic([&] {
        if (!f.supports_select_for_update_nowait)
            CT_CHECK_THROWS_WITH(Author::objects.select_for_update({.nowait = true}).list(), NotSupportedError,
                                 fmt::format("select_for_update(nowait) is not supported on the {} backend", backend));
        if (!f.supports_select_for_update_skip_locked)
            CT_CHECK_THROWS_WITH(Author::objects.select_for_update({.skip_locked = true}).list(), NotSupportedError,
                                 backend);
        // The plain form still works (a no-op where the backend has no row locks).
        CT_CHECK_EQ(Author::objects.select_for_update().list().size(), std::size_t{3});
    });
}

CONFORMANCE_TEST("orm select_for_update: nowait fails at once on a row another transaction locked") {
    require_row_locks(ctx);
    CT_REQUIRE_FEATURE(supports_select_for_update_nowait);
    Tables<Author> tables(ctx);
    seed();
    std::string outcome = "no error";
    std::string sqlstate;
    atomic([&] {
        CT_CHECK_EQ(Author::objects.select_for_update().filter("name", "a").list().size(), std::size_t{1});
        Beside other([&] {
            try {
                atomic([&] { Author::objects.select_for_update({.nowait = true}).filter("name", "a").list(); });
            } catch (const OperationalError& e) {
                outcome = "OperationalError";
                sqlstate = e.sqlstate();
            }
            // Unlocked rows are still there for the taking.
            atomic([&] { Author::objects.select_for_update({.nowait = true}).filter("name", "b").list(); });
        });
        other.join();
    });
    CT_CHECK_EQ(outcome, std::string("OperationalError"));
    CT_CHECK_EQ(sqlstate, std::string("55P03"));
}

CONFORMANCE_TEST("orm select_for_update: skip_locked leaves out the rows another transaction locked") {
    require_row_locks(ctx);
    CT_REQUIRE_FEATURE(supports_select_for_update_skip_locked);
    Tables<Author> tables(ctx);
    seed();
    std::vector<std::string> seen;
    atomic([&] {
        Author::objects.select_for_update().filter("name", "b").list();
        Beside other([&] {
            atomic([&] { seen = names(Author::objects.select_for_update({.skip_locked = true}).order_by("name").list()); });
        });
        other.join();
    });
    CT_CHECK_EQ(seen, (std::vector<std::string>{"a", "c"}));
    // Once the first transaction is over, nothing is skipped.
    atomic([&] {
        CT_CHECK_EQ(Author::objects.select_for_update({.skip_locked = true}).count(), std::int64_t{3});
        CT_CHECK_EQ(Author::objects.select_for_update({.skip_locked = true}).list().size(), std::size_t{3});
    });
}

CONFORMANCE_TEST("orm select_for_update: a locked row makes another transaction wait until the first commits") {
    require_row_locks(ctx);
    Tables<Author> tables(ctx);
    seed();
    std::mutex mu;
    std::vector<std::string> events;
    auto event = [&](std::string e) {
        std::lock_guard lock(mu);
        events.push_back(std::move(e));
    };
    std::atomic<bool> started{false};
    std::optional<std::string> seen_by_other;
    std::optional<Beside> other;
    atomic([&] {
        auto a = Author::objects.select_for_update().get("name", "a");
        other.emplace([&] {
            atomic([&] {
                started = true;
                auto mine = Author::objects.select_for_update().get("name", "a");  // waits for the lock
                event("other locked the row");
                seen_by_other = mine.email;
            });
        });
        CT_REQUIRE(wait_for(started));
        // Gives the other side time to reach the lock; the checks below hold however long it takes.
        pause(std::chrono::milliseconds(200));
        a.email = "set by the first";
        a.save();
        event("first commits");
    });
    other->join();
    CT_CHECK_EQ(events, (std::vector<std::string>{"first commits", "other locked the row"}));
    CT_CHECK(seen_by_other == std::optional<std::string>("set by the first"));
}
