// The fiber runtime ("the bridge") in one include: the mode switch, spawn/Task/run, waits with
// deadlines, thread offload, cross-thread wait queues, options, reports and dumps.
#pragma once

#include "drivers/bridge/deadline.hpp"
#include "drivers/bridge/dump.hpp"
#include "drivers/bridge/embed.hpp"
#include "drivers/bridge/join_all.hpp"
#include "drivers/bridge/mode.hpp"
#include "drivers/bridge/offload.hpp"
#include "drivers/bridge/options.hpp"
#include "drivers/bridge/report.hpp"
#include "drivers/bridge/task.hpp"
#include "drivers/bridge/this_fiber.hpp"
#include "drivers/bridge/wait.hpp"
#include "drivers/bridge/wait_queue.hpp"
