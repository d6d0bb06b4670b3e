// Where a Subscriber's sharded channels go on a cluster, as plain decisions: the slot map
// places channels without a node and moves those whose node stopped being a primary, never
// those on a node that still serves (the node itself redirects or drops them); MOVED and a
// drop by the server move them; `again` says whether messages may have been lost.

#include "valkey/shard_placement.hpp"

#include <gtest/gtest.h>

#include "valkey/cluster_slot.hpp"

namespace opencode_cache::testing {
namespace {

using valkey::detail::key_slot;
using valkey::detail::NodeAddress;
using valkey::detail::ShardPlacement;
using valkey::detail::Topology;

NodeAddress node(std::uint16_t port) {
  return {"127.0.0.1", port};
}

// Slots [0, 8192) on the first primary, the rest on the second.
Topology two_shards(NodeAddress first, NodeAddress second) {
  Topology topology;
  topology.shards.push_back({.primary = first});
  topology.shards.push_back({.primary = second});
  for (int slot = 0; slot < valkey::detail::cluster_slots; ++slot) {
    topology.slot_shard[static_cast<std::size_t>(slot)] = slot < 8192 ? 0 : 1;
  }
  return topology;
}

// "foo" hashes to 12182 (the second half), "bar" to 5061 (the first).
TEST(ShardPlacement, TheMapPlacesEachChannelOnThePrimaryOfItsSlot) {
  ASSERT_EQ(key_slot("foo"), 12182);
  ASSERT_EQ(key_slot("bar"), 5061);
  ShardPlacement placement;
  placement.want("foo");
  placement.want("bar");
  EXPECT_FALSE(placement.all_placed());
  const auto moves = placement.place(two_shards(node(1), node(2)));
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].channel, "bar");  // in name order
  EXPECT_EQ(moves[0].to, node(1));
  EXPECT_FALSE(moves[0].from.has_value());
  EXPECT_FALSE(moves[0].again);
  EXPECT_EQ(moves[1].to, node(2));
  EXPECT_TRUE(placement.all_placed());
  EXPECT_EQ(placement.count_on(node(1)), 1u);
  EXPECT_TRUE(placement.place(two_shards(node(1), node(2))).empty()) << "nothing changed";
}

TEST(ShardPlacement, AChannelOnANodeThatStillServesIsLeftToThatNode) {
  ShardPlacement placement;
  placement.want("foo");
  placement.place(two_shards(node(1), node(2)));
  placement.subscribed("foo");
  // A map read from a lagging node says the slot is on node 1: node 2 is still a primary,
  // and it drops the channel itself when the slot leaves.
  EXPECT_TRUE(placement.place(two_shards(node(2), node(1))).empty());
  EXPECT_EQ(placement.node_of("foo"), node(2));
}

TEST(ShardPlacement, AFailedOverPrimaryLosesItsChannelsToThePromotedOne) {
  ShardPlacement placement;
  placement.want("foo");
  placement.place(two_shards(node(1), node(2)));
  placement.subscribed("foo");
  const auto moves = placement.place(two_shards(node(1), node(3)));
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].from, node(2));
  EXPECT_EQ(moves[0].to, node(3));
  EXPECT_TRUE(moves[0].again) << "confirmed on node 2: messages may be lost meanwhile";
  EXPECT_EQ(placement.count_on(node(2)), 0u);
}

TEST(ShardPlacement, ADroppedChannelIsPlacedAgainAndMovedFollowsTheRedirection) {
  ShardPlacement placement;
  placement.want("foo");
  placement.place(two_shards(node(1), node(2)));
  placement.subscribed("foo");
  placement.unplace("foo");  // node 2 dropped it: its slot left
  EXPECT_FALSE(placement.all_placed());
  // The map is still the old one: back to node 2, which will answer MOVED.
  auto moves = placement.place(two_shards(node(1), node(2)));
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_FALSE(moves[0].from.has_value());
  EXPECT_TRUE(moves[0].again);
  const auto redirected = placement.redirect("foo", node(1));
  ASSERT_TRUE(redirected.has_value());
  EXPECT_EQ(redirected->from, node(2));
  EXPECT_EQ(redirected->to, node(1));
  EXPECT_EQ(placement.node_of("foo"), node(1));
  EXPECT_FALSE(placement.redirect("unknown", node(1)).has_value());
}

TEST(ShardPlacement, AChannelWhoseSlotNobodyServesWaitsForTheNextMap) {
  ShardPlacement placement;
  placement.want("foo");
  Topology topology = two_shards(node(1), node(2));
  topology.slot_shard[static_cast<std::size_t>(key_slot("foo"))] = -1;
  EXPECT_TRUE(placement.place(topology).empty());
  EXPECT_FALSE(placement.all_placed());
  EXPECT_EQ(placement.forget("foo"), std::nullopt);
  EXPECT_TRUE(placement.all_placed());
}

}  // namespace
}  // namespace opencode_cache::testing
