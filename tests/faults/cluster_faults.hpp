#pragma once

// The cluster faults of the fault-injection suite (fault_suite.hpp): a real Valkey Cluster
// (tests/cluster/valkey_cluster.hpp: 3 primaries and 3 replicas on loopback, node timeout
// 1 s) under the suite's load, which goes through a cluster Client, and one shard disturbed:
//
//   cluster_primary_kill   SIGKILL of a primary; its replica is promoted; the old node stays down.
//   cluster_primary_pause  SIGSTOP of a primary until its replica is promoted, then SIGCONT: the
//                          old primary comes back and must rejoin as the new primary's replica.
//   cluster_reshard        the slots of the load's keys on one primary moved to another under
//                          load: every slot marked IMPORTING/MIGRATING, its keys migrated in
//                          batches (MIGRATE), held half moved for a while (requests for them are
//                          answered ASK), then handed over (SETSLOT NODE: MOVED from then on).
//
// The suite judges them as the others, from the fault's end given here: the promotion seen
// (kill, pause) or the last slot handed over (reshard).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "faults/fault_suite.hpp"

namespace opencode_cache::testing {
class ValkeyCluster;
}

namespace opencode_cache::faults {

bool is_cluster(Fault fault) noexcept;

struct ClusterFaultEvents {
  std::chrono::steady_clock::time_point start;  // the signal sent; the first slot marked
  std::chrono::steady_clock::time_point end;    // the promotion seen; the last slot handed over
  std::uint64_t victim_keys = 0;                // keys on the disturbed primary at the start
  std::uint64_t slots_moved = 0;
  std::uint64_t keys_moved = 0;
  std::vector<std::string> problems;  // what the cluster should have done and did not
};

// A cluster for one fault. Start it, point the load at url(), inject() the fault on this
// thread (the nodes die with the thread that started them).
class ClusterBed {
 public:
  ClusterBed();  // returns once the cluster is healthy
  ~ClusterBed();
  ClusterBed(const ClusterBed&) = delete;
  ClusterBed& operator=(const ClusterBed&) = delete;

  // valkey+cluster:// with every node as a seed.
  std::string url() const;
  // Injects a cluster fault; returns once the cluster is healthy again. Throws when the
  // harness itself fails (no replica promoted within 20 s, a MIGRATE refused).
  ClusterFaultEvents inject(Fault fault);
  // INFO errorstats of every node that answers (errorstat_ASK, errorstat_MOVED...).
  std::vector<std::string> errorstats();

 private:
  ClusterFaultEvents fail_over(bool kill);
  ClusterFaultEvents reshard();

  std::unique_ptr<testing::ValkeyCluster> cluster_;
};

}  // namespace opencode_cache::faults
