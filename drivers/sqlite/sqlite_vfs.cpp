// A shim over SQLite's default VFS that forwards every method, only wrapping xSleep (see
// sqlite_vfs.hpp). In async mode each statement runs on a worker holding a CPU slot; a statement
// waiting in the busy handler for a lock must not keep a slot that the lock holder's next
// statement (its COMMIT) may need, or a small number of slots could stall every writer until
// busy_timeout. Wrapping the VFS sleep instead of installing our own busy handler keeps
// sqlite3_busy_timeout as it is (PRAGMA busy_timeout reports it, and a user setting it by
// PRAGMA still gets the slot behaviour).
#include "drivers/sqlite/sqlite_vfs.hpp"

#include <mutex>

#include <sqlite3.h>

#include "drivers/bridge/offload.hpp"
#include "drivers/errors.hpp"

namespace orm::db::sqlite {

namespace {

constexpr const char* vfs_name = "weft-cpu-slot";
sqlite3_vfs* base = nullptr;  // the default VFS at registration
sqlite3_vfs shim;

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    return base->xOpen(base, name, f, flags, out_flags);
}
int x_delete(sqlite3_vfs*, const char* name, int sync_dir) { return base->xDelete(base, name, sync_dir); }
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) { return base->xAccess(base, name, flags, out); }
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
    return base->xFullPathname(base, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return base->xDlOpen(base, name); }
void x_dl_error(sqlite3_vfs*, int n, char* out) { base->xDlError(base, n, out); }
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) { return base->xDlSym(base, h, sym); }
void x_dl_close(sqlite3_vfs*, void* h) { base->xDlClose(base, h); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return base->xRandomness(base, n, out); }
int x_sleep(sqlite3_vfs*, int microseconds) {
    orm::CpuSlot::Pause pause;  // nothing to give up outside a slot-holding worker
    return base->xSleep(base, microseconds);
}
int x_current_time(sqlite3_vfs*, double* out) { return base->xCurrentTime(base, out); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) {
    return base->xGetLastError ? base->xGetLastError(base, n, out) : 0;
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) { return base->xCurrentTimeInt64(base, out); }
int x_set_system_call(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr p) {
    return base->xSetSystemCall(base, name, p);
}
sqlite3_syscall_ptr x_get_system_call(sqlite3_vfs*, const char* name) { return base->xGetSystemCall(base, name); }
const char* x_next_system_call(sqlite3_vfs*, const char* name) { return base->xNextSystemCall(base, name); }

void register_shim() {
    base = sqlite3_vfs_find(nullptr);
    if (!base) throw InterfaceError("SQLite has no default VFS");
    shim = sqlite3_vfs{};
    shim.iVersion = base->iVersion < 3 ? base->iVersion : 3;
    shim.szOsFile = base->szOsFile;
    shim.mxPathname = base->mxPathname;
    shim.zName = vfs_name;
    shim.xOpen = x_open;
    shim.xDelete = x_delete;
    shim.xAccess = x_access;
    shim.xFullPathname = x_full_pathname;
    shim.xDlOpen = base->xDlOpen ? x_dl_open : nullptr;
    shim.xDlError = base->xDlError ? x_dl_error : nullptr;
    shim.xDlSym = base->xDlSym ? x_dl_sym : nullptr;
    shim.xDlClose = base->xDlClose ? x_dl_close : nullptr;
    shim.xRandomness = x_randomness;
    shim.xSleep = x_sleep;
    shim.xCurrentTime = x_current_time;
    shim.xGetLastError = x_get_last_error;
    if (shim.iVersion >= 2) shim.xCurrentTimeInt64 = base->xCurrentTimeInt64 ? x_current_time_int64 : nullptr;
    if (shim.iVersion >= 3) {
        shim.xSetSystemCall = base->xSetSystemCall ? x_set_system_call : nullptr;
        shim.xGetSystemCall = base->xGetSystemCall ? x_get_system_call : nullptr;
        shim.xNextSystemCall = base->xNextSystemCall ? x_next_system_call : nullptr;
    }
    if (int rc = sqlite3_vfs_register(&shim, 0); rc != SQLITE_OK)
        throw InterfaceError(std::string("cannot register the SQLite VFS shim: ") + sqlite3_errstr(rc));
}

}  // namespace

const char* slot_aware_vfs() {
    static std::once_flag once;
    std::call_once(once, register_shim);
    return vfs_name;
}

}  // namespace orm::db::sqlite
