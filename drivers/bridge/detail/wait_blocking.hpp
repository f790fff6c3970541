// The sync-mode twin of orm::wait_io (internal): waits for an fd with poll(2), blocking the
// thread and never touching the fiber loop, as sync mode's drivers and sockets must.
#pragma once

#include "drivers/bridge/deadline.hpp"
#include "drivers/bridge/wait.hpp"

namespace orm::detail {

// Returns what is ready (a non-empty subset of `interest`; an error or hang-up counts as ready
// both ways). Throws orm::TimeoutError at `deadline`, orm::InterfaceError for a closed fd,
// orm::OperationalError if poll itself fails. Callers with a better message catch the timeout.
Io wait_io_blocking(int fd, Io interest, Deadline deadline);

}  // namespace orm::detail
