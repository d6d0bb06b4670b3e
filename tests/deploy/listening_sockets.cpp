#include "deploy/listening_sockets.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace opencode_cache::testing {
namespace {

constexpr std::string_view kListenState = "0A";

std::set<std::string> socket_inodes(pid_t pid) {
  std::set<std::string> inodes;
  std::error_code error;
  const auto fd_dir = std::filesystem::path("/proc") / std::to_string(pid) / "fd";
  for (const auto& entry : std::filesystem::directory_iterator(fd_dir, error)) {
    const std::string target = std::filesystem::read_symlink(entry.path(), error).string();
    if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  return inodes;
}

// /proc/net/tcp* print each 32-bit word of the address in host byte order, as hex.
std::array<std::uint32_t, 4> address_words(const std::string& hex) {
  std::array<std::uint32_t, 4> words{};
  for (std::size_t i = 0; i * 8 < hex.size() && i < words.size(); ++i) {
    words[i] = static_cast<std::uint32_t>(std::stoul(hex.substr(i * 8, 8), nullptr, 16));
  }
  return words;
}

ListeningSocket decode(const std::string& local, bool ipv6) {
  const auto colon = local.find(':');
  const auto words = address_words(local.substr(0, colon));
  ListeningSocket socket;
  socket.port = static_cast<std::uint16_t>(std::stoul(local.substr(colon + 1), nullptr, 16));
  char text[INET6_ADDRSTRLEN] = {};
  if (ipv6) {
    ::inet_ntop(AF_INET6, words.data(), text, sizeof text);
    socket.address = text;
    socket.loopback = socket.address == "::1";
  } else {
    ::inet_ntop(AF_INET, words.data(), text, sizeof text);
    socket.address = text;
    socket.loopback = socket.address.rfind("127.", 0) == 0;
  }
  return socket;
}

void collect(const char* table, bool ipv6, const std::set<std::string>& inodes,
             std::vector<ListeningSocket>& out) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
        timeout >> inode;
    if (state == kListenState && inodes.count(inode) != 0) out.push_back(decode(local, ipv6));
  }
}

}  // namespace

std::vector<ListeningSocket> listening_sockets(pid_t pid) {
  const auto inodes = socket_inodes(pid);
  std::vector<ListeningSocket> sockets;
  collect("/proc/net/tcp", false, inodes, sockets);
  collect("/proc/net/tcp6", true, inodes, sockets);
  return sockets;
}

}  // namespace opencode_cache::testing
