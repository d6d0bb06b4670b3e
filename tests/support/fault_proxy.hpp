#pragma once

// A TCP proxy between the client and a real valkey-server that can corrupt what the server
// sends: the store stays real, only the bytes on the wire are broken on purpose.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace opencode_cache::testing {

class FaultProxy {
 public:
  // Listens on a free loopback port and forwards every connection to upstream_port.
  explicit FaultProxy(std::uint16_t upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::uint16_t port() const { return port_; }
  // The next bytes from the server to a client are replaced by `bytes`.
  void corrupt_next_reply(std::string bytes);
  int connections_accepted() const { return accepted_.load(); }

 private:
  struct Shared;
  void accept_loop();

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t upstream_port_;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace opencode_cache::testing
