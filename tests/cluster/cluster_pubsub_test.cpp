// Pub/sub on a real cluster: channels through any node (a message published on one node
// reaches a subscriber connected to another, and the subscriber moves to a live node when
// its node is killed), sharded channels on the primary of their slot, following the slot
// when it moves or its primary fails over. Every wait is a condition with a deadline.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cluster/valkey_cluster.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/subscriber.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Message;
using valkey::Subscriber;

// Collects what a handler receives.
struct Inbox {
  std::vector<std::string> payloads;
  valkey::MessageHandler handler() {
    return [this](const Message& message) { payloads.push_back(message.payload); };
  }
  bool has(const std::string& payload) const {
    return std::find(payloads.begin(), payloads.end(), payload) != payloads.end();
  }
};

ClientConfig fast_reconnect_config(const ValkeyCluster& cluster) {
  ClientConfig config = ClientConfig::from_url(cluster.url());
  config.connect_timeout = 500ms;
  config.reconnect.base_delay = 20ms;
  config.reconnect.max_delay = 200ms;
  config.reconnect.max_attempts = 0;
  config.command_timeout = 10s;
  return config;
}

// The running nodes on which `channel` has a subscriber (PUBSUB NUMSUB counts a node's own
// clients only).
std::vector<ValkeyServer*> nodes_subscribed_to(ValkeyCluster& cluster, const std::string& channel) {
  std::vector<ValkeyServer*> out;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    ValkeyServer& node = cluster.node(i);
    if (node.running() && node.cli({"PUBSUB", "NUMSUB", channel}) == channel + "\n1") {
      out.push_back(&node);
    }
  }
  return out;
}

std::string shard_subscribers(ValkeyServer& node, const std::string& channel) {
  return node.cli({"PUBSUB", "SHARDNUMSUB", channel});
}

class ClusterPubSubTest : public ValkeyClusterTest {};

TEST_F(ClusterPubSubTest, AMessagePublishedOnOneNodeReachesASubscriberOnAnother) {
  const auto config = ClientConfig::from_url(cluster().url());
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox inbox;
    co_await subscriber.subscribe("news", inbox.handler());
    co_await subscriber.psubscribe("alerts.*", inbox.handler());
    const auto subscribed = nodes_subscribed_to(cluster(), "news");
    EXPECT_EQ(subscribed.size(), 1u) << "one connection, on one node";
    if (subscribed.size() != 1) co_return;
    // Published on every other node, replicas included: each reaches it over the cluster bus.
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < cluster().size(); ++i) {
      ValkeyServer& node = cluster().node(i);
      if (&node == subscribed.front()) continue;
      sent.push_back("from " + std::to_string(node.port()));
      node.cli({"PUBLISH", "news", sent.back()});
    }
    co_await client.publish("alerts.fire", "through the cluster client");
    co_await wait_until([&] {
      return inbox.has("through the cluster client") &&
             std::all_of(sent.begin(), sent.end(), [&](const auto& p) { return inbox.has(p); });
    });
    EXPECT_EQ(inbox.payloads.size(), sent.size() + 1);
  });
}

TEST_F(ClusterPubSubTest, ShardedChannelsLiveOnThePrimaryOfTheirSlot) {
  const auto config = ClientConfig::from_url(cluster().url());
  // Three channels whose slots belong to three different primaries.
  std::vector<std::string> channels;
  std::vector<ValkeyServer*> owners;
  for (int i = 0; channels.size() < 3 && i < 1000; ++i) {
    const std::string channel = "orders:" + std::to_string(i);
    ValkeyServer* owner = &cluster().primary_of_slot(cluster().key_slot(channel));
    if (std::find(owners.begin(), owners.end(), owner) != owners.end()) continue;
    channels.push_back(channel);
    owners.push_back(owner);
  }
  ASSERT_EQ(channels.size(), 3u);
  run_async([&](Executor ex) -> awaitable<void> {
    Subscriber subscriber(ex, config);
    Client client(ex, config);
    Inbox inbox;
    for (const std::string& channel : channels) {
      co_await subscriber.ssubscribe(channel, inbox.handler());
    }
    for (std::size_t i = 0; i < channels.size(); ++i) {
      EXPECT_EQ(shard_subscribers(*owners[i], channels[i]), channels[i] + "\n1");
      EXPECT_EQ(co_await client.spublish(channels[i], "to " + channels[i]), 1);
    }
    co_await wait_until([&] { return inbox.payloads.size() == 3; });
    for (const std::string& channel : channels) EXPECT_TRUE(inbox.has("to " + channel));
    EXPECT_EQ(subscriber.stats().connects, 3u) << "one connection per primary";

    co_await subscriber.sunsubscribe(channels[0]);
    EXPECT_EQ(shard_subscribers(*owners[0], channels[0]), channels[0] + "\n0");
    EXPECT_EQ(co_await client.spublish(channels[0], "late"), 0);
    EXPECT_EQ(co_await client.spublish(channels[1], "still"), 1);
    co_await wait_until([&] { return inbox.has("still"); });
    EXPECT_FALSE(inbox.has("late"));
  });
}

