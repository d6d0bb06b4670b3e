// A private valkey-server for a benchmark: started on a free loopback port in a temporary
// directory, with no persistence, and stopped when the object goes away (or, should the
// benchmark die first, when the benchmark's process does).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace opencode_cache::bench {

class ValkeyProcess {
 public:
  // Starts valkey-server (looked up in PATH) and waits until it accepts connections.
  // Throws std::runtime_error, with the server's log, if it does not come up.
  ValkeyProcess();
  ~ValkeyProcess();
  ValkeyProcess(const ValkeyProcess&) = delete;
  ValkeyProcess& operator=(const ValkeyProcess&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  const std::string& host() const noexcept { return host_; }

 private:
  void spawn();
  void wait_until_ready();
  void stop() noexcept;
  std::string log_tail() const;

  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace opencode_cache::bench
