#pragma once

// A real Valkey Cluster on loopback for tests: 3 primaries and 3 replicas (by default), each a
// ValkeyServer with `cluster-enabled yes` and a low `cluster-node-timeout`, joined by
// `valkey-cli --cluster create`. Readiness is polled (CLUSTER INFO on every node, the same slot
// map everywhere), never slept for. Faults: kill, pause, restart a node; move a slot.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/valkey_server.hpp"

namespace opencode_cache::testing {

struct ValkeyClusterOptions {
  int primaries = 3;
  int replicas_per_primary = 1;
  // Low so that a failover takes about two of these, not the default 15 s each.
  std::chrono::milliseconds node_timeout{1000};
};

class ValkeyCluster {
 public:
  explicit ValkeyCluster(ValkeyClusterOptions options = {});
  ~ValkeyCluster();
  ValkeyCluster(const ValkeyCluster&) = delete;
  ValkeyCluster& operator=(const ValkeyCluster&) = delete;

  std::size_t size() const { return nodes_.size(); }
  ValkeyServer& node(std::size_t index) { return *nodes_.at(index); }
  // "valkey+cluster://127.0.0.1:p1,127.0.0.1:p2,..." naming every node as a seed.
  std::string url() const;
  // A seed's port (the first node's): enough for the client to find the rest.
  std::uint16_t seed_port() const { return nodes_.front()->port(); }

  // The running node that serves `slot` as a primary now (asked of a live node).
  ValkeyServer& primary_of_slot(int slot);
  // The node's cluster id (CLUSTER MYID).
  std::string node_id(ValkeyServer& node) const;
  // Primaries (running, by the cluster's own view), in port order.
  std::vector<ValkeyServer*> primaries();
  // The slot `key` hashes to (CLUSTER KEYSLOT on a live node).
  int key_slot(const std::string& key);

  // Fails the test's setup unless every running node (paused ones left out) says
  // cluster_state:ok, knows the same slot owners and every slot is covered, within `limit`.
  void wait_until_healthy(std::chrono::milliseconds limit = std::chrono::seconds(20));
  // Kills `primary` (SIGKILL) and waits until one of its replicas was promoted and the cluster
  // is healthy again; returns the new primary. The old node stays down. `promoted_at`, when
  // given, receives the moment the promotion was seen (role:master on the replica).
  ValkeyServer& fail_over_by_killing(ValkeyServer& primary,
                                     std::chrono::milliseconds limit = std::chrono::seconds(20),
                                     std::chrono::steady_clock::time_point* promoted_at = nullptr);
  // The cluster ids of `primary`'s replicas (asked of the primary, so before it is disturbed).
  std::vector<std::string> replicas_of(ValkeyServer& primary) const;
  // After their primary was killed or stopped: waits until one of these replicas says
  // role:master (`promoted_at` receives that moment), then until the cluster is healthy again
  // (a stopped primary left stopped is a failed node, as a killed one); returns it.
  ValkeyServer& wait_for_promotion(const std::vector<std::string>& replica_ids,
                                   std::chrono::milliseconds limit = std::chrono::seconds(20),
                                   std::chrono::steady_clock::time_point* promoted_at = nullptr);
  // Restarts a node killed before (same port, same nodes.conf) and waits until it rejoined.
  void restart(ValkeyServer& node);

  // Moving a slot in steps, as `valkey-cli --cluster reshard` does, so that a test can run
  // traffic between them: begin (IMPORTING on the target, MIGRATING on the source), migrate
  // its keys (MIGRATE in batches), finish (SETSLOT NODE on every primary).
  void begin_slot_migration(int slot, ValkeyServer& from, ValkeyServer& to);
  // Keys moved in this call; call again until 0.
  std::size_t migrate_slot_keys(int slot, ValkeyServer& from, ValkeyServer& to,
                                std::size_t batch = 100);
  void finish_slot_migration(int slot, ValkeyServer& to);
  // The same for several slots, with one wait for the cluster to agree at the end.
  void finish_slot_migrations(const std::vector<int>& slots, ValkeyServer& to);
  // All three at once.
  void move_slot(int slot, ValkeyServer& from, ValkeyServer& to);

  // FLUSHALL on every running primary.
  void flush_all();

 private:
  ValkeyServer& live_node();
  std::string slot_owners_fingerprint(ValkeyServer& node) const;

  ValkeyClusterOptions options_;
  std::vector<std::unique_ptr<ValkeyServer>> nodes_;
};

// Fixture: one cluster for the whole suite (starting one takes seconds), flushed before each
// test. Tests that kill or move things start their own ValkeyCluster instead.
class ValkeyClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;
  static ValkeyCluster& cluster();

 private:
  static std::unique_ptr<ValkeyCluster> shared_;
};

}  // namespace opencode_cache::testing
