#pragma once

// A TCP proxy between the client and a real valkey-server that can corrupt what the server
// sends, black-hole connections, add frames of its own and send new connections elsewhere:
// the store stays real, only the wire misbehaves on purpose.

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
  // `bytes` go to the client just before the next bytes from the server (a push frame, say).
  void prepend_to_next_reply(std::string bytes);
  // The connections open now stop forwarding in both directions and stay open, as a peer
  // gone without FIN or RST (a partition, a failover that moved the address) looks.
  // Connections accepted later forward as usual.
  void blackhole_open_connections();
  // Connections accepted from now on go to `port` (DNS moved to a new primary).
  void retarget(std::uint16_t port);
  int connections_accepted() const { return accepted_.load(); }

 private:
  struct Shared;
  void accept_loop();

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<std::uint16_t> upstream_port_;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace opencode_cache::testing
