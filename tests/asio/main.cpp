// doctest's main for the Boost.Asio/Beast bridge tests (drivers/asio/asio.hpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
