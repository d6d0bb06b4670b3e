#pragma once

// The TCP addresses a process listens on, read from /proc the way `ss -ltnp` does: the
// socket inodes among its file descriptors, looked up in /proc/net/tcp and tcp6.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace opencode_cache::testing {

struct ListeningSocket {
  std::string address;  // "127.0.0.1", "::1", "0.0.0.0", "::"...
  std::uint16_t port = 0;
  bool loopback = false;
};

std::vector<ListeningSocket> listening_sockets(pid_t pid);

}  // namespace opencode_cache::testing
