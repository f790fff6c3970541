// Running weft's fibers inside an event loop that belongs to the application (Boost.Asio, libuv,
// GLib, a plain epoll loop): this thread's fiber loop as one pollable descriptor plus a
// nonblocking step. The application watches loop_fd() for reading next to its own descriptors,
// sleeps at most loop_timeout(), and calls loop_step() whenever either fires:
//
//     int ep = epoll_create1(EPOLL_CLOEXEC);
//     epoll_event ev{EPOLLIN, {.fd = orm::loop_fd()}};
//     epoll_ctl(ep, EPOLL_CTL_ADD, orm::loop_fd(), &ev);     // level-triggered
//     ... add the application's own descriptors ...
//     orm::spawn([] { /* plain weft code: queries, sockets, sleeps */ }).detach();
//     for (;;) {
//         orm::loop_step();                                   // run what weft has ready
//         int n = epoll_wait(ep, events, 64, orm::loop_timeout_ms());
//         ... handle the application's own events ...
//     }
//
// Weft's fibers and the application's handlers then share the thread: a fiber runs until it
// waits (a query, a socket, a sleep) and the application's loop runs meanwhile. A plain weft
// call made from an application handler outside any fiber still works; it drives weft's loop
// until it completes (so it blocks that handler, and the application's loop, for its duration).
#pragma once

#include <chrono>
#include <cstddef>

namespace orm {

// The descriptor of this thread's fiber loop (an epoll set; created on first use). It polls
// readable whenever loop_step() has I/O readiness or a cross-thread wake-up to deliver. Watch it
// level-triggered for reading (with an edge-triggered watcher, call loop_step() again while
// loop_pending() says so). Do not read, write or close it; it lives until the thread exits.
int loop_fd();

// Runs, without blocking, what is ready on this thread's loop: delivers I/O readiness and
// cross-thread wake-ups, fires due timers and resumes every fiber that is ready (fibers that
// become ready again meanwhile run at the next step). Returns the number of fibers resumed.
// Call it outside any fiber; from inside a fiber or from inside the loop it throws
// orm::InterfaceError.
std::size_t loop_step();

// True when loop_step() has something to do right now: a fiber is ready, a timer is due, or
// loop_fd() polls readable.
bool loop_pending();

// How long the application may sleep before it must call loop_step() even if loop_fd() stays
// quiet: zero when fibers are ready, else the time to weft's next timer (a sleep, a deadline),
// or std::chrono::nanoseconds::max() when there is none.
std::chrono::nanoseconds loop_timeout();
// The same for poll()/epoll_wait(): -1 for none, else milliseconds rounded up.
int loop_timeout_ms();

// Fibers alive on this thread's loop (0 when it has none, or no loop yet).
std::size_t loop_fibers() noexcept;

}  // namespace orm
