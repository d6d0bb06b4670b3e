// Client's cluster mode against a real 3-primary, 3-replica cluster: routing by slot (each key
// checked on the node that owns it), multi-key commands and pipelines split and put back in
// order, cluster-wide SCAN, scripts and transactions, and the configuration that turns it on.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "cluster/valkey_cluster.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/reply.hpp"
#include "opencode_cache/valkey/scanner.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::Client;
using valkey::ClientConfig;
using valkey::Command;
using valkey::errc;
using valkey::Pipeline;
using valkey::Script;
namespace reply = valkey::reply;

ClientConfig cluster_config(const ValkeyCluster& cluster) {
  return ClientConfig::from_url(cluster.url());
}

class ClusterClientTest : public ValkeyClusterTest {};

TEST_F(ClusterClientTest, EachKeyIsStoredOnThePrimaryOfItsSlot) {
  const auto config = cluster_config(cluster());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    for (int i = 0; i < 100; ++i) {
      EXPECT_TRUE(co_await client.set("key:" + std::to_string(i), std::to_string(i)));
    }
    for (int i = 0; i < 100; ++i) {
      EXPECT_EQ(co_await client.get("key:" + std::to_string(i)), std::to_string(i));
    }
    EXPECT_EQ(client.state(), valkey::ConnectionState::ready);
  });
  std::set<std::uint16_t> owners;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "key:" + std::to_string(i);
    ValkeyServer& owner = cluster().primary_of_slot(cluster().key_slot(key));
    EXPECT_EQ(owner.cli({"GET", key}), std::to_string(i));
    owners.insert(owner.port());
  }
  EXPECT_EQ(owners.size(), 3u);  // the keys spread over every primary
}

TEST_F(ClusterClientTest, MultiKeyCommandsAcrossSlotsComeBackInOrder) {
  const auto config = cluster_config(cluster());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.mset(string_pairs("a", "1", "b", "2", "c", "3", "{a}x", "4"));
    const auto values = co_await client.mget(strings("c", "missing", "a", "{a}x", "b"));
    EXPECT_EQ(values.size(), 5u);
    EXPECT_EQ(values.at(0), "3");
    EXPECT_EQ(values.at(1), std::nullopt);
    EXPECT_EQ(values.at(2), "1");
    EXPECT_EQ(values.at(3), "4");
    EXPECT_EQ(values.at(4), "2");
    EXPECT_EQ(co_await client.exists(strings("a", "b", "missing", "c")), 3);
    EXPECT_EQ(co_await client.del(strings("a", "b", "missing")), 2);
    EXPECT_EQ(reply::to_integer(co_await client.command(Command("UNLINK", "c", "{a}x"))), 2);
    EXPECT_EQ(reply::to_integer(co_await client.command(Command("DBSIZE"))), 0);
  });
}

TEST_F(ClusterClientTest, PipelinesSplitByNodeKeepTheCallersOrder) {
  const auto config = cluster_config(cluster());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    Pipeline pipeline;
    for (int i = 0; i < 30; ++i) pipeline.add("SET", "p:" + std::to_string(i), i);
    pipeline.add("PING");
    for (int i = 0; i < 30; ++i) pipeline.add("INCR", "p:" + std::to_string(i));
    pipeline.add("HSET", "p:0", "f", "v");  // WRONGTYPE: an error reply in its place
    const auto replies = co_await client.execute(pipeline);
    EXPECT_EQ(replies.size(), 62u);
    EXPECT_EQ(replies.at(30).string, "PONG");
    for (int i = 0; i < 30; ++i) EXPECT_EQ(replies.at(31 + i).integer, i + 1) << i;
    EXPECT_TRUE(replies.at(61).is_error());
    EXPECT_EQ(reply::to_integer(co_await client.command(Command("DBSIZE"))), 30);
  });
}

TEST_F(ClusterClientTest, ScanVisitsEveryPrimaryOnce) {
  const auto config = cluster_config(cluster());
  std::set<std::string> seen;
  std::size_t returned = 0;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    std::vector<std::pair<std::string, std::string>> pairs;
    for (int i = 0; i < 300; ++i) pairs.emplace_back("scan:" + std::to_string(i), "v");
    pairs.emplace_back("other", "v");
    co_await client.mset(pairs);
    auto scanner = valkey::Scanner::keys(client, {.match = "scan:*", .count = 50});
    while (auto batch = co_await scanner.next()) {
      for (auto& key : *batch) {
        seen.insert(key);
        ++returned;
      }
    }
  });
  EXPECT_EQ(seen.size(), 300u);
  EXPECT_LE(returned, 330u);  // duplicates only from rehashing, not from visiting a node twice
}

