// orm::asio: weft under Boost.Asio and Beast (header-only; libweft itself never includes Asio).
//
//   orm::asio::Stream    an orm::net::Stream as an Asio SyncReadStream / SyncWriteStream, so
//                        Beast's synchronous http::read / http::write and websocket::stream<...>'s
//                        synchronous API run unchanged over weft's sockets: blocking in sync mode,
//                        suspending only the calling fiber in async mode. Asynchronous Asio
//                        operations are not provided: Beast's async_* calls on it do not compile
//                        ("AsyncStream type requirements not met"); run sync code on a fiber.
//   orm::asio::attach    runs this thread's weft fiber loop inside a boost::asio::io_context that
//                        the same thread runs (via orm::loop_fd / orm::loop_step).
//   orm::asio::as_async  runs a plain function on a weft fiber and completes an Asio completion
//                        token (a handler, use_future, ...) with its value or exception.
//
// One io_context per thread: the weft loop belongs to the thread that attaches it, so the
// io_context must be run by that thread alone (io_context.run() outside any fiber).
#pragma once

#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include "drivers/bridge/deadline.hpp"
#include "drivers/bridge/embed.hpp"
#include "drivers/bridge/mode.hpp"
#include "drivers/bridge/task.hpp"
#include "drivers/bridge/wait.hpp"
#include "drivers/errors.hpp"
#include "drivers/net/net.hpp"

namespace orm::asio {

// The Asio error code for an orm exception from orm::net: TimeoutError -> timed_out,
// ConnectionError -> connection_reset / connection_refused / broken_pipe / host_unreachable /
// network_unreachable / host_not_found (read from its message) or else connection_aborted,
// InterfaceError (closed socket, bad address) -> bad_descriptor, any other orm::Error ->
// errc::io_error. Rethrows orm::FiberCancelled: a fiber being cancelled must unwind, not get an
// error code that Beast could swallow.
inline boost::system::error_code to_error_code(std::exception_ptr e) {
    namespace err = boost::asio::error;
    const auto has = [](const std::exception& x, const char* word) {
        return std::strstr(x.what(), word) != nullptr;
    };
    try {
        std::rethrow_exception(e);
    } catch (const FiberCancelled&) {
        throw;
    } catch (const TimeoutError&) {
        return err::timed_out;
    } catch (const ConnectionError& x) {
        if (has(x, "reset")) return err::connection_reset;
        if (has(x, "refused")) return err::connection_refused;
        if (has(x, "roken pipe") || has(x, "EPIPE")) return err::broken_pipe;
        if (has(x, "etwork is unreachable")) return err::network_unreachable;
        if (has(x, "nreachable")) return err::host_unreachable;
        if (has(x, "not found") || has(x, "resolve")) return err::host_not_found;
        return err::connection_aborted;
    } catch (const InterfaceError&) {
        return err::bad_descriptor;
    } catch (const Error&) {
        return make_error_code(boost::system::errc::io_error);
    }
}

// An orm::net::Stream as an Asio SyncReadStream and SyncWriteStream. Each read_some/write_some
// waits at most the direction's timeout (none by default), measured from the call. The error_code
// overloads report failures as Asio codes (end of stream: boost::asio::error::eof); the throwing
// overloads throw boost::system::system_error. Either way last_error() keeps the orm exception
// the socket threw (message with peer and time waited), until the next failure.
class Stream {
public:
    // Beast's websocket::stream needs an executor (it builds a timer for its async operations).
    // Nothing of the sync API runs on it; pass your io_context's executor, or get a private idle
    // io_context's one.
    using executor_type = boost::asio::any_io_executor;
    using duration = std::chrono::nanoseconds;
    static constexpr duration no_timeout = duration::max();

    explicit Stream(net::Stream s) : Stream(std::move(s), idle_executor()) {}
    Stream(net::Stream s, executor_type ex) : s_(std::move(s)), ex_(std::move(ex)) {}

    executor_type get_executor() const noexcept { return ex_; }
    net::Stream& socket() noexcept { return s_; }
    const net::Stream& socket() const noexcept { return s_; }

    // Relative per-call timeouts; no_timeout (the default) waits as long as it takes.
    template <class Rep, class Period>
    void set_read_timeout(std::chrono::duration<Rep, Period> d) { read_timeout_ = clamp(d); }
    template <class Rep, class Period>
    void set_write_timeout(std::chrono::duration<Rep, Period> d) { write_timeout_ = clamp(d); }
    duration read_timeout() const noexcept { return read_timeout_; }
    duration write_timeout() const noexcept { return write_timeout_; }
    // Absolute deadlines, for a whole exchange that Beast splits into many calls (http::read of
    // one request calls read_some until the message is complete, so a per-call timeout lets a
    // client that trickles a byte a second hold the connection for ever). Each call waits until
    // the earlier of its deadline and its timeout. orm::no_deadline (the default) clears it.
    void set_read_deadline(Deadline d) noexcept { read_deadline_ = d; }
    void set_write_deadline(Deadline d) noexcept { write_deadline_ = d; }
    Deadline read_deadline() const noexcept { return read_deadline_; }
    Deadline write_deadline() const noexcept { return write_deadline_; }

