// libpq multi-host targets (issue 16, item 8): weft passes host lists and target_session_attrs to
// libpq in both URL forms and in both modes. The first host here is a loopback port nobody
// listens on (a dead primary); the connection must land on the live server behind it. The
// failover under load itself is tests/postgres/failover_check (scripts/test runs it).
#include "tests/postgres/pg_test.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "drivers/database.hpp"

using pgtest::both_modes;
using pgtest::expect_error;

namespace {

// A loopback port with nothing listening: bound and closed again.
int dead_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace

TEST_CASE("multi-host URLs: a dead first host is skipped, target_session_attrs=read-write is accepted") {
    const std::string port = pgtest::env("WEFT_TEST_PG_PORT"), pw = pgtest::env("WEFT_TEST_PG_PASSWORD");
    const std::string db = pgtest::env("WEFT_TEST_PG_DB");
    if (port.empty()) {
        MESSAGE("skipped: WEFT_TEST_PG_PORT is not set");
        return;
    }
    const int dead = dead_port();
    both_modes([&] {
        const std::string uri = fmt::format(
            "postgresql://postgres:{}@127.0.0.1:{},127.0.0.1:{}/{}?target_session_attrs=read-write&connect_timeout=5s",
            pw, dead, port, db);
        const std::string kv = fmt::format(
            "host=127.0.0.1,127.0.0.1 port={},{} user=postgres password={} dbname={} target_session_attrs=read-write",
            dead, port, pw, db);
        for (const auto& url : {uri, kv}) {
            CAPTURE(url);
            auto database = orm::db::Database::open(url);
            auto c = database->acquire();
            CHECK(pgtest::scalar_int(*c, "SELECT inet_server_port()") == std::stoi(port));
            CHECK(c->execute("SHOW transaction_read_only").scalar<std::string>() == std::optional<std::string>("off"));
        }
        // Only dead hosts: a ConnectionError that says so, within connect_timeout.
        auto e = expect_error<orm::ConnectionError>([&] {
            auto database = orm::db::Database::open(fmt::format(
                "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/{}?target_session_attrs=read-write&connect_timeout=3s",
                dead, dead, db));
            (void)database->acquire();
        });
        CHECK(std::string(e.what()).find("could not connect") != std::string::npos);
    });
}
