// The VFS the SQLite driver opens its connections with: SQLite's default VFS with one change,
// its sleep (what the busy handler, busy_timeout included, and WAL retries wait with) gives up
// the calling worker thread's orm::CpuSlot while it sleeps. Internal to the driver.
#pragma once

namespace orm::db::sqlite {

// The registered name of that VFS (registered on first use; never made the default).
const char* slot_aware_vfs();

}  // namespace orm::db::sqlite
