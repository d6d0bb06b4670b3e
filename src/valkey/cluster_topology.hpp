// Internal: who serves which hash slot, read from CLUSTER SHARDS (Valkey 7+) or CLUSTER SLOTS,
// and what a MOVED or ASK redirection says. Plain functions over replies: no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster_slot.hpp"
#include "opencode_cache/valkey/resp_value.hpp"

namespace opencode_cache::valkey::detail {

struct NodeAddress {
  std::string host;
  std::uint16_t port = 0;

  std::string endpoint() const { return host + ":" + std::to_string(port); }
  friend bool operator==(const NodeAddress&, const NodeAddress&) = default;
};

struct Shard {
  NodeAddress primary;
  std::vector<NodeAddress> replicas;  // healthy ones only
};

struct Topology {
  std::vector<Shard> shards;
  // Index into shards for every slot; -1 where no shard serves it.
  std::array<std::int16_t, cluster_slots> slot_shard{};

  Topology() { slot_shard.fill(-1); }
  bool covers_every_slot() const noexcept;
};

// `fallback_host` stands for a node announced without an address ("" or "?": the node we
// asked). nullopt when the reply has not the expected shape.
std::optional<Topology> parse_cluster_shards(const resp::Value& reply,
                                             std::string_view fallback_host);
std::optional<Topology> parse_cluster_slots(const resp::Value& reply,
                                            std::string_view fallback_host);

// "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381".
struct Redirection {
  enum class Kind : std::uint8_t { moved, ask };
  Kind kind;
  int slot;
  NodeAddress target;
};
std::optional<Redirection> parse_redirection(std::string_view error,
                                             std::string_view fallback_host);

}  // namespace opencode_cache::valkey::detail