TEST_F(ClusterClientTest, ScriptsRunOnTheNodeOfTheirKeysAndReloadAfterFlush) {
  const auto config = cluster_config(cluster());
  const Script script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    for (int i = 0; i < 10; ++i) {
      const auto reply =
          co_await client.eval(script, strings("s:" + std::to_string(i)), strings("5"));
      EXPECT_EQ(reply.integer, 5);
    }
    co_await client.command(Command("SCRIPT", "FLUSH"));  // on every primary
    const auto again = co_await client.eval(script, strings("s:3"), strings("1"));
    EXPECT_EQ(again.integer, 6);
    bool refused = false;
    try {
      co_await client.eval(script, strings("foo", "bar"), strings("1"));
    } catch (const valkey::Error& e) {
      refused = e.code() == errc::cross_slot;
    }
    EXPECT_TRUE(refused);
  });
}

TEST_F(ClusterClientTest, TransactionsRunInOneSlotAndRefuseSeveral) {
  const auto config = cluster_config(cluster());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    Pipeline same_slot;
    same_slot.add("SET", "{order:1}:status", "paid").add("INCR", "{order:1}:version");
    const auto replies = co_await client.transaction(same_slot);
    EXPECT_EQ(replies.size(), 2u);
    EXPECT_EQ(replies.at(1).integer, 1);
    Pipeline two_slots;
    two_slots.add("SET", "foo", "1").add("SET", "bar", "2");
    bool refused = false;
    try {
      co_await client.transaction(two_slots);
    } catch (const valkey::Error& e) {
      refused = e.code() == errc::cross_slot;
    }
    EXPECT_TRUE(refused);
    EXPECT_EQ(co_await client.get("foo"), std::nullopt);  // nothing of it ran
  });
}

TEST_F(ClusterClientTest, BootstrapsFromAnySingleSeed) {
  ClientConfig config;
  config.cluster = true;
  config.host = "127.0.0.1";
  config.port = cluster().node(4).port();  // a replica, as it happens
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.connect();
    EXPECT_TRUE(co_await client.set("seeded", "yes"));
    EXPECT_EQ(co_await client.get("seeded"), "yes");
  });
}

TEST(ClusterConfig, UrlsAndEnvironmentTurnClusterModeOn) {
  auto config = ClientConfig::from_url("valkey+cluster://app:secret@h1:7000,h2:7001,h3/0");
  EXPECT_TRUE(config.cluster);
  EXPECT_EQ(config.host, "h1");
  EXPECT_EQ(config.port, 7000);
  EXPECT_EQ(config.username, "app");
  EXPECT_EQ(config.password, "secret");
  ASSERT_EQ(config.cluster_seeds.size(), 2u);
  EXPECT_EQ(config.cluster_seeds[0], std::make_pair(std::string("h2"), std::uint16_t{7001}));
  EXPECT_EQ(config.cluster_seeds[1], std::make_pair(std::string("h3"), std::uint16_t{6379}));
  EXPECT_TRUE(ClientConfig::from_url("valkeys+cluster://h:1").tls.enabled);
  EXPECT_FALSE(ClientConfig::from_url("valkey://h:1").cluster);
  auto env = [](const char* name) -> const char* {
    const std::string n = name;
    if (n == "VALKEY_URL") return "valkey://h:7000";
    if (n == "VALKEY_CLUSTER") return "1";
    return nullptr;
  };
  EXPECT_TRUE(ClientConfig::from_env(env).cluster);
  auto bad = [](const char* name) -> const char* {
    return std::string(name) == "VALKEY_CLUSTER" ? "maybe" : nullptr;
  };
  EXPECT_THROW(ClientConfig::from_env(bad), valkey::Error);
  EXPECT_THROW(ClientConfig::from_url("valkey+cluster://h:1,h2:notaport"), valkey::Error);
}

}  // namespace
}  // namespace opencode_cache::testing
