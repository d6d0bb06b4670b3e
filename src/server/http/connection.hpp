// One client connection: reads requests under the configured limits and timeouts, hands
// them to the handler, keeps the connection alive between them.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>

#include "server/config/server_config.hpp"
#include "server/http/handler.hpp"

namespace opencode_cache::server::http {

// The connections of one thread, so that a shutdown can close the idle ones at once and let
// the busy ones finish their request.
class ConnectionSet {
 public:
  struct Entry {
    std::function<void()> close_if_idle;
  };
  std::list<Entry>::iterator add(std::function<void()> close_if_idle);
  void remove(std::list<Entry>::iterator entry);
  std::size_t size() const noexcept { return size_; }
  void begin_drain();
  bool draining() const noexcept { return draining_; }

 private:
  std::list<Entry> entries_;
  std::size_t size_ = 0;
  bool draining_ = false;
};

struct ConnectionContext {
  const ServerConfig& config;
  Handler& handler;
  ConnectionSet& connections;
  std::function<std::string()> next_request_id;
};

Task<void> serve_connection(boost::asio::ip::tcp::socket socket, ConnectionContext& context);

// Answers 503 and closes: over the connection limit.
Task<void> refuse_connection(boost::asio::ip::tcp::socket socket);

}  // namespace opencode_cache::server::http
