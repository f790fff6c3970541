// Shared helpers of the Boost.Asio/Beast bridge tests: the mode switch, loopback sockets,
// temporary SQLite files and running an io_context with a bound.
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "drivers/bridge/bridge.hpp"
#include "drivers/net/net.hpp"

namespace asio_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Sets the process-wide mode for the scope of a test.
class Mode {
public:
    explicit Mode(bool async) : old_(orm::is_async()) { orm::set_async(async); }
    ~Mode() { orm::set_async(old_); }
    Mode(const Mode&) = delete;
    Mode& operator=(const Mode&) = delete;

private:
    bool old_;
};

inline const char* mode_name(bool async) { return async ? "async" : "sync"; }

// A fresh directory under the system temp dir, removed at scope exit.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "weft-asio-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string sqlite_url(const std::string& name) const { return "sqlite:///" + (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// Runs ctx until it runs out of work, for at most `limit`; true when it ran out of work (a driver
// that left a wait behind would keep it running until the limit).
inline bool run_until_idle(boost::asio::io_context& ctx, std::chrono::milliseconds limit = 10000ms) {
    ctx.restart();
    ctx.run_for(limit);
    return ctx.stopped();
}

inline double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The PostgreSQL URL scripts/test sets, or empty.
inline std::string pg_url() {
    const char* u = std::getenv("WEFT_TEST_PG_URL");
    return u ? u : "";
}

}  // namespace asio_test