    template <class MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& buffers) {
        boost::system::error_code ec;
        const std::size_t n = read_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec, "orm::asio::Stream::read_some");
        return n;
    }
    template <class MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
        Iov iov;
        if (!iov.fill(buffers)) {
            ec = {};
            return 0;
        }
        return transfer(ec, [&] {
            const std::size_t n = s_.read_some(iov.v, iov.count, std::min(read_deadline_, deadline(read_timeout_)));
            if (n == 0) throw EndOfStream{};
            return n;
        });
    }

    template <class ConstBufferSequence>
    std::size_t write_some(const ConstBufferSequence& buffers) {
        boost::system::error_code ec;
        const std::size_t n = write_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec, "orm::asio::Stream::write_some");
        return n;
    }
    template <class ConstBufferSequence>
    std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
        Iov iov;
        if (!iov.fill(buffers)) {
            ec = {};
            return 0;
        }
        return transfer(ec, [&] { return s_.write_some(iov.v, iov.count, std::min(write_deadline_, deadline(write_timeout_))); });
    }

    // The orm exception behind the last error code (null when it was end of stream, or none yet).
    std::exception_ptr last_error() const noexcept { return last_error_; }

    void shutdown(net::Shutdown how, boost::system::error_code& ec) {
        transfer(ec, [&] {
            s_.shutdown(how);
            return std::size_t(0);
        });
    }
    void close() noexcept { s_.close(); }
    bool is_open() const noexcept { return s_.is_open(); }

private:
    struct EndOfStream {};
    // A buffer sequence as iovecs, empty buffers skipped; like Asio, at most 64 per call.
    struct Iov {
        static constexpr int max = 64;
        iovec v[max];
        int count = 0;
        template <class Seq>
        bool fill(const Seq& buffers) {
            auto it = boost::asio::buffer_sequence_begin(buffers);
            const auto end = boost::asio::buffer_sequence_end(buffers);
            for (; it != end && count < max; ++it) {
                boost::asio::const_buffer b(*it);
                if (b.size() == 0) continue;
                v[count].iov_base = const_cast<void*>(b.data());
                v[count].iov_len = b.size();
                ++count;
            }
            return count > 0;
        }
    };

    template <class F>
    std::size_t transfer(boost::system::error_code& ec, F&& f) {
        try {
            const std::size_t n = f();
            ec = {};
            return n;
        } catch (const EndOfStream&) {
            last_error_ = nullptr;
            ec = boost::asio::error::eof;
        } catch (const Error&) {
            last_error_ = std::current_exception();
            ec = to_error_code(last_error_);
        }
        return 0;
    }

    static Deadline deadline(duration timeout) noexcept {
        return timeout == no_timeout ? no_deadline : deadline_after(timeout);
    }
    template <class Rep, class Period>
    static duration clamp(std::chrono::duration<Rep, Period> d) noexcept {
        if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(no_timeout)) return no_timeout;
        return std::chrono::duration_cast<duration>(d);
    }
    static executor_type idle_executor() {
        static boost::asio::io_context idle;  // never run: only gives Beast's timers a home
        return idle.get_executor();
    }

    net::Stream s_;
    executor_type ex_;
    duration read_timeout_ = no_timeout;
    duration write_timeout_ = no_timeout;
    Deadline read_deadline_ = no_deadline;
    Deadline write_deadline_ = no_deadline;
    std::exception_ptr last_error_;
};

// Beast's websocket close handshake ends with teardown(): as for its TCP sockets, the server
// shuts down its sending side, both then read until the peer's end of stream (bounded by the
// read timeout), the client shuts down its side, and the socket is closed.
inline void teardown(boost::beast::role_type role, Stream& s, boost::system::error_code& ec) {
    if (role == boost::beast::role_type::server) s.shutdown(net::Shutdown::write, ec);
    if (ec) return;
    char drain[2048];
    for (;;) {
        s.read_some(boost::asio::buffer(drain), ec);
        if (ec == boost::asio::error::eof) break;
        if (ec) return;
    }
    ec = {};
    if (role == boost::beast::role_type::client) s.shutdown(net::Shutdown::write, ec);
    s.close();
}

