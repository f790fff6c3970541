// orm::asio::Stream under Beast: HTTP and websocket sync APIs over loopback sockets, on fibers of
// one thread in async mode and across two threads in sync mode; timeouts and resets as Asio codes.
#include <sys/socket.h>

#include <functional>
#include <string>
#include <thread>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "drivers/asio/asio.hpp"
#include "helpers.hpp"

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using namespace asio_test;

namespace {

// Runs `server` and `client` at once: two fibers of this thread in async mode, a second thread
// for the server in sync mode (where a fiber would block the other).
void run_pair(bool async, const std::function<void()>& server, const std::function<void()>& client) {
    if (async) {
        orm::run([&] {
            auto s = orm::spawn("server", server);
            auto c = orm::spawn("client", client);
            try {
                c.get();
            } catch (...) {
                s.wait_until(orm::deadline_after(5s));  // the server's error is reported, not lost
                throw;
            }
            s.get();
        });
        return;
    }
    std::exception_ptr server_error;
    std::thread t([&] {
        try {
            server();
        } catch (...) {
            server_error = std::current_exception();
        }
    });
    try {
        client();
    } catch (...) {
        t.join();
        throw;
    }
    t.join();
    if (server_error) std::rethrow_exception(server_error);
}

orm::asio::Stream accept_one(orm::net::Listener& l) {
    orm::asio::Stream s(l.accept(orm::deadline_after(5s)));
    s.set_read_timeout(5s);
    s.set_write_timeout(5s);
    return s;
}

orm::asio::Stream connect_to(const orm::net::Listener& l) {
    orm::asio::Stream s(orm::net::Stream::connect("127.0.0.1", l.port(), orm::deadline_after(5s)));
    s.set_read_timeout(5s);
    s.set_write_timeout(5s);
    return s;
}

}  // namespace

TEST_CASE("Beast http::write / http::read run over orm::asio::Stream in both modes") {
    for (bool async : {true, false}) {
        const std::string mode_label = mode_name(async);
        CAPTURE(mode_label);
        Mode mode(async);
        auto listener = orm::net::Listener::bind("127.0.0.1", 0);
        // Far larger than the socket buffers: on one thread in async mode the client's write must
        // suspend and let the server fiber read, or the exchange never finishes.
        std::string payload(12 * 1024 * 1024, 'x');
        for (std::size_t i = 0; i < payload.size(); i += 997) payload[i] = char('a' + i % 26);
        std::string seen_target, seen_body, answer;
        unsigned answer_status = 0;

        run_pair(
            async,
            [&] {
                auto s = accept_one(listener);
                for (int i = 0; i < 2; ++i) {  // two requests on one keep-alive connection
                    boost::beast::flat_buffer buffer;
                    http::request_parser<http::string_body> parser;
                    parser.body_limit(64 * 1024 * 1024);
                    http::read(s, buffer, parser);
                    http::request<http::string_body> req = parser.release();
                    seen_target = std::string(req.target());
                    seen_body = req.body();
                    http::response<http::string_body> res{http::status::created, req.version()};
                    res.set(http::field::content_type, "text/plain");
                    res.body() = fmt::format("{} bytes to {}", req.body().size(), std::string(req.target()));
                    res.keep_alive(i == 0);
                    res.prepare_payload();
                    http::write(s, res);
                }
            },
            [&] {
                auto c = connect_to(listener);
                boost::beast::flat_buffer buffer;
                for (const char* target : {"/orders", "/orders/7"}) {
                    http::request<http::string_body> req{http::verb::post, target, 11};
                    req.set(http::field::host, "127.0.0.1");
                    req.body() = payload;
                    req.prepare_payload();
                    http::write(c, req);
                    http::response<http::string_body> res;
                    http::read(c, buffer, res);
                    answer_status = res.result_int();
                    answer = res.body();
                }
                // The server closed after the second answer: the next read is end of stream.
                boost::system::error_code ec;
                char byte;
                CHECK(c.read_some(boost::asio::buffer(&byte, 1), ec) == 0);
                CHECK(ec == boost::asio::error::eof);
                CHECK(!c.last_error());
            });

        CHECK(seen_target == "/orders/7");
        CHECK(seen_body == payload);
        CHECK(answer_status == 201);
        CHECK(answer == fmt::format("{} bytes to /orders/7", payload.size()));
    }
}

TEST_CASE("Beast's websocket sync API echoes over orm::asio::Stream in both modes") {
    for (bool async : {true, false}) {
        const std::string mode_label = mode_name(async);
        CAPTURE(mode_label);
        Mode mode(async);
        auto listener = orm::net::Listener::bind("127.0.0.1", 0);
        std::vector<std::string> echoed;
        boost::system::error_code server_end;
        int server_messages = 0;

        run_pair(
            async,
            [&] {
                websocket::stream<orm::asio::Stream> ws(accept_one(listener));
                ws.accept();
                for (;;) {
                    boost::beast::flat_buffer buffer;
                    ws.read(buffer, server_end);
                    if (server_end) break;
                    ++server_messages;
                    ws.text(ws.got_text());
                    ws.write(buffer.data());
                }
            },
            [&] {
                websocket::stream<orm::asio::Stream> ws(connect_to(listener));
                ws.handshake("127.0.0.1", "/kitchen");
                const std::string big(200 * 1024, 'k');
                for (const std::string& m : {std::string("order 1"), std::string("order 2"), big}) {
                    ws.write(boost::asio::buffer(m));
                    boost::beast::flat_buffer buffer;
                    ws.read(buffer);
                    echoed.push_back(boost::beast::buffers_to_string(buffer.data()));
                }
                ws.close(websocket::close_code::normal);
                CHECK_FALSE(ws.next_layer().is_open());  // teardown closed the socket
            });

        REQUIRE(echoed.size() == 3);
        CHECK(echoed[0] == "order 1");
        CHECK(echoed[1] == "order 2");
        CHECK(echoed[2].size() == 200 * 1024);
        CHECK(server_messages == 3);
        CHECK(server_end == websocket::error::closed);
    }
}