// A subscriber and a publishing client on one cluster, counting resubscriptions: what each
// failover test starts from.
struct Listener {
  Listener(Executor ex, const ClientConfig& config) : subscriber(ex, config), client(ex, config) {
    subscriber.on_resubscribed([this] { ++resubscribed; });
  }
  Subscriber subscriber;
  Client client;
  Inbox inbox;
  int resubscribed = 0;
};

TEST(ClusterPubSubFailover, TheSubscribersNodeKilledItResubscribesOnAnother) {
  ValkeyCluster cluster;
  const auto config = fast_reconnect_config(cluster);
  run_async(
      [&](Executor ex) -> awaitable<void> {
        Listener listener(ex, config);
        auto& [subscriber, client, inbox, resubscribed] = listener;
        co_await subscriber.subscribe("news", inbox.handler());
        co_await client.publish("news", "before");
        co_await wait_until([&] { return inbox.has("before"); });
        const auto subscribed = nodes_subscribed_to(cluster, "news");
        EXPECT_EQ(subscribed.size(), 1u);
        if (subscribed.size() != 1) co_return;
        ValkeyServer& dead = *subscribed.front();
        const auto primaries = cluster.primaries();
        if (std::find(primaries.begin(), primaries.end(), &dead) != primaries.end()) {
          cluster.fail_over_by_killing(dead);
        } else {
          dead.kill();
        }
        co_await wait_until([&] { return resubscribed >= 1; }, 20s);
        const auto now_on = nodes_subscribed_to(cluster, "news");
        EXPECT_EQ(now_on.size(), 1u);
        co_await client.publish("news", "after");
        co_await wait_until([&] { return inbox.has("after"); });
        EXPECT_GE(subscriber.stats().connects, 2u);
      },
      90s);
}

// A channel whose slot the first primary owns, and another primary to move it to.
struct SlotMove {
  std::string channel;
  int slot = 0;
  ValkeyServer* from = nullptr;
  ValkeyServer* to = nullptr;
};

SlotMove sharded_channel_and_target(ValkeyCluster& cluster) {
  SlotMove move{.channel = "orders"};
  move.slot = cluster.key_slot(move.channel);
  move.from = &cluster.primary_of_slot(move.slot);
  for (ValkeyServer* primary : cluster.primaries()) {
    if (primary != move.from) move.to = primary;
  }
  return move;
}

TEST(ClusterPubSubFailover, AShardedChannelFollowsItsSlotToAnotherPrimary) {
  ValkeyCluster cluster;
  const auto config = fast_reconnect_config(cluster);
  const SlotMove move = sharded_channel_and_target(cluster);
  ASSERT_NE(move.to, nullptr);
  run_async(
      [&](Executor ex) -> awaitable<void> {
        Listener listener(ex, config);
        auto& [subscriber, client, inbox, resubscribed] = listener;
        co_await subscriber.ssubscribe(move.channel, inbox.handler());
        EXPECT_EQ(co_await client.spublish(move.channel, "before"), 1);
        co_await wait_until([&] { return inbox.has("before"); });

        cluster.move_slot(move.slot, *move.from, *move.to);
        co_await wait_until([&] { return resubscribed >= 1; }, 20s);
        EXPECT_EQ(shard_subscribers(*move.to, move.channel), move.channel + "\n1");
        EXPECT_EQ(shard_subscribers(*move.from, move.channel), move.channel + "\n0");
        EXPECT_EQ(co_await client.spublish(move.channel, "after"), 1);
        co_await wait_until([&] { return inbox.has("after"); });
      },
      90s);
}

TEST(ClusterPubSubFailover, AShardedChannelIsResubscribedOnThePromotedReplica) {
  ValkeyCluster cluster;
  const auto config = fast_reconnect_config(cluster);
  const int slot = cluster.key_slot("orders");
  ValkeyServer& primary = cluster.primary_of_slot(slot);
  run_async(
      [&](Executor ex) -> awaitable<void> {
        Listener listener(ex, config);
        auto& [subscriber, client, inbox, resubscribed] = listener;
        co_await subscriber.ssubscribe("orders", inbox.handler());
        EXPECT_EQ(co_await client.spublish("orders", "before"), 1);
        co_await wait_until([&] { return inbox.has("before"); });

        ValkeyServer& promoted = cluster.fail_over_by_killing(primary);
        co_await wait_until([&] { return resubscribed >= 1; }, 20s);
        EXPECT_EQ(shard_subscribers(promoted, "orders"), "orders\n1");
        EXPECT_EQ(co_await client.spublish("orders", "after"), 1);
        co_await wait_until([&] { return inbox.has("after"); });
      },
      90s);
}

}  // namespace
}  // namespace opencode_cache::testing
