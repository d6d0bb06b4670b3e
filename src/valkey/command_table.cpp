#include "opencode_cache/valkey/command_table.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace opencode_cache::valkey {
namespace {

// Sorted, upper case. Read-only commands of Valkey 8 that a cache client uses.
constexpr std::array<std::string_view, 52> read_only_commands = {
    "BITCOUNT",    "BITPOS",   "DBSIZE",  "DUMP",        "ECHO",          "EXISTS",
    "EXPIRETIME",  "GET",      "GETBIT",  "GETRANGE",    "HEXISTS",       "HGET",
    "HGETALL",     "HKEYS",    "HLEN",    "HMGET",       "HRANDFIELD",    "HSCAN",
    "HSTRLEN",     "HVALS",    "INFO",    "KEYS",        "LINDEX",        "LLEN",
    "LPOS",        "LRANGE",   "MGET",    "PEXPIRETIME", "PING",          "PTTL",
    "RANDOMKEY",   "SCAN",     "SCARD",   "SISMEMBER",   "SMEMBERS",      "SMISMEMBER",
    "SRANDMEMBER", "SSCAN",    "STRLEN",  "TIME",        "TTL",           "TYPE",
    "ZCARD",       "ZCOUNT",   "ZMSCORE", "ZRANGE",      "ZRANGEBYSCORE", "ZRANK",
    "ZREVRANGE",   "ZREVRANK", "ZSCAN",   "ZSCORE",
};

}  // namespace

bool is_read_only_command(std::string_view name) noexcept {
  constexpr std::size_t longest = 16;
  if (name.empty() || name.size() > longest) return false;
  std::array<char, longest> upper{};
  std::transform(name.begin(), name.end(), upper.begin(), [](char c) {
    return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  });
  const std::string_view key(upper.data(), name.size());
  return std::binary_search(read_only_commands.begin(), read_only_commands.end(), key);
}

}  // namespace opencode_cache::valkey
