// Conformance harness: context, registry, table bookkeeping.
#include "tests/conformance/harness.hpp"

#include <algorithm>

#include "drivers/bridge/mode.hpp"
#include "drivers/bridge/offload.hpp"

namespace weft::conformance {

std::vector<TestCase>& registry() {
    static std::vector<TestCase> tests;
    return tests;
}

int register_test(const char* name, const char* file, TestFn fn) {
    registry().push_back({name, file, fn});
    return 0;
}

void join(std::thread& t) {
    if (!t.joinable()) return;
    if (orm::in_fiber())
        orm::run_in_thread([&t] { t.join(); });
    else
        t.join();
}

Context::Context(std::string url, std::string prefix, std::string mode, std::string url2)
    : url_(std::move(url)), prefix_(std::move(prefix)), mode_(std::move(mode)), url2_(std::move(url2)) {}

Context::~Context() {
    try {
        finish();
    } catch (...) {
    }
}

orm::db::Database& Context::db() {
    if (!db_) db_ = orm::db::Database::open(url_);
    return *db_;
}

orm::db::Connection& Context::conn() {
    if (!conn_) conn_ = db().acquire();
    return *conn_;
}

std::string Context::url_with(std::string_view options) const {
    if (options.empty()) return url_;
    bool uri = url_.find(':') != std::string::npos && url_.find('=') > url_.find(':');
    if (!uri) {  // libpq key=value form: options are more key=value words
        std::string extra(options);
        std::replace(extra.begin(), extra.end(), '&', ' ');
        return url_ + " " + extra;
    }
    return url_ + (url_.find('?') == std::string::npos ? "?" : "&") + std::string(options);
}

namespace {

// "sqlite:///tmp/a.db?x=1" -> "sqlite:///tmp/a.second.db?x=1"; in-memory URLs stay as they are
// (every in-memory database is a separate one).
std::string sibling_sqlite_url(const std::string& url) {
    const std::size_t query = std::min(url.find('?'), url.size());
    std::string path = url.substr(0, query);
    if (path.find(":memory:") != std::string::npos) return url;
    const std::size_t slash = path.find_last_of("/:");
    const std::size_t dot = path.find_last_of('.');
    if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
        path.insert(dot, ".second");
    else
        path += ".second";
    return path + url.substr(query);
}

}  // namespace

const std::string& Context::second_url() {
    if (!url2_.empty()) return url2_;
    // Deriving a second database depends on the URL syntax and what the server offers, so this
    // (test-only) code asks for the backend by name.
    if (db().backend().name() == "sqlite") {
        url2_ = sibling_sqlite_url(url_);
    } else if (db().backend().name() == "postgresql") {
        second_schema_ = prefix_ + "second";
        conn().execute_script(fmt::format("CREATE SCHEMA IF NOT EXISTS {}", conn().dialect().quote_name(second_schema_)));
        bool uri = url_.find("://") != std::string::npos;
        url2_ = url_with(fmt::format("options=-csearch_path{}{}", uri ? "%3D" : "=", second_schema_));
    } else {
        throw Skip{fmt::format("needs a second database: pass --url2 (none can be derived for the {} backend)",
                               db().backend().name())};
    }
    return url2_;
}

std::shared_ptr<orm::db::Database> Context::open_with(std::string_view options) {
    return orm::db::Database::open(url_with(options));
}

std::string Context::table(std::string_view base) {
    std::string name = prefix_ + std::string(base);
    if (std::find(tables_.begin(), tables_.end(), name) == tables_.end()) {
        conn().backend().schema_editor().drop_table(conn(), name, true);
        tables_.push_back(name);
    }
    return name;
}

std::string Context::create_table(orm::db::TableSpec spec) {
    spec.name = table(spec.name);
    for (auto& c : spec.columns)
        if (c.references) c.references->table = prefix_ + c.references->table;
    conn().backend().schema_editor().create_table(conn(), spec);
    return spec.name;
}

void Context::require(bool orm::db::Features::*flag, std::string_view name) {
    if (!(features().*flag)) throw Skip{fmt::format("needs feature {}", name)};
}

void Context::require_multiple_connections() {
    if (db().config().pool.max_size < 2)
        throw Skip{"needs a database that allows several connections (this URL allows one, e.g. :memory:)"};
}

void Context::fail(std::string message) { failures_.push_back(std::move(message)); }

void Context::finish() {
    if (conn_ && !conn_->is_broken()) {
        if (conn_->transaction_state() != orm::db::TransactionState::idle) conn_->rollback();
        // Drop in reverse order so tables referencing others go first.
        for (auto it = tables_.rbegin(); it != tables_.rend(); ++it)
            conn_->backend().schema_editor().drop_table(*conn_, *it, true);
    }
    tables_.clear();
    if (conn_ && !conn_->is_broken() && !second_schema_.empty()) {
        try {
            // Without CASCADE: a schema a failed test left tables in stays for the next run to clean.
            conn_->execute_script(fmt::format("DROP SCHEMA IF EXISTS {}", conn_->dialect().quote_name(second_schema_)));
        } catch (const orm::Error&) {
        }
        second_schema_.clear();
    }
    conn_.release();
}

}  // namespace weft::conformance
