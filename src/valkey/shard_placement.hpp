// Internal: on a cluster, which node each sharded channel (SSUBSCRIBE) of a Subscriber is
// subscribed on, sans I/O. A sharded channel lives on the primary of its hash slot. The node
// asked is the authority: it confirms, answers MOVED, or later drops the channel unasked
// when its slot leaves; the slot map is only the first guess. So the map moves a channel
// only when it has no node yet or its node is no longer a primary (failed over, removed),
// never away from a node that still serves it, which a map read from a lagging node could
// otherwise bounce it off and back. Each decision is a Move the Subscriber carries out.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster_topology.hpp"

namespace opencode_cache::valkey::detail {

class ShardPlacement {
 public:
  struct Move {
    std::string channel;
    std::optional<NodeAddress> from;  // where it was asked for; nullopt: nowhere yet
    NodeAddress to;
    // Confirmed somewhere before: messages published meanwhile may be lost.
    bool again = false;
  };

  // Unplaced until the next place().
  void want(const std::string& channel);
  // Its node confirmed it.
  void subscribed(const std::string& channel);
  // Wanted no more; the node it was on, if any.
  std::optional<NodeAddress> forget(const std::string& channel);
  // Its node dropped it (the slot left) or refused it for now (CLUSTERDOWN, TRYAGAIN):
  // placed again by the next place().
  void unplace(const std::string& channel);
  // A MOVED answer to its SSUBSCRIBE: straight to the node it names. nullopt when not wanted.
  std::optional<Move> redirect(const std::string& channel, const NodeAddress& to);
  // Each channel without a node, or on a node that is no longer a primary, goes to the
  // primary of its slot (none when no shard serves the slot: it waits for the next map).
  std::vector<Move> place(const Topology& topology);

  std::optional<NodeAddress> node_of(const std::string& channel) const;
  bool wanted(const std::string& channel) const { return channels_.contains(channel); }
  bool all_placed() const noexcept;
  std::size_t count_on(const NodeAddress& node) const;

 private:
  struct Where {
    std::optional<NodeAddress> node;
    bool confirmed_before = false;
  };
  Move move_to(const std::string& channel, Where& where, const NodeAddress& to);

  std::map<std::string, Where> channels_;
};

}  // namespace opencode_cache::valkey::detail
