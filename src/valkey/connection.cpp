#include "opencode_cache/valkey/connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "opencode_cache/valkey/error.hpp"
#include "race.hpp"

namespace opencode_cache::valkey {
namespace asio = boost::asio;
using asio::use_awaitable;

namespace {

constexpr auto no_throw = asio::as_tuple(use_awaitable);

// Commands are small and latency matters more than packet count: no Nagle delay.
void set_tcp_options(asio::generic::stream_protocol::socket& socket) {
  const int on = 1;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
}

[[noreturn]] void throw_io(const boost::system::error_code& ec, const std::string& what) {
  throw Error(errc::io_error, what + ": " + ec.message());
}

}  // namespace

Connection::Connection(asio::any_io_executor executor, const resp::ParserLimits& limits)
    : socket_(std::move(executor)), reader_(limits) {}

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
      set_tcp_options(socket_);
      co_return;
    }
    last = connect_ec;
  }
  throw_io(last, "cannot connect to " + config.endpoint());
}

asio::awaitable<void> Connection::connect(const ClientConfig& config) {
  close();
  reader_.reset();
  auto attempt = [&]() -> asio::awaitable<void> {
    if (config.unix_path.empty()) {
      co_await connect_tcp(config);
      co_return;
    }
    auto [ec] = co_await socket_.async_connect(
        asio::local::stream_protocol::endpoint(config.unix_path), no_throw);
    if (ec) throw_io(ec, "cannot connect to " + config.unix_path);
  };
  if (!co_await detail::finishes_within(attempt(), config.connect_timeout)) {
    close();
    throw Error(errc::timeout, "connecting to " + config.endpoint() + " took longer than " +
                                   std::to_string(config.connect_timeout.count()) + " ms");
  }
}

asio::awaitable<void> Connection::write(std::string_view bytes) {
  auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(bytes), no_throw);
  if (ec) throw_io(ec, "write failed");
}

asio::awaitable<void> Connection::read_some() {
  const std::span<char> space = reader_.prepare();
  auto [ec, n] =
      co_await socket_.async_read_some(asio::buffer(space.data(), space.size()), no_throw);
  if (ec) throw_io(ec, ec == asio::error::eof ? "the server closed the connection" : "read failed");
  reader_.commit(n);
}

asio::awaitable<resp::Value> Connection::read_reply() {
  resp::Value reply;
  while (!reader_.next(reply)) co_await read_some();
  co_return reply;
}

asio::awaitable<void> Connection::read_replies(std::vector<resp::Value>& out) {
  const std::size_t before = out.size();
  while (true) {
    resp::Value reply;
    while (reader_.next(reply)) out.push_back(std::move(reply));
    if (out.size() > before) co_return;
    co_await read_some();
  }
}

void Connection::close() noexcept {
  boost::system::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace opencode_cache::valkey
