// The order service's HTTP server: one accept loop and one connection routine, run either on a
// fixed pool of threads with blocking calls (sync mode) or on one thread's fiber loop with a fiber
// per connection (async mode). The handler it calls is the same function in both.
//
// Per connection: Beast parses each request (header and body limits) with deadlines from
// ServerOptions; a malformed request gets 400 and the connection is closed; a request that has
// started but is not complete by request_timeout (a client trickling bytes) is answered 408 and
// dropped; an idle keep-alive connection is closed after idle_timeout. Keep-alive differs by mode
// because the cost of an idle connection does: a fiber waiting on a socket costs a few KiB, a
// pool thread waiting on one is 1/threads of the server. So in sync mode a response keeps the
// connection only when the client has already sent (pipelined) its next request; otherwise it
// says "Connection: close", and a thread never sits on an idle connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "drivers/net/net.hpp"

namespace order_service {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Thrown by a handler that finds its client gone (Exchange::client_gone()): the connection is
// closed without an answer.
struct ClientGone : std::exception {
    const char* what() const noexcept override { return "client disconnected"; }
};

// What a handler sees of its connection besides the request.
class Exchange {
public:
    explicit Exchange(orm::net::Stream& s) : s_(s) {}
    // True when the client has closed or reset the connection (checked without waiting).
    bool client_gone() const;

private:
    orm::net::Stream& s_;
};

using Handler = std::function<Response(const Request&, Exchange&)>;

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  // 0: the system picks one; the server prints it
    bool async = true;
    int threads = 8;  // sync mode
    std::chrono::milliseconds request_timeout{5000};  // first byte of a request -> complete request
    std::chrono::milliseconds idle_timeout{30000};    // async keep-alive: between requests
    std::chrono::milliseconds write_timeout{5000};
    std::size_t body_limit = 64 * 1024;
    std::string name = "server";  // for log lines
};

// Counters shared by the server's threads (read by /debug/stats).
struct ServerStats {
    std::atomic<long> connections{0};     // open right now (async: live connection fibers)
    std::atomic<long> accepted{0};
    std::atomic<long> bad_requests{0};    // answered 400
    std::atomic<long> timed_out{0};       // dropped at request_timeout
    std::atomic<long> accept_errors{0};   // accept failed (out of descriptors, ...)
};
ServerStats& server_stats();

// A JSON response with the given status (keep-alive is decided by the server).
Response json_response(http::status status, std::string body);

// Binds, prints "<name> listening on 127.0.0.1:<port> (<mode>)" to stdout, and serves until
// SIGTERM or SIGINT: then it stops accepting, lets the requests in progress finish, closes idle
// connections (within a second), prints "<name> stopped: ..." and returns.
// Sync mode: options.threads threads, each accepting and serving one connection at a time.
// Async mode: the calling thread runs the fiber loop: one accept fiber, a fiber per connection.
void serve(const ServerOptions& options, Handler handler);

}  // namespace order_service
