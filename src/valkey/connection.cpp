#include "connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "opencode_cache/valkey/error.hpp"
#include "race.hpp"
#include "tls.hpp"

namespace opencode_cache::valkey {
namespace asio = boost::asio;
using asio::use_awaitable;

namespace {

constexpr auto no_throw = asio::as_tuple(use_awaitable);

void set_int_option(int fd, int level, int name, int value) {
  ::setsockopt(fd, level, name, &value, sizeof value);
}

// Commands are small and latency matters more than packet count: no Nagle delay. Keepalive
// probes find an idle connection whose peer vanished in seconds, not the kernel's two hours,
// and TCP_USER_TIMEOUT bounds how long written bytes may go unacknowledged (the default
// retransmits for about fifteen minutes).
void set_tcp_options(asio::generic::stream_protocol::socket& socket, const ClientConfig& config) {
  const int fd = socket.native_handle();
  set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, 5);
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, 2);
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
  if (config.tcp_user_timeout.count() > 0) {
    set_int_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT,
                   static_cast<int>(config.tcp_user_timeout.count()));
  }
}

[[noreturn]] void throw_io(const boost::system::error_code& ec, const std::string& what) {
  const errc code = detail::is_tls_error(ec) ? errc::tls_error : errc::io_error;
  throw Error(code, what + ": " + ec.message());
}

