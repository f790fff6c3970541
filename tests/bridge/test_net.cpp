// orm::net sockets in both modes: echo over TCP and Unix sockets, many clients on one loop,
// deadlines (read, accept, connect), refused and reset connections, end of stream, name
// resolution that keeps the loop running, running out of descriptors.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "drivers/net/net.hpp"
#include "helpers.hpp"

using namespace bridge_test;
using orm::net::Listener;
using orm::net::Stream;

namespace {

// Sets the process-wide mode for one test and restores sync mode afterwards.
struct Mode {
    explicit Mode(bool async) { orm::set_async(async); }
    ~Mode() { orm::set_async(false); }
};

// Echoes one connection until the peer ends the stream.
void echo(Stream s) {
    char buf[4096];
    for (;;) {
        const std::size_t n = s.read_some(buf, sizeof buf, orm::deadline_after(5s));
        if (n == 0) return;
        s.write_all(buf, n, orm::deadline_after(5s));
    }
}

std::string round_trip(Stream& s, const std::string& msg) {
    s.write_all(msg, orm::deadline_after(5s));
    std::string got(msg.size(), '\0');
    s.read_exactly(got.data(), got.size(), orm::deadline_after(5s));
    return got;
}

std::string temp_socket_path(const char* tag) {
    return fmt::format("/tmp/weft-net-{}-{}.sock", tag, ::getpid());
}

}  // namespace

