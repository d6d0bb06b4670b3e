// Internal: the I/O edge of the client: one stream socket to Valkey (TCP, TCP with TLS, or Unix),
// with timeouts.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <cstdint>
#include <memory>
#include <string_view>
#include <tuple>
#include <vector>

#include "opencode_cache/valkey/client_config.hpp"
#include "reply_reader.hpp"

namespace opencode_cache::valkey {

class Connection {
 public:
  Connection(const boost::asio::any_io_executor& executor, const resp::ParserLimits& limits);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Resolves and connects, and with config.tls.enabled completes the TLS handshake, all
  // within config.connect_timeout. Throws Error(io_error or timeout), Error(tls_error) when
  // TLS cannot be set up or refuses the handshake (certificate verification included), and
  // Error(invalid_config) for TLS over a Unix socket.
  boost::asio::awaitable<void> connect(const ClientConfig& config);
  // Throws Error(io_error), or Error(tls_error) for a failure of the TLS layer.
  boost::asio::awaitable<void> write(std::string_view bytes);
  // Waits for bytes and returns the next whole reply. Throws Error(io_error) when the
  // connection ends, Error(tls_error) when the TLS layer fails (a server that requires a
  // client certificate says so only here under TLS 1.3) and Error(protocol_error) on
  // malformed replies.
  boost::asio::awaitable<resp::Value> read_reply();
  // Reads once and appends every whole reply that arrived to `out` (at least one).
  boost::asio::awaitable<void> read_replies(std::vector<resp::Value>& out);

  void close() noexcept;
  bool is_open() const noexcept { return socket_.is_open(); }
  // Bytes read over the connection's whole life: a reply still arriving is progress too.
  std::uint64_t bytes_received() const noexcept { return bytes_received_; }

 private:
  struct Tls;

  // One read into the reader's free space, and what to make of its outcome. Not one coroutine:
  // a frame per read would be an allocation on the path of every reply.
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_into_reader();
  void take_read(const boost::system::error_code& ec, std::size_t n);
  boost::asio::awaitable<void> connect_tcp(const ClientConfig& config);
  boost::asio::awaitable<void> handshake_tls(const ClientConfig& config);
  // Throws the error of a failed write, as write() documents.
  boost::asio::awaitable<void> fail_write(const boost::system::error_code& ec);
  // After a failed write: throws Error(tls_error) if the server's last word was a TLS alert.
  boost::asio::awaitable<void> throw_if_tls_alert_arrived();
  // Runs `operation` on the TLS stream when there is one, else on the plain socket.
  template <class Operation>
  auto on_stream(Operation operation);

  boost::asio::generic::stream_protocol::socket socket_;
  // Over socket_ while connected with TLS; kept after close() until the next connect(),
  // because a read or write may still be pending on it.
  std::unique_ptr<Tls> tls_;
  ReplyReader reader_;
  bool reading_ = false;  // a read_some is pending
  std::uint64_t bytes_received_ = 0;
};

}  // namespace opencode_cache::valkey
