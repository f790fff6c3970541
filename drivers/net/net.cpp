// orm::net: sockets with deadlines over poll(2) in sync mode and orm::wait_io in async mode.
#include "drivers/net/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "drivers/bridge/detail/wait_blocking.hpp"
#include "drivers/bridge/mode.hpp"
#include "drivers/bridge/wait.hpp"
#include "drivers/bridge/wait_queue.hpp"
#include "drivers/errors.hpp"

namespace orm::net {
namespace {

using Clock = std::chrono::steady_clock;

std::string elapsed_ms(Clock::time_point since) {
    return fmt::format("{} ms", std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

std::string descriptor_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return "unknown";
    return rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : std::to_string(rl.rlim_cur);
}

// The error for a failed system call on a socket: misuse, connection trouble, or the rest.
[[noreturn]] void throw_errno(int err, std::string_view what) {
    const std::string message = fmt::format("{}: {}", what, std::strerror(err));
    switch (err) {
        case ECONNREFUSED:
        case ECONNRESET:
        case ECONNABORTED:
        case EPIPE:
        case ENOTCONN:
        case ESHUTDOWN:
        case ENETUNREACH:
        case ENETDOWN:
        case EHOSTUNREACH:
        case EHOSTDOWN:
        case ETIMEDOUT:  // the kernel gave up on the peer (TCP retransmission or keep-alive)
        case ENOENT:     // a Unix socket path that does not exist
            throw ConnectionError(message);
        case EMFILE:
        case ENFILE:
            throw OperationalError(fmt::format(
                "{}: out of file descriptors ({}; this process may open {}, see ulimit -n / "
                "RLIMIT_NOFILE): close idle connections or raise the limit",
                what, std::strerror(err), descriptor_limit()));
        case EBADF:
        case ENOTSOCK:
        case EINVAL:
        case EAFNOSUPPORT:
            throw InterfaceError(message);
        default:
            throw OperationalError(message);
    }
}

// Waits until `fd` is ready for `io`: poll(2) in sync mode, the fiber runtime in async mode.
// `what` describes the operation for the timeout's message ("reading from 127.0.0.1:80").
template <class Describe>
void wait_ready(int fd, Io io, Deadline deadline, std::uint64_t owner, Describe what) {
    const auto start = Clock::now();
    try {
        if (is_async())
            wait_io(fd, io, deadline, owner);
        else
            detail::wait_io_blocking(fd, io, deadline);
    } catch (const TimeoutError&) {
        throw TimeoutError(fmt::format("{} timed out after {}", what(), elapsed_ms(start)));
    }
}

// Runs the nonblocking system call `op` until it transfers something (or reports the end),
// waiting for `io` readiness whenever it would block. `what` names the operation for errors.
template <class Op, class Describe>
std::size_t transfer(int fd, std::uint64_t owner, Io io, Deadline deadline, Op op, Describe what) {
    for (;;) {
        const ssize_t n = op();
        if (n >= 0) return std::size_t(n);
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            const int err = errno;  // before what(), whose getpeername may change errno
            throw_errno(err, what());
        }
        wait_ready(fd, io, deadline, owner, what);
    }
}

std::size_t iov_bytes(const iovec* buffers, int count) {
    std::size_t total = 0;
    for (int i = 0; i < count; ++i) total += buffers[i].iov_len;
    return total;
}

void sleep_briefly(std::chrono::milliseconds d) {
    if (is_async())
        orm::sleep_for(d);
    else
        std::this_thread::sleep_for(d);
}

std::string strip_brackets(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return std::string(host);
}

bool parse_numeric(std::string_view host, std::uint16_t port, Address& out) {
    const std::string h = strip_brackets(host);
    sockaddr_in v4{};
    if (::inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        out = Address(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
        return true;
    }
    sockaddr_in6 v6{};
    if (::inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        out = Address(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
        return true;
    }
    return false;
}

int new_socket(int family, std::string_view what) {
    const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw_errno(errno, fmt::format("{}: socket", what));
    return fd;
}

void set_nodelay_fd(int fd) {
    const int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Address sock_name(int fd, bool peer) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                        : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (rc != 0) throw_errno(errno, peer ? "getpeername" : "getsockname");
    return Address(reinterpret_cast<const sockaddr*>(&ss), len);
}

// The peer's address for messages, without throwing (a reset socket has none).
std::string peer_text(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return fmt::format("socket {}", fd);
    return Address(reinterpret_cast<const sockaddr*>(&ss), len).to_string();
}

// One getaddrinfo_a lookup. Shared by the caller and glibc's notification thread: whichever is
// last releases it, so a caller that gives up at its deadline leaves nothing dangling.
struct Lookup {
    std::string host, service;
    addrinfo hints{};
    gaicb request{};
    Event done;
    ~Lookup() {
        if (request.ar_result) ::freeaddrinfo(request.ar_result);
    }
};

void lookup_finished(sigval v) {
    auto* holder = static_cast<std::shared_ptr<Lookup>*>(v.sival_ptr);
    (*holder)->done.set();
    delete holder;
}

}  // namespace

// ---- Address ----------------------------------------------------------------------------------

Address::Address(const sockaddr* sa, socklen_t len) {
    if (len > sizeof storage_) throw InterfaceError(fmt::format("socket address of {} bytes is too long", len));
    std::memcpy(&storage_, sa, len);
    len_ = len;
}

Address Address::unix_path(std::string_view path) {
    sockaddr_un un{};
    if (path.empty() || path.size() >= sizeof un.sun_path)
        throw InterfaceError(fmt::format(
            "Unix socket path '{}' is {} bytes long: a path must have 1 to {} bytes", path, path.size(),
            sizeof un.sun_path - 1));
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.data(), path.size());
    if (path.front() == '@') un.sun_path[0] = '\0';  // abstract namespace
    return Address(reinterpret_cast<const sockaddr*>(&un),
                   socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + (path.front() == '@' ? 0 : 1)));
}

Address Address::numeric(std::string_view host, std::uint16_t port) {
    Address a;
    if (!parse_numeric(host, port, a))
        throw InterfaceError(fmt::format(
            "'{}' is not a numeric IPv4 or IPv6 address (like 127.0.0.1 or ::1): resolve names "
            "with orm::net::resolve()",
            host));
    return a;
}

std::uint16_t Address::port() const noexcept {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    return 0;
}

std::string Address::to_string() const {
    char text[INET6_ADDRSTRLEN] = {};
    switch (family()) {
        case AF_INET:
            ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text, sizeof text);
            return fmt::format("{}:{}", text, port());
        case AF_INET6:
            ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text, sizeof text);
            return fmt::format("[{}]:{}", text, port());
        case AF_UNIX: {
            const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
            const std::size_t n = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
            if (n == 0) return "unix:(unnamed)";
            if (un->sun_path[0] == '\0') return "unix:@" + std::string(un->sun_path + 1, n - 1);
            return "unix:" + std::string(un->sun_path, ::strnlen(un->sun_path, n));
        }
        default:
            return "(no address)";
    }
}