TEST_CASE("async mode: a TCP echo server and 50 clients interleave on one thread's fibers") {
    Mode mode(true);
    Listener l = Listener::bind("127.0.0.1", 0);
    const std::uint16_t port = l.port();
    REQUIRE(port != 0);
    std::atomic<int> served{0};
    std::vector<std::string> answers(50);
    std::atomic<int> in_flight{0}, max_in_flight{0};
    orm::run([&] {
        auto server = orm::spawn("server", [&] {
            std::vector<orm::Task<void>> conns;
            for (int i = 0; i < 50; ++i)
                conns.push_back(orm::spawn([&, s = l.accept(orm::deadline_after(5s))]() mutable {
                    echo(std::move(s));
                    ++served;
                }));
            for (auto& c : conns) c.get();
        });
        std::vector<orm::Task<void>> clients;
        for (int i = 0; i < 50; ++i)
            clients.push_back(orm::spawn([&, i] {
                Stream s = Stream::connect("127.0.0.1", port, orm::deadline_after(5s));
                const int now = ++in_flight;
                int seen = max_in_flight.load();
                while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {}
                std::string reply = round_trip(s, fmt::format("hello {}", i));
                orm::sleep_for(5ms);  // stay connected while the others connect
                reply += round_trip(s, std::string(100'000, char('a' + i % 26)));  // more than a socket buffer
                --in_flight;
                answers[std::size_t(i)] = reply.substr(0, 12);
                s.shutdown(orm::net::Shutdown::write);
                char c;
                CHECK(s.read_some(&c, 1, orm::deadline_after(5s)) == 0);  // the server ended too
            }));
        for (auto& c : clients) c.get();
        server.get();
    });
    CHECK(served == 50);
    CHECK(max_in_flight > 1);  // the clients really ran concurrently on the one thread
    for (int i = 0; i < 50; ++i) CHECK(answers[std::size_t(i)].rfind(fmt::format("hello {}", i), 0) == 0);
}

TEST_CASE("sync mode: the same calls block; a server thread echoes a client thread") {
    Mode mode(false);
    Listener l = Listener::bind("127.0.0.1", 0);
    std::thread server([&] { echo(l.accept(orm::deadline_after(5s))); });
    Stream s = Stream::connect("localhost", l.port(), orm::deadline_after(5s));
    CHECK(s.peer_address().to_string() == fmt::format("127.0.0.1:{}", l.port()));
    CHECK(round_trip(s, "ping") == "ping");
    const std::string big(300'000, 'x');
    // Larger than the socket buffers: write from a second thread while this one reads back.
    std::thread writer([&] { s.write_all(big, orm::deadline_after(5s)); });
    std::string back(big.size(), '\0');
    s.read_exactly(back.data(), back.size(), orm::deadline_after(5s));
    writer.join();
    CHECK(back == big);
    s.shutdown(orm::net::Shutdown::write);
    char c;
    CHECK(s.read_some(&c, 1, orm::deadline_after(5s)) == 0);
    server.join();
}

TEST_CASE("Unix-domain sockets in both modes") {
    for (bool async : {false, true}) {
        CAPTURE(async);
        Mode mode(async);
        const std::string path = temp_socket_path(async ? "a" : "s");
        Listener l = Listener::bind_unix(path);
        CHECK(l.local_address().to_string() == "unix:" + path);
        if (async) {
            orm::run([&] {
                auto server = orm::spawn([&] { echo(l.accept(orm::deadline_after(5s))); });
                Stream s = Stream::connect_unix(path, orm::deadline_after(5s));
                CHECK(round_trip(s, "over unix") == "over unix");
                s.close();
                server.get();
            });
        } else {
            std::thread server([&] { echo(l.accept(orm::deadline_after(5s))); });
            Stream s = Stream::connect_unix(path, orm::deadline_after(5s));
            CHECK(round_trip(s, "over unix") == "over unix");
            s.close();
            server.join();
        }
        l.close();
        CHECK(::access(path.c_str(), F_OK) != 0);  // the listener removed its socket file
        CHECK_THROWS_AS(Stream::connect_unix(path, orm::deadline_after(1s)), orm::ConnectionError);
    }
}

TEST_CASE("a read deadline gives TimeoutError naming the peer, and other fibers run meanwhile") {
    for (bool async : {false, true}) {
        CAPTURE(async);
        Mode mode(async);
        Listener l = Listener::bind("127.0.0.1", 0);
        Stream client = Stream::connect("127.0.0.1", l.port(), orm::deadline_after(5s));
        Stream peer = l.accept(orm::deadline_after(5s));  // accepted, never writes
        std::atomic<int> ticks{0};
        const auto start = Clock::now();
        std::string message;
        orm::run([&] {
            auto ticker = orm::spawn([&] {
                for (int i = 0; i < 5; ++i) {
                    orm::sleep_for(10ms);
                    ++ticks;
                }
            });
            try {
                char c;
                client.read_some(&c, 1, orm::deadline_after(150ms));
            } catch (const orm::TimeoutError& e) {
                message = e.what();
            }
            ticker.get();
        });
        const auto waited = ms_since(start);
        CHECK(message.find(fmt::format("reading from 127.0.0.1:{}", l.port())) != std::string::npos);
        CHECK(message.find("timed out after") != std::string::npos);
        CHECK(waited >= 140ms);
        CHECK(waited < 2s);
        CHECK(ticks == 5);
        // In sync mode the read blocked the thread: the ticker ran only after it. In async mode it
        // ran during the wait; either way it finished, and the socket is still usable.
        peer.write_all("z", orm::deadline_after(1s));
        char c = 0;
        CHECK(client.read_some(&c, 1, orm::deadline_after(1s)) == 1);
        CHECK(c == 'z');
    }
}

TEST_CASE("async mode: a fiber blocked on a socket read does not stall the others") {
    Mode mode(true);
    Listener l = Listener::bind("127.0.0.1", 0);
    Stream client = Stream::connect("127.0.0.1", l.port(), orm::deadline_after(5s));
    Stream peer = l.accept(orm::deadline_after(5s));
    std::vector<std::string> log;
    orm::run([&] {
        auto reader = orm::spawn([&] {
            char buf[8];
            const std::size_t n = client.read_some(buf, sizeof buf, orm::deadline_after(5s));
            log.push_back("read " + std::string(buf, n));
        });
        auto other = orm::spawn([&] {
            orm::sleep_for(20ms);
            log.push_back("other ran");
            peer.write_all("data", orm::deadline_after(1s));
        });
        reader.get();
        other.get();
    });
    REQUIRE(log.size() == 2);
    CHECK(log[0] == "other ran");
    CHECK(log[1] == "read data");
}

TEST_CASE("refused, reset and closed connections are ConnectionErrors; never SIGPIPE") {
    for (bool async : {false, true}) {
        CAPTURE(async);
        Mode mode(async);
        std::uint16_t closed_port;
        {
            Listener gone = Listener::bind("127.0.0.1", 0);
            closed_port = gone.port();
        }
        try {
            Stream::connect("127.0.0.1", closed_port, orm::deadline_after(2s));
            FAIL("connecting to a closed port succeeded");
        } catch (const orm::ConnectionError& e) {
            CHECK(std::string(e.what()).find(fmt::format("127.0.0.1:{}", closed_port)) != std::string::npos);
            CHECK(std::string(e.what()).find("refused") != std::string::npos);
        }

        Listener l = Listener::bind("127.0.0.1", 0);
        Stream client = Stream::connect("127.0.0.1", l.port(), orm::deadline_after(5s));
        {
            Stream peer = l.accept(orm::deadline_after(5s));
            const linger abort{1, 0};  // close with RST
            ::setsockopt(peer.native_handle(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        }
        char c;
        CHECK_THROWS_AS(client.read_some(&c, 1, orm::deadline_after(2s)), orm::ConnectionError);

        Stream client2 = Stream::connect("127.0.0.1", l.port(), orm::deadline_after(5s));
        l.accept(orm::deadline_after(5s)).close();  // the peer closes normally
        CHECK(client2.read_some(&c, 1, orm::deadline_after(2s)) == 0);  // end of stream, not an error
        // Writing into the closed connection fails within a few writes (the peer answers RST).
        bool failed = false;
        const std::string chunk(65536, 'w');
        for (int i = 0; i < 50 && !failed; ++i) {
            try {
                client2.write_all(chunk, orm::deadline_after(2s));
            } catch (const orm::ConnectionError&) {
                failed = true;
            }
        }
        CHECK(failed);
        CHECK_THROWS_AS(Stream().read_some(&c, 1, orm::no_deadline), orm::InterfaceError);
    }
}

TEST_CASE("accept and connect deadlines") {
    for (bool async : {false, true}) {
        CAPTURE(async);
        Mode mode(async);
        Listener l = Listener::bind("127.0.0.1", 0);
        const auto start = Clock::now();
        try {
            orm::run([&] { l.accept(orm::deadline_after(100ms)); });
            FAIL("accept returned without a client");
        } catch (const orm::TimeoutError& e) {
            CHECK(std::string(e.what()).find("accepting on 127.0.0.1:") != std::string::npos);
        }
        CHECK(ms_since(start) >= 90ms);
        CHECK(ms_since(start) < 2s);
        // A listener that accepts nobody, with its queue full: the kernel drops further SYNs, so
        // a connect cannot complete and ends at its deadline.
        Listener full = Listener::bind("127.0.0.1", 0, /*backlog=*/0);
        std::vector<Stream> queued;
        std::string message;
        const auto t0 = Clock::now();
        for (int i = 0; i < 8 && message.empty(); ++i) {
            try {
                queued.push_back(Stream::connect("127.0.0.1", full.port(), orm::deadline_after(200ms)));
            } catch (const orm::TimeoutError& e) {
                message = e.what();
            }
        }
        CHECK(message.find(fmt::format("connecting to 127.0.0.1:{} timed out after", full.port())) != std::string::npos);
        CHECK(ms_since(t0) < 3s);
    }
}

TEST_CASE("resolve: numeric addresses, localhost and names from the system's resolver") {
    for (bool async : {false, true}) {
        CAPTURE(async);
        Mode mode(async);
        auto v4 = orm::net::resolve("10.1.2.3", 80, orm::deadline_after(1s));
        REQUIRE(v4.size() == 1);
        CHECK(v4[0].to_string() == "10.1.2.3:80");
        auto v6 = orm::net::resolve("[::1]", 443, orm::deadline_after(1s));
        REQUIRE(v6.size() == 1);
        CHECK(v6[0].to_string() == "[::1]:443");
        CHECK(orm::net::resolve("localhost", 5432, orm::deadline_after(1s)).front().to_string() == "127.0.0.1:5432");
        // This machine's own name goes through getaddrinfo_a (/etc/hosts or DNS), on another
        // thread: a fiber keeps ticking meanwhile.
        char name[256] = {};
        REQUIRE(::gethostname(name, sizeof name - 1) == 0);
        std::vector<orm::net::Address> found;
        std::atomic<bool> ticked{false};
        orm::run([&] {
            auto ticker = orm::spawn([&] {
                orm::yield_now();
                ticked = true;
            });
            found = orm::net::resolve(name, 8080, orm::deadline_after(10s));
            ticker.get();
        });
        REQUIRE_FALSE(found.empty());
        CHECK(found.front().port() == 8080);
        CHECK(ticked);
        // A name that cannot exist (RFC 6761's .invalid): a ConnectionError or, where the DNS is
        // unreachable, a TimeoutError at the deadline; never a hang.
        const auto start = Clock::now();
        CHECK_THROWS_AS(orm::net::resolve("no-such-host.invalid", 80, orm::deadline_after(3s)), orm::OperationalError);
        CHECK(ms_since(start) < 4s);
        CHECK_THROWS_AS(orm::net::Address::numeric("example.org", 1), orm::InterfaceError);
        CHECK_THROWS_AS(orm::net::Address::unix_path(std::string(200, 'p')), orm::InterfaceError);
    }
}

TEST_CASE("out of file descriptors: accept says so, and the server keeps going afterwards") {
    for (bool async : {false, true}) {
        CAPTURE(async);
        Mode mode(async);
        Listener l = Listener::bind("127.0.0.1", 0);
        std::vector<Stream> clients;
        for (int i = 0; i < 3; ++i) clients.push_back(Stream::connect("127.0.0.1", l.port(), orm::deadline_after(5s)));
        // Lower the soft limit to just above the highest descriptor now open.
        rlimit saved{};
        REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
        const int probe = ::dup(0);
        REQUIRE(probe >= 0);
        ::close(probe);
        rlimit low = saved;
        low.rlim_cur = rlim_t(probe);  // the next descriptor would be `probe`: none left
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
        std::string message;
        try {
            orm::run([&] { l.accept(orm::deadline_after(2s)); });
        } catch (const orm::OperationalError& e) {
            message = e.what();
        }
        // A thread whose loop cannot even be created (it needs two descriptors) gets the same kind
        // of error from its first wait, not a crash.
        std::string loop_message;
        std::thread fresh([&] {
            try {
                orm::sleep_for(1ms);
            } catch (const orm::OperationalError& e) {
                loop_message = e.what();
            }
        });
        fresh.join();
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
        CHECK(loop_message.find("cannot start this thread's loop: out of file descriptors") != std::string::npos);
        CHECK(message.find("out of file descriptors") != std::string::npos);
        CHECK(message.find(std::to_string(probe)) != std::string::npos);  // names the limit
        // The pending connection was not lost: with descriptors back, it is accepted.
        Stream s = l.accept(orm::deadline_after(2s));
        CHECK(s.is_open());
    }
}
