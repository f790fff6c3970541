// The accept loops of both modes and the connection routine they share (see http_server.hpp).
#include "examples/order_service/http_server.hpp"

#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "drivers/bridge/bridge.hpp"
#include "drivers/asio/asio.hpp"

namespace order_service {

namespace {

using namespace std::chrono_literals;
namespace beast = boost::beast;

// Set by SIGTERM / SIGINT: stop accepting, let the requests in progress finish, close idle
// connections, return from serve().
std::atomic<bool> stopping{false};
extern "C" void on_stop_signal(int) { stopping.store(true, std::memory_order_relaxed); }

// How often waits that may last long look at `stopping`: accept, and an idle keep-alive
// connection (less often: a thousand idle connections then cost a thousand wake-ups a second).
constexpr auto stop_poll = std::chrono::milliseconds(200);
constexpr auto idle_stop_poll = std::chrono::milliseconds(1000);

struct Live {
    Live() { server_stats().connections.fetch_add(1, std::memory_order_relaxed); }
    ~Live() { server_stats().connections.fetch_sub(1, std::memory_order_relaxed); }
};

// Bytes the client has sent that nobody has read yet (without waiting).
bool more_input_waiting(const orm::net::Stream& s) {
    char c;
    return ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void write_response(orm::asio::Stream& io, Response& r, const ServerOptions& o) {
    io.set_write_deadline(orm::deadline_after(o.write_timeout));
    r.prepare_payload();
    boost::system::error_code ec;
    http::write(io, r, ec);
    if (ec) throw boost::system::system_error(ec);
}

// Best effort: an answer to a request we give up on; the connection is closed afterwards anyway.
void answer_and_close(orm::asio::Stream& io, http::status status, std::string body, const ServerOptions& o) {
    try {
        Response r = json_response(status, std::move(body));
        r.keep_alive(false);
        io.set_write_deadline(orm::deadline_after(std::min<std::chrono::milliseconds>(o.write_timeout, 1000ms)));
        r.prepare_payload();
        boost::system::error_code ec;
        http::write(io, r, ec);
    } catch (const orm::FiberCancelled&) {
        throw;
    } catch (const std::exception&) {
    }
}

void serve_connection(orm::net::Stream socket, const ServerOptions& o, const Handler& handler) {
    Live live;
    orm::asio::Stream io(std::move(socket));
    orm::net::Stream& s = io.socket();
    beast::flat_buffer buffer;
    for (bool first = true;; first = false) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(o.body_limit);
        // The first request of a connection must arrive within request_timeout; later ones may
        // idle (keep-alive) until idle_timeout. Once a request's first byte is in, all of it must
        // be in within request_timeout of that moment.
        const orm::Deadline idle = orm::deadline_after(first ? o.request_timeout : o.idle_timeout);
        orm::Deadline request = orm::no_deadline;
        boost::system::error_code ec;
        while (!parser.is_done()) {
            if (request == orm::no_deadline && (buffer.size() > 0 || parser.got_some()))
                request = orm::deadline_after(o.request_timeout);
            if (request == orm::no_deadline) {
                // Waiting for a request to start: in slices, so that a stopping server closes
                // idle connections instead of waiting out their keep-alive.
                if (stopping.load(std::memory_order_relaxed)) return;
                io.set_read_deadline(std::min(idle, orm::deadline_after(idle_stop_poll)));
            } else {
                io.set_read_deadline(request);
            }
            http::read_some(io, buffer, parser, ec);
            if (ec == boost::asio::error::timed_out && request == orm::no_deadline && !parser.got_some() &&
                buffer.size() == 0 && std::chrono::steady_clock::now() < idle) {
                ec = {};
                continue;  // a slice of the idle wait ended, not the wait
            }
            if (ec) break;
        }
        if (ec) {
            const bool started = buffer.size() > 0 || parser.got_some();
            if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
                ec == boost::asio::error::eof ||
                ec == boost::asio::error::connection_reset || ec == boost::asio::error::broken_pipe)
                return;  // the client went away
            if (ec == boost::asio::error::timed_out) {
                if (started) {
                    server_stats().timed_out.fetch_add(1, std::memory_order_relaxed);
                    answer_and_close(io, http::status::request_timeout,
                                     fmt::format(R"({{"error":"request not complete within {} ms"}})",
                                                 o.request_timeout.count()), o);
                }
                return;
            }
            if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
                server_stats().bad_requests.fetch_add(1, std::memory_order_relaxed);
                const bool too_big = ec == http::error::body_limit;
                nlohmann::json body = {{"error", too_big ? "request body too large" : "malformed HTTP request"},
                                       {"detail", ec.message()}};
                answer_and_close(io, too_big ? http::status::payload_too_large : http::status::bad_request,
                                 body.dump(), o);
                return;
            }
            return;  // any other socket error
        }