// ---- resolve ----------------------------------------------------------------------------------

std::vector<Address> resolve(std::string_view host, std::uint16_t port, Deadline deadline) {
    Address numeric;
    if (parse_numeric(host, port, numeric)) return {numeric};
    if (host.empty() || host == "localhost")
        return {Address::numeric("127.0.0.1", port), Address::numeric("::1", port)};

    auto lookup = std::make_shared<Lookup>();
    lookup->host = std::string(host);
    lookup->service = std::to_string(port);
    lookup->hints.ai_family = AF_UNSPEC;
    lookup->hints.ai_socktype = SOCK_STREAM;
    lookup->hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    lookup->request.ar_name = lookup->host.c_str();
    lookup->request.ar_service = lookup->service.c_str();
    lookup->request.ar_request = &lookup->hints;
    auto* holder = new std::shared_ptr<Lookup>(lookup);
    sigevent notify{};
    notify.sigev_notify = SIGEV_THREAD;
    notify.sigev_notify_function = lookup_finished;
    notify.sigev_value.sival_ptr = holder;
    gaicb* list[1] = {&lookup->request};
    if (const int rc = ::getaddrinfo_a(GAI_NOWAIT, list, 1, &notify); rc != 0) {
        delete holder;
        throw OperationalError(fmt::format("resolving '{}': getaddrinfo_a: {}", host, ::gai_strerror(rc)));
    }
    const auto start = Clock::now();
    if (!lookup->done.wait_until(deadline)) {
        // A request not yet started is removed (no notification will come); one already running
        // notifies later, and the notification releases its share.
        if (::gai_cancel(&lookup->request) == EAI_CANCELED) delete holder;
        throw TimeoutError(fmt::format("resolving '{}' timed out after {}", host, elapsed_ms(start)));
    }
    const int rc = ::gai_error(&lookup->request);
    if (rc != 0)
        throw ConnectionError(fmt::format("resolving '{}': {}", host, rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc)));
    std::vector<Address> out;
    for (const addrinfo* ai = lookup->request.ar_result; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) out.emplace_back(ai->ai_addr, ai->ai_addrlen);
    if (out.empty()) throw ConnectionError(fmt::format("resolving '{}': no IPv4 or IPv6 address", host));
    return out;
}

// ---- Stream -----------------------------------------------------------------------------------

