// fork() with a pool that holds connections: the child must open its own (the inherited ones
// share their sockets with the parent), and the parent's session must go on undisturbed.
#include "tests/postgres/pg_test.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/database.hpp"

using namespace std::chrono_literals;

namespace {

int backend_pid(orm::db::Database& db) {
    auto c = db.acquire();
    return int(*c->execute("SELECT pg_backend_pid()").scalar<std::int64_t>());
}

// The child's exit status, or -1 if it had to be killed after 20 s.
int wait_child(pid_t pid) {
    const auto start = std::chrono::steady_clock::now();
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() - start > 20s) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        ::usleep(10'000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("after fork() the child's pool opens its own connections; the parent's pooled session goes on") {
    for (bool async : {false, true}) {
        CAPTURE(async);
        orm::set_async(async);
        auto db = orm::db::Database::open(pgtest::url_with("pool_size=2"));
        const int parent_backend = orm::run([&] { return backend_pid(*db); });  // now idle in the pool
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int code = 0;
            try {
                const int child_backend = orm::run([&] { return backend_pid(*db); });
                code = child_backend > 0 && child_backend != parent_backend ? 0 : 2;
                db.reset();  // closes the pool: only the child's own connection says goodbye
            } catch (...) {
                code = 3;
            }
            ::_exit(code);
        }
        // Before: the child took the parent's connection (same backend, exit 2) and, closing its
        // pool, ended the parent's session on the shared socket.
        CHECK(wait_child(pid) == 0);
        orm::run([&] {
            CHECK(backend_pid(*db) == parent_backend);
            auto c = db->acquire();
            CHECK(pgtest::scalar_int(*c, "SELECT 41 + 1") == 42);
        });
        orm::set_async(false);
    }
}
