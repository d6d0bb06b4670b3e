#include "cluster_routing.hpp"

#include <array>
#include <charconv>

#include "cluster_slot.hpp"
#include "command_table.hpp"

namespace opencode_cache::valkey::detail {
namespace {

// Upper-cased into a small buffer: the name of every command is looked at.
struct Name {
  std::array<char, 24> bytes{};
  std::size_t size = 0;
  explicit Name(std::string_view name) {
    size = name.size() < bytes.size() ? name.size() : bytes.size();
    for (std::size_t i = 0; i < size; ++i) {
      const char c = name[i];
      bytes[i] = c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c;
    }
  }
  std::string_view view() const { return {bytes.data(), size}; }
};

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  for (const auto candidate : names) {
    if (name == candidate) return true;
  }
  return false;
}

}  // namespace

Route route_of(const Command& command) {
  const Name upper(command.name());
  const std::string_view name = upper.view();
  // The hot path first: the commands of a cache.
  if (one_of(name, {"GET", "SET", "GETEX", "PTTL", "TTL", "EXPIRE", "PEXPIRE", "HGET", "HSET",
                    "INCR", "INCRBY", "ZADD", "ZCARD", "ZREMRANGEBYSCORE", "HGETALL", "HDEL"})) {
    return {};
  }
  if (one_of(name, {"MGET", "DEL", "UNLINK", "EXISTS", "TOUCH"})) return {Routing::split_keys, 1};
  if (name == "MSET") return {Routing::split_pairs, 1};
  if (one_of(name, {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})) {
    return {Routing::by_script_keys, 3};
  }
  if (one_of(name, {"FLUSHALL", "FLUSHDB"})) return {Routing::every_primary, 0};
  if (name == "SCRIPT") {
    const Name sub(command.argument(1));
    if (one_of(sub.view(), {"LOAD", "FLUSH"})) return {Routing::every_primary, 0};
    return {Routing::any_node, 0};
  }
  if (name == "FUNCTION") {
    const Name sub(command.argument(1));
    if (one_of(sub.view(), {"LOAD", "DELETE", "FLUSH", "RESTORE"})) {
      return {Routing::every_primary, 0};
    }
    return {Routing::any_node, 0};
  }
  if (name == "DBSIZE") return {Routing::sum_primaries, 0};
  if (name == "KEYS") return {Routing::concat_primaries, 0};
  if (name == "SCAN") return {Routing::scan, 0};
  if (one_of(name, {"OBJECT", "XINFO", "XGROUP"})) return {Routing::by_key, 2};
  if (name == "MEMORY") {
    const Name sub(command.argument(1));
    if (sub.view() == "USAGE") return {Routing::by_key, 2};
    return {Routing::any_node, 0};
  }
  if (one_of(name, {"PING",    "ECHO",     "INFO",      "TIME",     "CLUSTER", "CONFIG",  "CLIENT",
                    "COMMAND", "PUBLISH",  "RANDOMKEY", "LASTSAVE", "DEBUG",   "SLOWLOG", "LATENCY",
                    "ACL",     "ROLE",     "LOLWUT",    "SAVE",     "BGSAVE",  "PUBSUB",  "WAIT",
                    "WAITAOF", "READONLY", "READWRITE", "ASKING",   "HELLO",   "QUIT"})) {
    return {Routing::any_node, 0};
  }
  // SPUBLISH's channel hashes like a key, at 1.
  return {};
}

int command_slot(const Command& command, const Route& route) {
  if (route.routing == Routing::by_key) {
    if (command.argument_count() <= route.key_index) return no_slot;
    return key_slot(command.argument(route.key_index));
  }
  if (route.routing != Routing::by_script_keys) return no_slot;
  const std::string_view count_text = command.argument(2);
  std::size_t count = 0;
  auto [ptr, ec] = std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
  if (ec != std::errc{} || count == 0) return no_slot;
  int slot = no_slot;
  for (std::size_t i = 0; i < count && 3 + i < command.argument_count(); ++i) {
    const int next = key_slot(command.argument(3 + i));
    if (slot != no_slot && next != slot) return cross_slot;
    slot = next;
  }
  return slot;
}

bool may_read_from_replica(const Command& command) {
  const Name upper(command.name());
  const std::string_view name = upper.view();
  if (name == "SCAN") return false;
  return is_read_only_command(command.name()) ||
         one_of(name, {"EVAL_RO", "EVALSHA_RO", "FCALL_RO"});
}

}  // namespace opencode_cache::valkey::detail