Stream::Stream(int fd) : fd_(fd), owner_(new_io_owner()) {
    if (fd < 0) throw InterfaceError(fmt::format("orm::net::Stream: invalid file descriptor {}", fd));
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) throw_errno(errno, fmt::format("orm::net::Stream: adopting fd {}", fd));
    if (!(flags & O_NONBLOCK)) (void)::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

Stream::Stream(Stream&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), owner_(std::exchange(o.owner_, 0)), peer_(std::move(o.peer_)) {
    o.peer_.clear();
}

Stream& Stream::operator=(Stream&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = std::exchange(o.fd_, -1);
        owner_ = std::exchange(o.owner_, 0);
        peer_ = std::move(o.peer_);
        o.peer_.clear();
    }
    return *this;
}

const std::string& Stream::peer_name() const {
    if (peer_.empty()) peer_ = peer_text(fd_);
    return peer_;
}

Stream::~Stream() { close(); }

void Stream::close() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    owner_ = 0;
}

int Stream::release() noexcept {
    owner_ = 0;
    return std::exchange(fd_, -1);
}

void Stream::check_open(const char* what) const {
    if (fd_ < 0) throw InterfaceError(fmt::format("orm::net::Stream::{}() on a closed socket", what));
}

Stream Stream::connect(const Address& address, Deadline deadline) {
    const std::string what = fmt::format("connecting to {}", address.to_string());
    for (;;) {
        Stream s(new_socket(address.family(), what));
        s.peer_ = address.to_string();
        if (::connect(s.fd_, address.data(), address.size()) == 0) {
            if (address.family() != AF_UNIX) set_nodelay_fd(s.fd_);
            return s;
        }
        const int err = errno;
        if (err == EAGAIN && address.family() == AF_UNIX) {  // the listener's backlog is full
            if (Clock::now() >= deadline)
                throw TimeoutError(fmt::format("{} timed out: its backlog stayed full", what));
            sleep_briefly(std::chrono::milliseconds(1));
            continue;
        }
        if (err != EINPROGRESS && err != EINTR) throw_errno(err, what);
        wait_ready(s.fd_, Io::writable, deadline, s.owner_, [&] { return what; });
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (::getsockopt(s.fd_, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) throw_errno(errno, what);
        if (so_error != 0) throw_errno(so_error, what);
        if (address.family() != AF_UNIX) set_nodelay_fd(s.fd_);
        return s;
    }
}

Stream Stream::connect(std::string_view host, std::uint16_t port, Deadline deadline) {
    const std::vector<Address> addresses = resolve(host, port, deadline);
    std::string failures;
    for (const Address& a : addresses) {
        try {
            return connect(a, deadline);
        } catch (const TimeoutError&) {
            throw;  // the deadline covers every attempt
        } catch (const ConnectionError& e) {
            failures += fmt::format("{}{}", failures.empty() ? "" : "; ", e.what());
        }
    }
    throw ConnectionError(fmt::format("cannot connect to {}:{}: {}", host, port, failures));
}

Stream Stream::connect_unix(std::string_view path, Deadline deadline) {
    return connect(Address::unix_path(path), deadline);
}

std::size_t Stream::read_some(void* buffer, std::size_t size, Deadline deadline) {
    check_open("read_some");
    if (size == 0) return 0;
    return transfer(
        fd_, owner_, Io::readable, deadline, [&] { return ::recv(fd_, buffer, size, 0); },
        [&] { return fmt::format("reading from {}", peer_name()); });
}

std::size_t Stream::read_some(const iovec* buffers, int count, Deadline deadline) {
    check_open("read_some");
    if (iov_bytes(buffers, count) == 0) return 0;
    return transfer(
        fd_, owner_, Io::readable, deadline, [&] { return ::readv(fd_, buffers, count); },
        [&] { return fmt::format("reading from {}", peer_name()); });
}

std::size_t Stream::write_some(const void* data, std::size_t size, Deadline deadline) {
    check_open("write_some");
    if (size == 0) return 0;
    return transfer(
        fd_, owner_, Io::writable, deadline, [&] { return ::send(fd_, data, size, MSG_NOSIGNAL); },
        [&] { return fmt::format("writing to {}", peer_name()); });
}

std::size_t Stream::write_some(const iovec* buffers, int count, Deadline deadline) {
    check_open("write_some");
    if (iov_bytes(buffers, count) == 0) return 0;
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(buffers);
    msg.msg_iovlen = std::size_t(count);
    return transfer(
        fd_, owner_, Io::writable, deadline, [&] { return ::sendmsg(fd_, &msg, MSG_NOSIGNAL); },
        [&] { return fmt::format("writing to {}", peer_name()); });
}

void Stream::write_all(const void* data, std::size_t size, Deadline deadline) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const std::size_t n = write_some(p, size, deadline);
        p += n;
        size -= n;
    }
}

