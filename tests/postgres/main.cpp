// postgres_tests: the PostgreSQL driver against the server named by WEFT_TEST_PG_URL
// (scripts/lib/pg-cluster.sh starts a throwaway one), in sync mode and in async mode under
// fibers (pgtest::both_modes; test_async.cpp for what only async mode has). Without a server
// the run is skipped (exit 77).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    const char* url = std::getenv("WEFT_TEST_PG_URL");
    if (!url || !*url) {
        std::fprintf(stderr,
                     "postgres_tests: WEFT_TEST_PG_URL is not set, so there is no PostgreSQL server to test against; "
                     "skipping (source scripts/lib/pg-cluster.sh and run pg_cluster_start to get one)\n");
        return 77;
    }
    doctest::Context ctx(argc, argv);
    return ctx.run();
}
