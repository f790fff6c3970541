// A Beast/Asio SyncReadStream + SyncWriteStream over an orm::net::Stream, private to the order
// service. Each read and write waits until the deadline set on the adapter: blocking in sync mode,
// suspending the fiber in async mode (orm::net decides per call), so Beast's synchronous
// http::read / http::write run unchanged in both. weft's errors become Asio error codes in the
// error_code overloads Beast calls: a deadline is asio::error::timed_out, the end of the stream
// asio::error::eof, a reset or refusal asio::error::connection_reset. orm::FiberCancelled (the
// loop unwinding a fiber at thread exit) is not caught.
#pragma once

#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include "drivers/bridge/deadline.hpp"
#include "drivers/errors.hpp"
#include "drivers/net/net.hpp"

namespace order_service {

class SocketStream {
public:
    explicit SocketStream(orm::net::Stream& s) : s_(&s) {}

    void set_read_deadline(orm::Deadline d) noexcept { read_deadline_ = d; }
    void set_write_deadline(orm::Deadline d) noexcept { write_deadline_ = d; }
    orm::net::Stream& socket() noexcept { return *s_; }

    template <class MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
        iovec iov[max_iov];
        const int n = gather(buffers, iov);
        ec = {};
        if (n == 0) return 0;
        return call(ec, [&] {
            const std::size_t got = s_->read_some(iov, n, read_deadline_);
            if (got == 0) ec = boost::asio::error::eof;
            return got;
        });
    }
    template <class MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& buffers) {
        boost::system::error_code ec;
        const std::size_t n = read_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }

    template <class ConstBufferSequence>
    std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
        iovec iov[max_iov];
        const int n = gather(buffers, iov);
        ec = {};
        if (n == 0) return 0;
        return call(ec, [&] { return s_->write_some(iov, n, write_deadline_); });
    }
    template <class ConstBufferSequence>
    std::size_t write_some(const ConstBufferSequence& buffers) {
        boost::system::error_code ec;
        const std::size_t n = write_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }

private:
    static constexpr int max_iov = 16;

    template <class Buffers>
    static int gather(const Buffers& buffers, iovec (&iov)[max_iov]) {
        int n = 0;
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != boost::asio::buffer_sequence_end(buffers) && n < max_iov; ++it) {
            const auto b = *it;
            if (b.size() == 0) continue;
            iov[n++] = iovec{const_cast<void*>(static_cast<const void*>(b.data())), b.size()};
        }
        return n;
    }

    template <class F>
    static std::size_t call(boost::system::error_code& ec, F&& f) {
        try {
            return f();
        } catch (const orm::TimeoutError&) {
            ec = boost::asio::error::timed_out;
        } catch (const orm::ConnectionError&) {
            ec = boost::asio::error::connection_reset;
        } catch (const orm::OperationalError&) {
            ec = boost::asio::error::broken_pipe;
        }
        return 0;
    }

    orm::net::Stream* s_;
    orm::Deadline read_deadline_ = orm::no_deadline;
    orm::Deadline write_deadline_ = orm::no_deadline;
};

}  // namespace order_service
