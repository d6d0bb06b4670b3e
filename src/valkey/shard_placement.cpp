#include "shard_placement.hpp"

#include <algorithm>

#include "cluster_slot.hpp"

namespace opencode_cache::valkey::detail {

void ShardPlacement::want(const std::string& channel) {
  channels_.try_emplace(channel);
}

void ShardPlacement::subscribed(const std::string& channel) {
  if (const auto it = channels_.find(channel); it != channels_.end()) {
    it->second.confirmed_before = true;
  }
}

std::optional<NodeAddress> ShardPlacement::forget(const std::string& channel) {
  const auto it = channels_.find(channel);
  if (it == channels_.end()) return std::nullopt;
  std::optional<NodeAddress> node = std::move(it->second.node);
  channels_.erase(it);
  return node;
}

void ShardPlacement::unplace(const std::string& channel) {
  if (const auto it = channels_.find(channel); it != channels_.end()) it->second.node.reset();
}

ShardPlacement::Move ShardPlacement::move_to(const std::string& channel, Where& where,
                                             const NodeAddress& to) {
  Move move{.channel = channel, .from = where.node, .to = to, .again = where.confirmed_before};
  where.node = to;
  return move;
}

std::optional<ShardPlacement::Move> ShardPlacement::redirect(const std::string& channel,
                                                             const NodeAddress& to) {
  const auto it = channels_.find(channel);
  if (it == channels_.end()) return std::nullopt;
  return move_to(channel, it->second, to);
}

std::vector<ShardPlacement::Move> ShardPlacement::place(const Topology& topology) {
  std::vector<Move> moves;
  const auto is_primary = [&](const NodeAddress& node) {
    return std::any_of(topology.shards.begin(), topology.shards.end(),
                       [&](const Shard& shard) { return shard.primary == node; });
  };
  for (auto& [channel, where] : channels_) {
    if (where.node && is_primary(*where.node)) continue;
    const auto shard = topology.slot_shard[static_cast<std::size_t>(key_slot(channel))];
    if (shard < 0) {
      where.node.reset();  // its node is gone and nobody serves the slot yet
      continue;
    }
    const NodeAddress& owner = topology.shards[static_cast<std::size_t>(shard)].primary;
    if (where.node == owner) continue;
    moves.push_back(move_to(channel, where, owner));
  }
  return moves;
}

std::optional<NodeAddress> ShardPlacement::node_of(const std::string& channel) const {
  const auto it = channels_.find(channel);
  return it == channels_.end() ? std::nullopt : it->second.node;
}

bool ShardPlacement::all_placed() const noexcept {
  return std::all_of(channels_.begin(), channels_.end(),
                     [](const auto& entry) { return entry.second.node.has_value(); });
}

std::size_t ShardPlacement::count_on(const NodeAddress& node) const {
  return static_cast<std::size_t>(
      std::count_if(channels_.begin(), channels_.end(),
                    [&](const auto& entry) { return entry.second.node == node; }));
}

}  // namespace opencode_cache::valkey::detail