        Request& req = parser.get();
        Exchange ex(s);
        Response res;
        try {
            res = handler(req, ex);
        } catch (const ClientGone&) {
            return;
        } catch (const orm::FiberCancelled&) {
            throw;
        } catch (const std::exception& e) {
            fmt::print(stderr, "{}: {} {}: unexpected error: {}\n", o.name, std::string(req.method_string()),
                       std::string(req.target()), e.what());
            res = json_response(http::status::internal_server_error,
                                nlohmann::json{{"error", "internal error"}, {"detail", e.what()}}.dump());
        }
        // Sync mode: keep the connection only if the client already sent its next request, so a
        // pool thread never waits on an idle client (see http_server.hpp).
        const bool keep = req.keep_alive() && (o.async || buffer.size() > 0 || more_input_waiting(s));
        res.version(req.version());
        res.keep_alive(keep);
        try {
            write_response(io, res, o);
        } catch (const boost::system::system_error&) {
            return;
        }
        if (!keep) {
            try {
                s.shutdown(orm::net::Shutdown::write);
            } catch (const orm::Error&) {
            }
            return;
        }
    }
}

// Runs a connection to its end; nothing but FiberCancelled escapes.
void serve_guarded(orm::net::Stream s, const ServerOptions& o, const Handler& handler) {
    try {
        serve_connection(std::move(s), o, handler);
    } catch (const orm::FiberCancelled&) {
        throw;
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: connection ended by error: {}\n", o.name, e.what());
    }
}

// accept() failed: out of descriptors is the expected case (OperationalError naming the limit).
// Logs at most once a second (with how many were not logged) and pauses, so the loop neither
// spins on a connection it cannot take nor floods the log; connections already open keep going.
void accept_failed(const ServerOptions& o, const std::exception& e) {
    static std::mutex mu;
    static std::chrono::steady_clock::time_point last{};
    static long unlogged = 0;
    server_stats().accept_errors.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(mu);
        const auto now = std::chrono::steady_clock::now();
        if (now - last >= 1s) {
            fmt::print(stderr, "{}: accept failed: {} ({} open connections{}); pausing 100 ms, still serving\n",
                       o.name, e.what(), server_stats().connections.load(),
                       unlogged ? fmt::format(", {} more failures not logged", unlogged) : "");
            std::fflush(stderr);
            last = now;
            unlogged = 0;
        } else {
            ++unlogged;
        }
    }
    // A fiber sleeps on its loop; a sync-mode pool thread sleeps plainly (a first wait on the
    // fiber runtime would create this thread's loop, which needs descriptors we do not have).
    if (orm::in_fiber())
        orm::sleep_for(100ms);
    else
        std::this_thread::sleep_for(100ms);
}

}  // namespace

ServerStats& server_stats() {
    static ServerStats s;
    return s;
}

bool Exchange::client_gone() const {
    char c;
    const ssize_t n = ::recv(s_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return false;
    if (n == 0) return true;
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

Response json_response(http::status status, std::string body) {
    Response r{status, 11};
    r.set(http::field::content_type, "application/json");
    r.body() = std::move(body);
    return r;
}

void serve(const ServerOptions& o, Handler handler) {
    orm::set_async(o.async);
    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    auto listener = orm::net::Listener::bind(o.host, o.port);
    fmt::print("{} listening on {}:{} ({})\n", o.name, o.host, listener.port(),
               o.async ? "async, one thread, a fiber per connection" : fmt::format("sync, {} threads", o.threads));
    std::fflush(stdout);

    if (o.async) {
        // orm::run returns once the accept loop and every connection fiber have ended.
        orm::run([&] {
            while (!stopping.load(std::memory_order_relaxed)) {
                try {
                    orm::net::Stream s = listener.accept(orm::deadline_after(stop_poll));
                    server_stats().accepted.fetch_add(1, std::memory_order_relaxed);
                    orm::spawn("conn", [s = std::move(s), &o, &handler]() mutable {
                        serve_guarded(std::move(s), o, handler);
                    }).detach();
                    // Under a flood of connections accept() never has to wait; let the
                    // connection fibers run between two accepts.
                    orm::yield_now();
                } catch (const orm::TimeoutError&) {
                    // a slice of the wait for a connection: look at `stopping` again
                } catch (const orm::OperationalError& e) {
                    accept_failed(o, e);
                }
            }
        });
    } else {
        std::vector<std::thread> threads;
        for (int i = 0; i < o.threads; ++i)
            threads.emplace_back([&] {
                while (!stopping.load(std::memory_order_relaxed)) {
                    try {
                        orm::net::Stream s = listener.accept(orm::deadline_after(stop_poll));
                        server_stats().accepted.fetch_add(1, std::memory_order_relaxed);
                        serve_guarded(std::move(s), o, handler);
                    } catch (const orm::TimeoutError&) {
                        // a slice of the wait for a connection: look at `stopping` again
                    } catch (const orm::OperationalError& e) {
                        accept_failed(o, e);
                    }
                }
            });
        for (auto& t : threads) t.join();
    }
    fmt::print("{} stopped: {} connections accepted\n", o.name, server_stats().accepted.load());
    std::fflush(stdout);
}

}  // namespace order_service
