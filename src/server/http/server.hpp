// The listening process: one event loop thread per configured thread, each with its own
// SO_REUSEPORT acceptor and its own Dispatcher; nothing shared on the request path.
#pragma once

#include <cstdint>
#include <memory>

#include "server/config/server_config.hpp"

namespace opencode_cache::server::http {

class Server {
 public:
  explicit Server(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds (throws std::system_error naming the address when it cannot) and starts the
  // threads. Port 0 picks a free port, the same for every thread.
  void start();
  std::uint16_t port() const;
  // Stops accepting, closes idle connections, lets running requests and streams finish up to
  // the drain deadline, then ends the threads. Callable from any thread, and more than once.
  void shutdown();
  // Waits until every thread has ended; false when the drain deadline (plus a grace) passed
  // first.
  bool wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opencode_cache::server::http
