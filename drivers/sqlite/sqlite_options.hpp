// The SQLite backend's own URL options (?busy_timeout=2s&journal_mode=wal ...), parsed and
// checked in one place for both URL parsing and opening a connection.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/config.hpp"

namespace orm::db::sqlite {

enum class OpenMode { rwc, rw, ro };

struct SqliteOptions {
    std::chrono::milliseconds busy_timeout{5'000};
    bool foreign_keys = true;
    std::string journal_mode;       // upper case; empty: WAL for files, MEMORY for ":memory:" (unchanged for ro)
    std::string synchronous;        // upper case; empty: SQLite's default (FULL)
    OpenMode mode = OpenMode::rwc;
    // How begin() starts a transaction. IMMEDIATE takes the write lock at BEGIN, so a transaction
    // that reads and then writes waits for busy_timeout instead of failing with SQLITE_BUSY
    // halfway; empty means IMMEDIATE for writable databases and DEFERRED for mode=ro.
    std::string transaction_mode;
    // Async mode: try cached queries on the loop thread first (see sqlite_connection.hpp); off
    // runs every statement on a worker.
    bool async_inline = true;
};

// busy_timeout, foreign_keys, journal_mode, synchronous, mode, transaction_mode, async_inline.
const std::vector<std::string_view>& option_names();

// Sets one option from its URL text. Throws orm::InterfaceError naming the option, the URL and
// the accepted values; for an unknown name it lists the valid options (common + SQLite).
void apply_option(SqliteOptions& o, std::string_view url, std::string_view name, std::string_view value);

// All backend options kept in cfg.options, checked again (a config may be built by hand).
SqliteOptions read_options(const ConnectionConfig& cfg);

// ":memory:" (each connection is its own private database).
bool is_memory_target(std::string_view target) noexcept;

}  // namespace orm::db::sqlite
