// fork() with a pool that holds SQLite connections: the child must open its own (closing an
// inherited handle could checkpoint and remove the parent's WAL), and both keep working on the
// same database file.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "drivers/bridge/bridge.hpp"
#include "drivers/database.hpp"
#include "drivers/errors.hpp"

using namespace std::chrono_literals;

TEST_CASE("after fork() the child's SQLite pool opens its own connection; parent and child share the file") {
    for (bool async : {false, true}) {
        CAPTURE(async);
        orm::set_async(async);
        char dir[] = "/tmp/weft-fork-XXXXXX";
        REQUIRE(::mkdtemp(dir) != nullptr);
        const std::string path = std::string(dir) + "/fork.db";
        auto db = orm::db::Database::open("sqlite://" + path + "?pool_size=1");
        orm::run([&] {
            auto c = db->acquire();
            c->execute("CREATE TABLE t (who TEXT)");
            c->execute("INSERT INTO t VALUES ('parent')");
            c->execute("CREATE TEMP TABLE mine (x)");  // visible on this connection only
        });
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int code = 0;
            try {
                code = orm::run([&] {
                    auto c = db->acquire();
                    // A fresh connection: the parent's TEMP table is not there.
                    const auto temp = c->execute("SELECT count(*) FROM sqlite_temp_master WHERE name = 'mine'")
                                          .scalar<std::int64_t>();
                    c->execute("INSERT INTO t VALUES ('child')");
                    return temp && *temp == 0 ? 0 : 2;
                });
                db.reset();
            } catch (...) {
                code = 3;
            }
            ::_exit(code);
        }
        int status = 0;
        const auto start = std::chrono::steady_clock::now();
        pid_t done = 0;
        while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() - start < 20s)
            ::usleep(10'000);
        if (done == 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
        }
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
        orm::run([&] {
            auto c = db->acquire();
            CHECK(*c->execute("SELECT count(*) FROM sqlite_temp_master WHERE name = 'mine'").scalar<std::int64_t>() == 1);
            CHECK(*c->execute("SELECT count(*) FROM t").scalar<std::int64_t>() == 2);  // the child's row too
        });
        db.reset();
        orm::set_async(false);
        ::unlink(path.c_str());
        ::unlink((path + "-wal").c_str());
        ::unlink((path + "-shm").c_str());
        ::rmdir(dir);
    }
}
