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

Context::Context(std::string url, std::string prefix, std::string mode)
    : url_(std::move(url)), prefix_(std::move(prefix)), mode_(std::move(mode)) {}

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
    conn_.release();
}

}  // namespace weft::conformance