void Stream::read_exactly(void* buffer, std::size_t size, Deadline deadline) {
    char* p = static_cast<char*>(buffer);
    std::size_t got = 0;
    while (got < size) {
        const std::size_t n = read_some(p + got, size - got, deadline);
        if (n == 0)
            throw ConnectionError(fmt::format("reading from {}: the stream ended after {} of {} bytes",
                                              peer_name(), got, size));
        got += n;
    }
}

void Stream::shutdown(Shutdown how) {
    check_open("shutdown");
    if (::shutdown(fd_, int(how)) != 0 && errno != ENOTCONN) {
        const int err = errno;
        throw_errno(err, fmt::format("shutting down {}", peer_name()));
    }
}

Address Stream::local_address() const {
    check_open("local_address");
    return sock_name(fd_, false);
}

Address Stream::peer_address() const {
    check_open("peer_address");
    return sock_name(fd_, true);
}

void Stream::set_nodelay(bool on) {
    check_open("set_nodelay");
    const int v = on ? 1 : 0;
    if (::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) throw_errno(errno, "setsockopt(TCP_NODELAY)");
}

// ---- Listener ---------------------------------------------------------------------------------

Listener::Listener(Listener&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), owner_(std::exchange(o.owner_, 0)), unix_path_(std::move(o.unix_path_)) {
    o.unix_path_.clear();
}

Listener& Listener::operator=(Listener&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = std::exchange(o.fd_, -1);
        owner_ = std::exchange(o.owner_, 0);
        unix_path_ = std::move(o.unix_path_);
        o.unix_path_.clear();
    }
    return *this;
}

Listener::~Listener() { close(); }

void Listener::close() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    if (!unix_path_.empty()) {
        (void)::unlink(unix_path_.c_str());
        unix_path_.clear();
    }
    owner_ = 0;
}

Listener Listener::bind(std::string_view host, std::uint16_t port, int backlog) {
    Address address;
    if (host.empty() || host == "*")
        address = Address::numeric("0.0.0.0", port);
    else if (host == "localhost")
        address = Address::numeric("127.0.0.1", port);
    else
        address = Address::numeric(host, port);
    const std::string what = fmt::format("listening on {}", address.to_string());
    Listener l;
    l.fd_ = new_socket(address.family(), what);
    l.owner_ = new_io_owner();
    const int one = 1;
    (void)::setsockopt(l.fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(l.fd_, address.data(), address.size()) != 0) throw_errno(errno, what);
    if (::listen(l.fd_, backlog) != 0) throw_errno(errno, what);
    return l;
}

Listener Listener::bind_unix(std::string_view path, int backlog) {
    const Address address = Address::unix_path(path);
    const std::string what = fmt::format("listening on {}", address.to_string());
    const std::string file(path);
    if (path.front() != '@') {
        struct stat st{};
        if (::lstat(file.c_str(), &st) == 0) {
            if (!S_ISSOCK(st.st_mode))
                throw InterfaceError(fmt::format("{}: '{}' exists and is not a socket; refusing to replace it", what, file));
            (void)::unlink(file.c_str());
        }
    }
    Listener l;
    l.fd_ = new_socket(AF_UNIX, what);
    l.owner_ = new_io_owner();
    if (::bind(l.fd_, address.data(), address.size()) != 0) throw_errno(errno, what);
    if (path.front() != '@') l.unix_path_ = file;
    if (::listen(l.fd_, backlog) != 0) throw_errno(errno, what);
    return l;
}

Stream Listener::accept(Deadline deadline) {
    if (fd_ < 0) throw InterfaceError("orm::net::Listener::accept() on a closed listener");
    for (;;) {
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof peer;
        const int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            Stream s(fd);
            if (peer.ss_family != AF_UNIX) {
                set_nodelay_fd(fd);
                s.peer_ = Address(reinterpret_cast<const sockaddr*>(&peer), peer_len).to_string();
            }  // a Unix peer is usually unnamed: peer_name() asks when a message needs it
            return s;
        }
        const int err = errno;
        switch (err) {
            case EINTR:
            case ECONNABORTED:  // gone before we took it
            case EPROTO:
            case ENETDOWN:
            case ENOPROTOOPT:
            case EHOSTDOWN:
            case ENONET:
            case EHOSTUNREACH:
            case EOPNOTSUPP:
            case ENETUNREACH:
                continue;
            case EAGAIN:
                wait_ready(fd_, Io::readable, deadline, owner_,
                           [&] { return fmt::format("accepting on {}", local_address().to_string()); });
                continue;
            default:
                throw_errno(err, fmt::format("accepting on {}", local_address().to_string()));
        }
    }
}

std::uint16_t Listener::port() const { return local_address().port(); }

Address Listener::local_address() const {
    if (fd_ < 0) throw InterfaceError("orm::net::Listener: the listener is closed");
    return sock_name(fd_, false);
}

}  // namespace orm::net
