// The two refusals a cluster node gives for a command it did not run, waited out within the
// command's deadline: TRYAGAIN (a multi-key command whose keys are split by a slot migration)
// and CLUSTERDOWN (a slot nobody serves). Each test holds the node in that state until the
// node has refused the client at least once (its errorstats say so), then ends it; the
// command must then succeed, having run once. Each starts a cluster of its own.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "cluster/valkey_cluster.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "support/async_test.hpp"
#include "support/join_at_exit.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::Client;
using valkey::ClientConfig;

// How many times `node` has answered with `code` (INFO errorstats), 0 before the first.
std::size_t refusals(ValkeyServer& node, const std::string& code) {
  const std::string info = node.cli({"INFO", "errorstats"});
  const std::string field = "errorstat_" + code + ":count=";
  const auto at = info.find(field);
  if (at == std::string::npos) return 0;
  return std::stoul(info.substr(at + field.size()));
}

// Polls until `node` has refused with `code` once; false after `limit`.
bool wait_for_refusal(ValkeyServer& node, const std::string& code,
                      std::chrono::milliseconds limit = 10s) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (refusals(node, code) == 0) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(1ms);  // between polls of a condition, not in place of one
  }
  return true;
}

ValkeyServer& another_primary(ValkeyCluster& cluster, ValkeyServer& than) {
  for (ValkeyServer* primary : cluster.primaries()) {
    if (primary != &than) return *primary;
  }
  throw std::runtime_error("the cluster has one primary");
}

TEST(ClusterRetry, AMultiKeyReadSplitByAMigrationWaitsOutTryagain) {
  ValkeyCluster cluster;
  const int slot = cluster.key_slot("{split}");
  ValkeyServer& from = cluster.primary_of_slot(slot);
  ValkeyServer& to = another_primary(cluster, from);
  from.cli({"SET", "{split}:a", "1"});
  from.cli({"SET", "{split}:b", "2"});
  // Half the slot's keys on the target: the source can answer for neither key set alone.
  cluster.begin_slot_migration(slot, from, to);
  from.cli(
      {"MIGRATE", "127.0.0.1", std::to_string(to.port()), "", "0", "5000", "KEYS", "{split}:a"});

  std::atomic<bool> refused{false};
  std::thread mover;
  const JoinAtExit join_mover{mover};
  std::vector<std::optional<std::string>> values;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, ClientConfig::from_url(cluster.url()));
    co_await client.ping();  // the map is known before the slot's state is changed
    mover = std::thread([&] {
      refused = wait_for_refusal(from, "TRYAGAIN");
      while (cluster.migrate_slot_keys(slot, from, to) > 0) {
      }
      cluster.finish_slot_migration(slot, to);
    });
    values = co_await client.mget(strings("{split}:a", "{split}:b"));
  });
  if (mover.joinable()) mover.join();
  EXPECT_TRUE(refused) << "the source never answered TRYAGAIN";
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].value_or("none"), "1");
  EXPECT_EQ(values[1].value_or("none"), "2");
}

TEST(ClusterRetry, ACommandForASlotNobodyServesWaitsOutClusterdown) {
  ValkeyCluster cluster;
  const int slot = cluster.key_slot("{down}");
  ValkeyServer& owner = cluster.primary_of_slot(slot);

  std::atomic<bool> refused{false};
  std::thread restorer;
  const JoinAtExit join_restorer{restorer};
  std::int64_t count = 0;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, ClientConfig::from_url(cluster.url()));
    co_await client.ping();  // the map, naming `owner` for the slot, is known
    // Full coverage is required (the default): a node missing a slot serves nothing.
    owner.cli({"CLUSTER", "DELSLOTS", std::to_string(slot)});
    restorer = std::thread([&] {
      refused = wait_for_refusal(owner, "CLUSTERDOWN");
      owner.cli({"CLUSTER", "ADDSLOTS", std::to_string(slot)});
    });
    // INCR, not SET: a command resent after it ran would count twice.
    count = co_await client.incr("{down}:count");
  });
  if (restorer.joinable()) restorer.join();
  EXPECT_TRUE(refused) << "the owner never answered CLUSTERDOWN";
  EXPECT_EQ(count, 1);
  EXPECT_EQ(cluster.primary_of_slot(slot).cli({"GET", "{down}:count"}), "1");
}

}  // namespace
}  // namespace opencode_cache::testing