namespace detail {

[[noreturn]] inline void wrong_thread(const char* what) {
    throw InterfaceError(std::string("orm::asio::") + what +
                         ": called on a thread other than the one that attached the io_context; "
                         "weft's loop belongs to one thread, so an io_context used with weft must "
                         "be run by that thread only (one io_context per thread)");
}

// The state behind a LoopDriver, shared with the handlers it has queued on the io_context so that
// they outlive neither it nor the io_context (the driver's service drops it at shutdown).
class DriverState : public std::enable_shared_from_this<DriverState> {
public:
    explicit DriverState(boost::asio::io_context& ctx)
        : ctx_(ctx), fd_(ctx), timer_(ctx), thread_(std::this_thread::get_id()) {
        // Asio closes what it owns: give it a duplicate of the loop's descriptor.
        const int fd = ::dup(orm::loop_fd());
        if (fd < 0)
            throw OperationalError(std::string("orm::asio::attach: dup(orm::loop_fd()) failed: ") +
                                   std::strerror(errno));
        fd_.assign(fd);
    }

    // Asks for a step soon (after whatever the io_context already has queued).
    void wake() {
        if (std::this_thread::get_id() != thread_) wrong_thread("LoopDriver::wake");
        post_step();
    }
    void stop() noexcept {
        stopped_ = true;
        boost::system::error_code ignored;
        timer_.cancel(ignored);
        fd_.close(ignored);
    }
    bool stopped() const noexcept { return stopped_; }
    bool armed() const noexcept { return fd_armed_ || timer_armed_ || step_posted_; }
    std::size_t steps() const noexcept { return steps_; }
    std::thread::id thread() const noexcept { return thread_; }
    boost::asio::io_context& context() noexcept { return ctx_; }

private:
    void step() {
        if (stopped_) return;
        if (std::this_thread::get_id() != thread_) wrong_thread("LoopDriver (the io_context ran a step)");
        orm::loop_step();
        ++steps_;
        rearm();
    }
    // Asio's epoll reactor watches descriptors edge-triggered and forgets an edge that came while
    // nobody waited, so a step that leaves work behind posts the next step itself (which also
    // lets the io_context's other handlers run in between); the descriptor is waited on only
    // when the weft loop is quiet. Without fibers nothing is armed, so io_context.run() can
    // return.
    void rearm() {
        if (stopped_) return;
        if (orm::loop_pending()) {
            post_step();
            return;
        }
        if (orm::loop_fibers() == 0) {
            idle();
            return;
        }
        if (!fd_armed_) {
            fd_armed_ = true;
            fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                           [self = shared_from_this(), gen = ++fd_gen_](const boost::system::error_code& ec) {
                               if (gen != self->fd_gen_) return;  // cancelled meanwhile
                               self->fd_armed_ = false;
                               if (!ec) self->step();
                           });
        }
        const auto timeout = orm::loop_timeout();
        if (timeout == std::chrono::nanoseconds::max()) {
            cancel_timer();
            return;
        }
        const auto due = std::chrono::steady_clock::now() + timeout;
        if (timer_armed_ && timer_.expiry() <= due) return;  // an early wake-up only costs a step
        timer_.expires_at(due);
        timer_armed_ = true;
        timer_.async_wait([self = shared_from_this(), gen = ++timer_gen_](const boost::system::error_code& ec) {
            if (gen != self->timer_gen_) return;
            self->timer_armed_ = false;
            if (!ec) self->step();
        });
    }
    void post_step() {
        if (step_posted_ || stopped_) return;
        step_posted_ = true;
        boost::asio::post(ctx_, [self = shared_from_this()] {
            self->step_posted_ = false;
            self->step();
        });
    }
    void cancel_timer() {
        if (!timer_armed_) return;
        ++timer_gen_;
        timer_armed_ = false;
        timer_.cancel();
    }
    void idle() {
        cancel_timer();
        if (fd_armed_) {
            ++fd_gen_;
            fd_armed_ = false;
            boost::system::error_code ignored;
            fd_.cancel(ignored);
        }
    }

    boost::asio::io_context& ctx_;
    boost::asio::posix::stream_descriptor fd_;
    boost::asio::steady_timer timer_;
    std::thread::id thread_;
    bool stopped_ = false, step_posted_ = false, fd_armed_ = false, timer_armed_ = false;
    std::uint64_t fd_gen_ = 0, timer_gen_ = 0;
    std::size_t steps_ = 0;
};

class DriverService;

}  // namespace detail