// A TCP close without TLS close_notify reads as stream_truncated: for the client it is the
// same news as EOF.
bool is_end_of_stream(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

bool is_reset(const boost::system::error_code& ec) {
  return ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

[[noreturn]] void throw_read_error(const boost::system::error_code& ec) {
  throw_io(ec, is_end_of_stream(ec) ? "the server closed the connection" : "read failed");
}

}  // namespace

// The context lives as long as the stream: each connection loads the files again, so that
// certificates renewed on disk are used from the next reconnect on.
struct Connection::Tls {
  Tls(asio::generic::stream_protocol::socket& socket, const TlsConfig& config)
      : context(detail::make_tls_context(config)), stream(socket, context) {}

  asio::ssl::context context;
  detail::TlsStream stream;
};

Connection::Connection(const asio::any_io_executor& executor, const resp::ParserLimits& limits)
    : socket_(executor), reader_(limits) {}

Connection::~Connection() = default;

template <class Operation>
auto Connection::on_stream(Operation operation) {
  return tls_ ? operation(tls_->stream) : operation(socket_);
}

asio::awaitable<void> Connection::connect_tcp(const ClientConfig& config) {
  boost::system::error_code ec;
  std::vector<asio::ip::tcp::endpoint> endpoints;
  const auto address = asio::ip::make_address(config.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, config.port);
  } else {
    asio::ip::tcp::resolver resolver(socket_.get_executor());
    auto [resolve_ec, results] =
        co_await resolver.async_resolve(config.host, std::to_string(config.port), no_throw);
    if (resolve_ec) throw_io(resolve_ec, "cannot resolve " + config.host);
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  boost::system::error_code last;
  for (const auto& endpoint : endpoints) {
    socket_.close(ec);
    auto [connect_ec] = co_await socket_.async_connect(endpoint, no_throw);
    if (!connect_ec) {
      set_tcp_options(socket_, config);
      co_return;
    }
    last = connect_ec;
  }
  throw_io(last, "cannot connect to " + config.endpoint());
}

asio::awaitable<void> Connection::handshake_tls(const ClientConfig& config) {
  const std::string name = detail::tls_server_name(config);
  detail::expect_server_name(tls_->stream, name, config.tls.verify_peer);
  auto [ec] = co_await tls_->stream.async_handshake(asio::ssl::stream_base::client, no_throw);
  if (ec) {
    // A server that drops the connection mid-handshake (restarting, say) is a network
    // failure that a retry may fix; tls_error is kept for what TLS itself refused.
    const errc code = detail::is_tls_error(ec) ? errc::tls_error : errc::io_error;
    throw Error(code, "TLS handshake with " + config.endpoint() +
                          " failed: " + detail::describe_handshake_failure(tls_->stream, ec, name));
  }
}

asio::awaitable<void> Connection::connect(const ClientConfig& config) {
  close();
  // Nothing is pending on the old session now: the caller's reads and writes have returned.
  tls_.reset();
  reader_.reset();
  if (config.tls.enabled) {
    // Valkey serves TLS on TCP only.
    if (!config.unix_path.empty()) {
      throw Error(errc::invalid_config,
                  "TLS is not supported over the Unix socket " + config.unix_path);
    }
    // Before connecting, so that an unreadable certificate fails without a server.
    tls_ = std::make_unique<Tls>(socket_, config.tls);
  }
  bool handshaking = false;
  auto attempt = [&]() -> asio::awaitable<void> {
    if (config.unix_path.empty()) {
      co_await connect_tcp(config);
      handshaking = tls_ != nullptr;
      if (tls_) co_await handshake_tls(config);
      co_return;
    }
    auto [ec] = co_await socket_.async_connect(
        asio::local::stream_protocol::endpoint(config.unix_path), no_throw);
    if (ec) throw_io(ec, "cannot connect to " + config.unix_path);
  };
  if (!co_await detail::finishes_within(attempt(), config.connect_timeout)) {
    close();
    const std::string limit = std::to_string(config.connect_timeout.count()) + " ms";
    // A plain Valkey port waits for the end of a command line that a ClientHello never
    // brings: TLS to the wrong port ends here, not in a handshake error.
    if (handshaking) {
      throw Error(errc::timeout, "no TLS handshake answer from " + config.endpoint() + " within " +
                                     limit + "; is TLS served on that port?");
    }
    throw Error(errc::timeout, "connecting to " + config.endpoint() + " took longer than " + limit);
  }
}

asio::awaitable<void> Connection::throw_if_tls_alert_arrived() {
  char byte = 0;
  auto [ec, n] = co_await tls_->stream.async_read_some(asio::buffer(&byte, 1), no_throw);
  if (ec && detail::is_tls_error(ec)) throw_io(ec, "the server ended the TLS session");
}

asio::awaitable<void> Connection::write(std::string_view bytes) {
  auto [ec, written] = co_await on_stream(
      [&](auto& stream) { return asio::async_write(stream, asio::buffer(bytes), no_throw); });
  if (ec) co_await fail_write(ec);
}

asio::awaitable<void> Connection::fail_write(const boost::system::error_code& ec) {
  // A server that rejects us once the TLS 1.3 handshake is over (no client certificate)
  // sends an alert and closes, and our next write meets the reset. Only a read shows the
  // alert that says why; on a reset connection it returns at once. A read already pending
  // will see the alert itself.
  if (tls_ && !reading_ && is_reset(ec)) co_await throw_if_tls_alert_arrived();
  throw_io(ec, "write failed");
}

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> Connection::read_into_reader() {
  const std::span<char> space = reader_.prepare();
  reading_ = true;
  return on_stream([&](auto& stream) {
    return stream.async_read_some(asio::buffer(space.data(), space.size()), no_throw);
  });
}

void Connection::take_read(const boost::system::error_code& ec, std::size_t n) {
  reading_ = false;
  if (ec) throw_read_error(ec);
  bytes_received_ += n;
  reader_.commit(n);
}

asio::awaitable<resp::Value> Connection::read_reply() {
  resp::Value reply;
  while (!reader_.next(reply)) {
    auto [ec, n] = co_await read_into_reader();
    take_read(ec, n);
  }
  co_return reply;
}

asio::awaitable<void> Connection::read_replies(std::vector<resp::Value>& out) {
  const std::size_t before = out.size();
  while (true) {
    resp::Value reply;
    while (reader_.next(reply)) out.push_back(std::move(reply));
    if (out.size() > before) co_return;
    auto [ec, n] = co_await read_into_reader();
    take_read(ec, n);
  }
}

// Without TLS close_notify: sending it would need a round trip, and Valkey treats a plain
// TCP close the same way.
void Connection::close() noexcept {
  boost::system::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace opencode_cache::valkey
