// orm::net: TCP and Unix-domain sockets with deadlines, the same calls in both modes.
//
// In sync mode (orm::set_async(false)) a call that must wait blocks the thread (poll(2) with the
// deadline). In async mode it waits through the fiber runtime (orm::wait_io): inside a fiber only
// that fiber is suspended; outside any fiber the call drives this thread's loop until it can go
// on, so other fibers keep running. The mode is read at each call. Sockets are always nonblocking
// underneath, so a deadline holds in either mode.
//
// Errors map into weft's hierarchy:
//   orm::TimeoutError      a deadline passed (names the operation, the peer and the time waited);
//   orm::ConnectionError   refused, reset, broken pipe, unreachable, name not found;
//   orm::OperationalError  anything else the system reports (out of descriptors, ...);
//   orm::InterfaceError    misuse: an operation on a closed socket, a bad address.
// A socket is used by one fiber (or thread) at a time per direction: one reader and one writer
// may wait on it at once.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/bridge/deadline.hpp"

namespace orm::net {

// A resolved socket address: IPv4, IPv6 or a Unix-domain path.
class Address {
public:
    Address() = default;
    Address(const sockaddr* sa, socklen_t len);
    // "unix:/run/app.sock" style addresses are made with unix_path(); an abstract-namespace
    // socket is a path starting with '@'.
    static Address unix_path(std::string_view path);
    // A numeric IPv4 or IPv6 address ("127.0.0.1", "::1", "[::1]") and a port; InterfaceError
    // when `host` is not numeric (use resolve()).
    static Address numeric(std::string_view host, std::uint16_t port);

    int family() const noexcept { return len_ == 0 ? AF_UNSPEC : int(storage_.ss_family); }
    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t size() const noexcept { return len_; }
    std::uint16_t port() const noexcept;   // 0 for Unix-domain addresses
    std::string to_string() const;         // "127.0.0.1:8080", "[::1]:443", "unix:/path"

private:
    sockaddr_storage storage_{};
    socklen_t len_ = 0;
};

// Resolves `host` (a name or a numeric address) for a TCP connection to `port`. Numeric
// addresses and "localhost" are answered at once; other names are looked up with glibc's
// getaddrinfo_a, so the lookup never blocks the loop and the deadline holds (a lookup still
// running at the deadline is cancelled or abandoned). ConnectionError when the name does not
// resolve, TimeoutError at the deadline.
std::vector<Address> resolve(std::string_view host, std::uint16_t port, Deadline deadline);

enum class Shutdown { read = SHUT_RD, write = SHUT_WR, both = SHUT_RDWR };

// A connected stream socket (TCP or Unix). Move-only; the destructor closes it.
class Stream {
public:
    Stream() = default;
    // Adopts a connected socket (made nonblocking and close-on-exec here).
    explicit Stream(int fd);
    Stream(Stream&& o) noexcept;
    Stream& operator=(Stream&& o) noexcept;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    ~Stream();

    // Resolves `host` and tries each address in turn until one connects, all within `deadline`
    // (TCP_NODELAY is set: requests and answers are small). ConnectionError names every address
    // tried and why each failed.
    static Stream connect(std::string_view host, std::uint16_t port, Deadline deadline);
    static Stream connect(const Address& address, Deadline deadline);
    static Stream connect_unix(std::string_view path, Deadline deadline);

    // Reads what is available, at least 1 byte, waiting for some until `deadline`; returns 0 only
    // at the end of the stream (the peer shut down its side) or when `size` is 0.
    std::size_t read_some(void* buffer, std::size_t size, Deadline deadline);
    std::size_t read_some(const iovec* buffers, int count, Deadline deadline);
    // Writes at least 1 byte (of a non-empty buffer), waiting for room until `deadline`.
    // Writing to a socket the peer has closed is a ConnectionError (never SIGPIPE).
    std::size_t write_some(const void* data, std::size_t size, Deadline deadline);
    std::size_t write_some(const iovec* buffers, int count, Deadline deadline);
    // Writes everything, or throws; on a TimeoutError part may have been written.
    void write_all(const void* data, std::size_t size, Deadline deadline);
    void write_all(std::string_view data, Deadline deadline) { write_all(data.data(), data.size(), deadline); }
    // Reads exactly `size` bytes; ConnectionError if the stream ends first.
    void read_exactly(void* buffer, std::size_t size, Deadline deadline);

    void shutdown(Shutdown how);  // ENOTCONN (peer already gone) is not an error
    void close() noexcept;
    bool is_open() const noexcept { return fd_ >= 0; }
    int native_handle() const noexcept { return fd_; }
    // Gives up ownership of the descriptor (the Stream is closed afterwards without closing it).
    int release() noexcept;

    Address local_address() const;
    Address peer_address() const;
    void set_nodelay(bool on);

private:
    friend class Listener;
    void check_open(const char* what) const;
    const std::string& peer_name() const;
    int fd_ = -1;
    std::uint64_t owner_ = 0;  // orm::new_io_owner(): the loop keeps the registration between waits
    mutable std::string peer_;  // for messages: known at connect/accept, so a reset socket still names it
};

// A listening socket. Move-only; the destructor closes it (and unlinks a Unix path it created).
class Listener {
public:
    Listener() = default;
    Listener(Listener&& o) noexcept;
    Listener& operator=(Listener&& o) noexcept;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    ~Listener();

    // Binds `host` (a numeric address; "" or "0.0.0.0" for every IPv4 interface, "::" for IPv6)
    // and `port` (0: the system picks one, see port()), with SO_REUSEADDR, and listens.
    static Listener bind(std::string_view host, std::uint16_t port, int backlog = 1024);
    // Binds a Unix-domain path; an existing socket file at `path` is replaced.
    static Listener bind_unix(std::string_view path, int backlog = 1024);

    // Waits for a connection until `deadline` and returns it (nonblocking, close-on-exec,
    // TCP_NODELAY for TCP). Out of descriptors (EMFILE/ENFILE) is an OperationalError that says
    // so and names the limit; the pending connection stays queued, so wait a little and retry.
    // Connections aborted before they were accepted are skipped.
    Stream accept(Deadline deadline);

    std::uint16_t port() const;  // the bound port (useful after binding port 0)
    Address local_address() const;
    int native_handle() const noexcept { return fd_; }
    bool is_open() const noexcept { return fd_ >= 0; }
    void close() noexcept;

private:
    int fd_ = -1;
    std::uint64_t owner_ = 0;
    std::string unix_path_;  // unlinked on close
};

}  // namespace orm::net
