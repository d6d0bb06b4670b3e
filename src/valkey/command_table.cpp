#include "command_table.hpp"

#include <algorithm>
#include <array>
#include <compare>
#include <cstdint>
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

// Command names are ASCII; std::toupper would consult the locale for every byte of every
// command.
constexpr char ascii_upper(char c) noexcept {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c;
}

// A command name of up to 16 bytes, upper-cased and packed big-endian into two words, so that
// comparing keys compares names: the lookup that runs for every command compares integers,
// not strings. Zero padding sorts a name before every longer name it begins.
struct NameKey {
  static constexpr std::size_t longest = 16;  // no name the tables hold is longer

  std::uint64_t high = 0;
  std::uint64_t low = 0;

  constexpr auto operator<=>(const NameKey&) const = default;
};

constexpr NameKey key_of(std::string_view name) noexcept {
  std::array<std::uint8_t, NameKey::longest> bytes{};
  for (std::size_t i = 0; i < name.size() && i < NameKey::longest; ++i) {
    bytes[i] = static_cast<std::uint8_t>(ascii_upper(name[i]));
  }
  NameKey key;
  for (std::size_t i = 0; i < 8; ++i) {
    key.high = (key.high << 8) | bytes[i];
    key.low = (key.low << 8) | bytes[i + 8];
  }
  return key;
}

template <std::size_t N>
constexpr std::array<NameKey, N> keys_of(const std::array<std::string_view, N>& names) {
  std::array<NameKey, N> keys{};
  for (std::size_t i = 0; i < N; ++i) keys[i] = key_of(names[i]);
  return keys;
}

// A NUL inside a name would read as the padding of a shorter name.
template <std::size_t N>
bool holds(const std::array<NameKey, N>& keys, std::string_view name) noexcept {
  return !name.empty() && name.size() <= NameKey::longest &&
         name.find('\0') == std::string_view::npos &&
         std::binary_search(keys.begin(), keys.end(), key_of(name));
}

constexpr auto read_only_keys = keys_of(read_only_commands);
static_assert(std::is_sorted(read_only_keys.begin(), read_only_keys.end()));

}  // namespace

bool is_read_only_command(std::string_view name) noexcept {
  return holds(read_only_keys, name);
}

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_upper(x) == ascii_upper(y);
         });
}

// Sorted, upper case: every name refusal_on_shared_connection looks at. Any other command
// passes with one lookup.
constexpr std::array<std::string_view, 30> names_with_rules = {
    "AUTH",   "BLMOVE",      "BLMPOP",   "BLPOP",      "BRPOP",     "BRPOPLPUSH",
    "BZMPOP", "BZPOPMAX",    "BZPOPMIN", "CLIENT",     "DISCARD",   "EXEC",
    "HELLO",  "MONITOR",     "MULTI",    "PSUBSCRIBE", "PSYNC",     "PUNSUBSCRIBE",
    "QUIT",   "RESET",       "SELECT",   "SSUBSCRIBE", "SUBSCRIBE", "SUNSUBSCRIBE",
    "SYNC",   "UNSUBSCRIBE", "WAIT",     "WAITAOF",    "XREAD",     "XREADGROUP",
};

constexpr auto names_with_rules_keys = keys_of(names_with_rules);
static_assert(std::is_sorted(names_with_rules_keys.begin(), names_with_rules_keys.end()));

bool has_rules(std::string_view name) noexcept {
  return holds(names_with_rules_keys, name);
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
  if (!has_rules(name)) return std::nullopt;
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
