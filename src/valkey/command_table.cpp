#include "command_table.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

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

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

// Name, and what to use instead.
constexpr std::array<std::pair<std::string_view, std::string_view>, 16> connection_state_commands =
    {{
        {"SELECT", "set ClientConfig::database (VALKEY_DB): a reconnect would undo a SELECT"},
        {"HELLO", "set ClientConfig::protocol; the client says HELLO itself on every connection"},
        {"AUTH",
         "set ClientConfig::username and password; the client authenticates every connection"},
        {"RESET", "close the Client and make a new one"},
        {"QUIT", "call Client::quit()"},
        {"MONITOR", "use valkey-cli monitor: it takes the connection over"},
        {"SUBSCRIBE", "use valkey::Subscriber, which owns a connection for pub/sub"},
        {"PSUBSCRIBE", "use valkey::Subscriber, which owns a connection for pub/sub"},
        {"SSUBSCRIBE", "use valkey::Subscriber, which owns a connection for pub/sub"},
        {"UNSUBSCRIBE", "use valkey::Subscriber, which owns a connection for pub/sub"},
        {"PUNSUBSCRIBE", "use valkey::Subscriber, which owns a connection for pub/sub"},
        {"SUNSUBSCRIBE", "use valkey::Subscriber, which owns a connection for pub/sub"},
        {"MULTI", "use Client::transaction(), which writes MULTI ... EXEC together"},
        {"EXEC", "use Client::transaction(), which writes MULTI ... EXEC together"},
        {"DISCARD", "use Client::transaction(), which writes MULTI ... EXEC together"},
        {"SYNC", "replication streams are not for a command client"},
    }};

constexpr std::array<std::string_view, 11> blocking_commands = {
    "BLPOP",    "BRPOP",  "BRPOPLPUSH", "BLMOVE",  "BLMPOP", "BZPOPMIN",
    "BZPOPMAX", "BZMPOP", "WAIT",       "WAITAOF", "PSYNC",
};

bool has_block_option(const Command& command) {
  for (std::size_t i = 1; i < command.argument_count(); ++i) {
    if (equals_ignoring_case(command.argument(i), "BLOCK")) return true;
  }
  return false;
}

std::string refused(std::string_view what, std::string_view instead) {
  return std::string(what) + " is not sent on a shared connection: " + std::string(instead);
}

bool is_transaction_command(std::string_view name) {
  return equals_ignoring_case(name, "MULTI") || equals_ignoring_case(name, "EXEC") ||
         equals_ignoring_case(name, "DISCARD");
}

}  // namespace

std::optional<std::string> refusal_in_pipeline(const std::vector<Command>& commands,
                                               bool dedicated) {
  bool in_multi = false;
  for (const Command& command : commands) {
    const std::string_view name = command.name();
    if (!is_transaction_command(name)) {
      if (auto refusal = refusal_on_shared_connection(command, dedicated)) return refusal;
      continue;
    }
    const bool opens = equals_ignoring_case(name, "MULTI");
    if (opens == in_multi) {
      return std::string(name) + (opens ? " inside a MULTI" : " without a MULTI") +
             " in a pipeline would leave the connection out of step: close every MULTI with "
             "EXEC or DISCARD in the same pipeline, or use Client::transaction()";
    }
    in_multi = opens;
  }
  if (in_multi) {
    return std::string(
        "a pipeline that ends inside MULTI would leave the shared connection in a "
        "transaction: end it with EXEC or DISCARD, or use Client::transaction()");
  }
  return std::nullopt;
}

std::optional<std::string> refusal_on_shared_connection(const Command& command, bool dedicated) {
  const std::string_view name = command.name();
  for (const auto& [refused_name, instead] : connection_state_commands) {
    if (equals_ignoring_case(name, refused_name)) return refused(refused_name, instead);
  }
  if (equals_ignoring_case(name, "CLIENT")) {
    const std::string_view sub = command.argument(1);
    if (equals_ignoring_case(sub, "REPLY")) {
      return refused("CLIENT REPLY", "replies would fall out of step with commands");
    }
    if (equals_ignoring_case(sub, "TRACKING")) {
      return refused("CLIENT TRACKING", "a reconnect would silently turn it off");
    }
    if (equals_ignoring_case(sub, "SETNAME")) {
      return refused("CLIENT SETNAME", "set ClientConfig::client_name, sent on every connection");
    }
    return std::nullopt;
  }
  if (dedicated) return std::nullopt;
  const bool blocks =
      std::any_of(
          blocking_commands.begin(), blocking_commands.end(),
          [&](std::string_view blocking) { return equals_ignoring_case(name, blocking); }) ||
      ((equals_ignoring_case(name, "XREAD") || equals_ignoring_case(name, "XREADGROUP")) &&
       has_block_option(command));
  if (blocks) {
    return std::string(name) +
           " blocks the connection, and with it every caller sharing it: send it on a Client "
           "of its own with ClientConfig::dedicated = true";
  }
  return std::nullopt;
}

}  // namespace opencode_cache::valkey
