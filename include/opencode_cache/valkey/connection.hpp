// The I/O edge of the client: one stream socket to Valkey, TCP or Unix, with timeouts.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <string_view>

#include "opencode_cache/valkey/client_config.hpp"
#include "opencode_cache/valkey/reply_reader.hpp"

namespace opencode_cache::valkey {

class Connection {
 public:
  Connection(boost::asio::any_io_executor executor, const resp::ParserLimits& limits);

  // Resolves and connects within config.connect_timeout. Throws Error(io_error or timeout).
  boost::asio::awaitable<void> connect(const ClientConfig& config);
  boost::asio::awaitable<void> write(std::string_view bytes);
  // Waits for bytes and returns the next whole reply. Throws Error(io_error) when the
  // connection ends and Error(protocol_error) on malformed replies.
  boost::asio::awaitable<resp::Value> read_reply();
  // Reads once and appends every whole reply that arrived to `out` (at least one).
  boost::asio::awaitable<void> read_replies(std::vector<resp::Value>& out);

  void close() noexcept;
  bool is_open() const noexcept { return socket_.is_open(); }

 private:
  boost::asio::awaitable<void> read_some();
  boost::asio::awaitable<void> connect_tcp(const ClientConfig& config);

  boost::asio::generic::stream_protocol::socket socket_;
  ReplyReader reader_;
};

}  // namespace opencode_cache::valkey
