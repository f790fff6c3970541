// order_service: the reference handler of the design documents as a real HTTP service, one
// binary with two roles.
//
//   order_service serve --kitchen HOST:PORT [--port P] [--db URL] [--mode sync|async] [--threads N]
//                       [--pool N] [--pool-timeout MS] [--kitchen-timeout MS] [--hold-transaction MS]
//                       [--request-timeout MS] [--idle-timeout MS] [--max-fds N]
//   order_service kitchen [--port P] [--delay-ms D] [--max-fds N]
//
// serve: POST /orders, GET /orders/{id}, GET /debug/stats (see orders.cpp), on SQLite by default
// (sqlite://orders.db) or PostgreSQL (--db postgresql://...). --mode sync runs a pool of
// --threads threads with blocking calls; --mode async one thread with a fiber per connection.
// kitchen: POST /estimate, answered after --delay-ms; always async (a sleeping request costs a
// fiber, not a thread). Port 0 (the default) lets the system pick; the line
// "... listening on 127.0.0.1:<port> ..." on stdout says which.
#include <sys/resource.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "examples/order_service/http_server.hpp"
#include "examples/order_service/orders.hpp"
#include "orm/orm.hpp"

namespace {

using namespace order_service;

[[noreturn]] void usage(std::string_view problem) {
    fmt::print(stderr,
               "order_service: {}\n"
               "usage: order_service serve --kitchen HOST:PORT [--port P] [--db URL] [--mode sync|async]\n"
               "                           [--threads N] [--pool N] [--pool-timeout MS] [--kitchen-timeout MS]\n"
               "                           [--hold-transaction MS]\n"
               "                           [--request-timeout MS] [--idle-timeout MS] [--max-fds N]\n"
               "       order_service kitchen [--port P] [--delay-ms D] [--max-fds N]\n",
               problem);
    std::exit(2);
}

long number(const std::map<std::string, std::string, std::less<>>& args, std::string_view name, long fallback,
            long min, long max) {
    auto it = args.find(name);
    if (it == args.end()) return fallback;
    long v = 0;
    auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || end != it->second.data() + it->second.size() || v < min || v > max)
        usage(fmt::format("--{} wants a number from {} to {}, not '{}'", name, min, max, it->second));
    return v;
}

// --max-fds N lowers the descriptor limit (to test running out); otherwise the soft limit is
// raised to the hard one, since every connection costs a descriptor or two.
void set_fd_limit(long max_fds) {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return;
    r.rlim_cur = max_fds > 0 ? rlim_t(max_fds) : r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0)
        fmt::print(stderr, "order_service: cannot set the descriptor limit to {}\n", (unsigned long long)r.rlim_cur);
}

// Adds `name=value` to a database URL's query string unless the URL sets it already.
std::string with_option(std::string url, std::string_view name, std::string_view value) {
    if (url.find(fmt::format("{}=", name)) != std::string::npos) return url;
    url += url.find('?') == std::string::npos ? '?' : '&';
    return url + fmt::format("{}={}", name, value);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) usage("which role: serve or kitchen?");
    const std::string_view role = argv[1];
    std::map<std::string, std::string, std::less<>> args;
    for (int i = 2; i < argc; i += 2) {
        std::string_view flag = argv[i];
        if (!flag.starts_with("--") || i + 1 >= argc) usage(fmt::format("expected --name value, got '{}'", flag));
        args[std::string(flag.substr(2))] = argv[i + 1];
    }
    static const std::map<std::string_view, std::vector<std::string_view>> known = {
        {"serve", {"port", "kitchen", "db", "mode", "threads", "pool", "pool-timeout", "kitchen-timeout", "hold-transaction",
                   "request-timeout", "idle-timeout", "max-fds"}},
        {"kitchen", {"port", "delay-ms", "max-fds"}},
    };
    auto role_it = known.find(role);
    if (role_it == known.end()) usage(fmt::format("unknown role '{}'", role));
    for (const auto& [name, value] : args)
        if (std::find(role_it->second.begin(), role_it->second.end(), name) == role_it->second.end())
            usage(fmt::format("'{}' takes no --{}", role, name));

    set_fd_limit(number(args, "max-fds", 0, 16, 1 << 20));
    ServerOptions server;
    server.port = std::uint16_t(number(args, "port", 0, 0, 65535));
    try {
        if (role == "kitchen") {
            server.name = "kitchen";
            server.async = true;
            server.idle_timeout = std::chrono::milliseconds(300'000);
            serve(server, kitchen_handler(std::chrono::milliseconds(number(args, "delay-ms", 0, 0, 600'000))));
            return 0;
        }

        const std::string mode = args.count("mode") ? args["mode"] : "async";
        if (mode != "sync" && mode != "async") usage("--mode is sync or async");
        server.name = "order_service";
        server.async = mode == "async";
        server.threads = int(number(args, "threads", 8, 1, 1024));
        server.request_timeout = std::chrono::milliseconds(number(args, "request-timeout", 5000, 1, 3'600'000));
        server.idle_timeout = std::chrono::milliseconds(number(args, "idle-timeout", 30'000, 1, 3'600'000));

        if (!args.count("kitchen")) usage("serve needs --kitchen HOST:PORT");
        KitchenOptions kitchen;
        const std::string& k = args["kitchen"];
        const auto colon = k.rfind(':');
        if (colon == std::string::npos) usage("--kitchen wants HOST:PORT");
        kitchen.host = k.substr(0, colon);
        args["kitchen-port"] = k.substr(colon + 1);
        kitchen.port = std::uint16_t(number(args, "kitchen-port", 0, 1, 65535));
        kitchen.timeout = std::chrono::milliseconds(number(args, "kitchen-timeout", 1000, 1, 600'000));
        kitchen.hold_transaction = std::chrono::milliseconds(number(args, "hold-transaction", 0, 0, 60'000));

        // Sync: one connection per thread is all it can use. Async: a transaction holds its
        // connection for a few round trips only (never across the kitchen's), so a small pool
        // serves thousands of orders a second; more backends would only crowd PostgreSQL.
        const long pool = number(args, "pool", server.async ? 8 : server.threads, 1, 10'000);
        std::string url = args.count("db") ? args["db"] : "sqlite://orders.db";
        url = with_option(url, "pool_size", std::to_string(pool));
        url = with_option(url, "pool_timeout", std::to_string(number(args, "pool-timeout", 1000, 1, 3'600'000)));
        orm::connect(url);
        create_schema();
        serve(server, order_handler(kitchen));
        return 0;
    } catch (const std::exception& e) {
        fmt::print(stderr, "order_service: {}\n", e.what());
        return 1;
    }
}