// This thread's weft loop running inside an io_context (see attach()). While weft has fibers the
// driver keeps a wait on the loop's descriptor and a timer for weft's next deadline on the
// io_context, and steps the loop when either fires; a step that leaves fibers ready posts the
// next one behind the io_context's queued handlers, so neither loop starves the other. With no
// fibers left it withdraws both waits, so io_context.run() returns once the application's own
// work is done.
class LoopDriver {
public:
    // Call after starting fibers with orm::spawn from an io_context handler (as_async does it
    // itself): a driver that went idle does not notice new fibers on its own.
    void wake() { state_->wake(); }
    // Loop steps taken so far (for tests and diagnostics).
    std::size_t steps() const noexcept { return state_->steps(); }
    // True while the driver has a wait or a step queued on the io_context (weft has fibers).
    bool armed() const noexcept { return state_->armed(); }

private:
    friend class detail::DriverService;
    explicit LoopDriver(std::shared_ptr<detail::DriverState> s) : state_(std::move(s)) {}
    std::shared_ptr<detail::DriverState> state_;
    friend std::weak_ptr<detail::DriverState> driver_state(LoopDriver& d) { return d.state_; }
};

namespace detail {

// Owns the io_context's LoopDriver; Asio destroys it with the io_context.
class DriverService : public boost::asio::execution_context::service {
public:
    static inline boost::asio::execution_context::id id;
    explicit DriverService(boost::asio::io_context& ctx) : service(ctx), ctx_(ctx) {}
    LoopDriver& driver() {
        if (!driver_) {
            if (stopped_)
                throw InterfaceError("orm::asio::attach: the io_context is being destroyed");
            driver_.emplace(LoopDriver(std::make_shared<DriverState>(ctx_)));
        } else if (driver_state(*driver_).lock()->thread() != std::this_thread::get_id()) {
            wrong_thread("attach");
        }
        return *driver_;
    }

private:
    void shutdown() override {
        stopped_ = true;
        if (driver_) {
            if (auto s = driver_state(*driver_).lock()) s->stop();
            driver_.reset();
        }
    }
    boost::asio::io_context& ctx_;
    std::optional<LoopDriver> driver_;
    bool stopped_ = false;
};

}  // namespace detail

// The io_context's LoopDriver, made on first use: from then on this thread's weft loop runs inside
// ctx (ctx must be run on this thread, outside any fiber). Idempotent; as_async calls it. The
// driver lives as long as ctx. InterfaceError from another thread than the first caller's.
inline LoopDriver& attach(boost::asio::io_context& ctx) {
    return boost::asio::use_service<detail::DriverService>(ctx).driver();
}

namespace detail {

template <class T>
struct as_async_signature {
    static_assert(std::is_default_constructible_v<T>,
                  "orm::asio::as_async: the function's result type must be default-constructible "
                  "(Asio completes with (exception_ptr, T) and needs a T when the function throws)");
    using type = void(std::exception_ptr, T);
};
template <>
struct as_async_signature<void> {
    using type = void(std::exception_ptr);
};

}  // namespace detail

// Runs fn() on a new weft fiber of this thread (attaching ctx's LoopDriver if need be) and
// completes `token` when fn returns or throws: with void(std::exception_ptr, T), or
// void(std::exception_ptr) when fn returns void. The completion is posted to ctx and then
// dispatched to the handler's associated executor, never run inside the fiber. With
// boost::asio::use_future, future.get() rethrows fn's exception with its original type. fn runs
// in whatever mode orm::set_async says: in sync mode its waits block the thread, the io_context
// included, for their duration. If ctx is destroyed before fn returns, the handler is destroyed
// uninvoked (a use_future future then reports broken_promise).
template <class F, class CompletionToken>
auto as_async(boost::asio::io_context& ctx, F&& fn, CompletionToken&& token) {
    using T = std::invoke_result_t<std::decay_t<F>&>;
    using Signature = typename detail::as_async_signature<T>::type;
    return boost::asio::async_initiate<CompletionToken, Signature>(
        [&ctx](auto handler, auto f) {
            LoopDriver& driver = attach(ctx);
            std::weak_ptr<detail::DriverState> state = driver_state(driver);
            orm::spawn("as_async", [h = std::move(handler), f = std::move(f), state]() mutable {
                std::exception_ptr error;
                std::optional<std::conditional_t<std::is_void_v<T>, char, T>> value;
                try {
                    if constexpr (std::is_void_v<T>)
                        f();
                    else
                        value.emplace(f());
                } catch (const FiberCancelled&) {
                    throw;  // the thread is exiting: nothing left to complete on
                } catch (...) {
                    error = std::current_exception();
                }
                auto s = state.lock();
                if (!s || s->stopped()) return;
                auto& io = s->context();
                boost::asio::post(io, [h = std::move(h), error, value = std::move(value), &io]() mutable {
                    auto ex = boost::asio::get_associated_executor(h, io.get_executor());
                    boost::asio::dispatch(ex, [h = std::move(h), error, value = std::move(value)]() mutable {
                        if constexpr (std::is_void_v<T>)
                            h(error);
                        else
                            h(error, value ? std::move(*value) : T{});
                    });
                });
            }).detach();
            driver.wake();
        },
        token, std::forward<F>(fn));
}

}  // namespace orm::asio
