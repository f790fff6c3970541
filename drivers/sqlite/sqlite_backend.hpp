// The SQLite backend: URL scheme "sqlite" (see make_backend for the URL forms and options).
#pragma once

#include <memory>

#include "drivers/backend.hpp"

namespace orm::db::sqlite {

// The SQLite backend (one shared instance). URLs:
//   sqlite:///abs/path.db   sqlite://relative/path.db   sqlite:relative.db
//   sqlite::memory:         sqlite://:memory:
// each with an optional ?key=value&... query: the common options (pool_size, statement_timeout,
// ...) and busy_timeout (duration, 5s), foreign_keys (bool, on), journal_mode (wal for files,
// memory for :memory:), synchronous (SQLite's default, full), mode (rwc, rw, ro) and
// transaction_mode (deferred, immediate, exclusive; immediate unless mode=ro).
// Relative paths are made absolute when the URL is parsed, so every pooled connection opens the
// same file. Each connection to ":memory:" is its own empty database, so the pool size is 1.
std::shared_ptr<const Backend> make_backend();

}  // namespace orm::db::sqlite
