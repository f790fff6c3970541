#include "tests/postgres/pg_test.hpp"