TEST_CASE("A read timeout is boost::asio::error::timed_out, on time, with the orm::TimeoutError kept") {
    for (bool async : {true, false}) {
        const std::string mode_label = mode_name(async);
        CAPTURE(mode_label);
        Mode mode(async);
        // The kernel completes the connection from the listener's backlog; nobody ever answers.
        auto listener = orm::net::Listener::bind("127.0.0.1", 0);
        auto c = connect_to(listener);
        c.set_read_timeout(150ms);

        char buf[16];
        boost::system::error_code ec;
        auto t0 = Clock::now();
        CHECK(c.read_some(boost::asio::buffer(buf), ec) == 0);
        auto waited = Clock::now() - t0;
        CHECK(ec == boost::asio::error::timed_out);
        CHECK(waited >= 140ms);
        CHECK(waited < 1500ms);
        REQUIRE(c.last_error());
        CHECK_THROWS_AS(std::rethrow_exception(c.last_error()), orm::TimeoutError);

        // Beast's throwing http::read reports the same code as a system_error.
        boost::beast::flat_buffer buffer;
        http::response<http::string_body> res;
        t0 = Clock::now();
        try {
            http::read(c, buffer, res);
            FAIL("http::read returned without an answer");
        } catch (const boost::system::system_error& e) {
            CHECK(e.code() == boost::asio::error::timed_out);
        }
        CHECK(Clock::now() - t0 < 1500ms);
    }
}

TEST_CASE("A read deadline bounds a whole http::read against a client that trickles a byte at a time") {
    for (bool async : {true, false}) {
        const std::string mode_label = mode_name(async);
        CAPTURE(mode_label);
        Mode mode(async);
        auto listener = orm::net::Listener::bind("127.0.0.1", 0);
        boost::system::error_code ec;
        Clock::duration waited{};
        run_pair(
            async,
            [&] {
                auto s = accept_one(listener);  // a per-call timeout of 5 s, which every byte resets
                s.set_read_deadline(orm::deadline_after(300ms));
                boost::beast::flat_buffer buffer;
                http::request<http::string_body> req;
                const auto t0 = Clock::now();
                http::read(s, buffer, req, ec);
                waited = Clock::now() - t0;
            },
            [&] {
                auto c = connect_to(listener);
                const std::string request = "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
                try {
                    for (std::size_t i = 0; i < request.size() && i < 20; ++i) {
                        c.socket().write_all(std::string_view(&request[i], 1), orm::deadline_after(1s));
                        orm::sleep_for(40ms);  // blocks this thread in sync mode, suspends the fiber in async
                    }
                } catch (const orm::ConnectionError&) {
                    // the server gave up on us and closed: what it should do
                }
            });
        CHECK(ec == boost::asio::error::timed_out);
        CHECK(waited >= 280ms);
        CHECK(waited < 1500ms);  // not 20 bytes x 40 ms plus a 5 s timeout per byte
    }
}

TEST_CASE("A peer reset is connection_reset; a refused connect maps to connection_refused") {
    for (bool async : {true, false}) {
        const std::string mode_label = mode_name(async);
        CAPTURE(mode_label);
        Mode mode(async);
        auto listener = orm::net::Listener::bind("127.0.0.1", 0);
        auto c = connect_to(listener);
        {
            auto peer = listener.accept(orm::deadline_after(5s));
            linger lg{1, 0};  // close with RST instead of FIN
            REQUIRE(::setsockopt(peer.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
        }
        char buf[16];
        boost::system::error_code ec;
        CHECK(c.read_some(boost::asio::buffer(buf), ec) == 0);
        std::string orm_message;
        try {
            if (c.last_error()) std::rethrow_exception(c.last_error());
        } catch (const std::exception& e) {
            orm_message = e.what();
        }
        CHECK_MESSAGE(ec == boost::asio::error::connection_reset, ec.message(), " from orm: ", orm_message);
        REQUIRE(c.last_error());
        CHECK_THROWS_AS(std::rethrow_exception(c.last_error()), orm::ConnectionError);
        CHECK_THROWS_AS(c.read_some(boost::asio::buffer(buf)), boost::system::system_error);

        // Nobody listens on a closed listener's port any more.
        const auto port = listener.port();
        listener.close();
        try {
            orm::net::Stream::connect("127.0.0.1", port, orm::deadline_after(2s));
            FAIL("connect to a closed port succeeded");
        } catch (const orm::ConnectionError&) {
            CHECK(orm::asio::to_error_code(std::current_exception()) == boost::asio::error::connection_refused);
        }
    }
}

TEST_CASE("Empty buffers read and write nothing without waiting") {
    auto listener = orm::net::Listener::bind("127.0.0.1", 0);
    auto c = connect_to(listener);
    c.set_read_timeout(10s);
    boost::system::error_code ec = boost::asio::error::eof;
    const auto t0 = Clock::now();
    CHECK(c.read_some(boost::asio::mutable_buffer(), ec) == 0);
    CHECK(!ec);
    CHECK(c.write_some(boost::asio::const_buffer(), ec) == 0);
    CHECK(!ec);
    CHECK(Clock::now() - t0 < 1s);
}
