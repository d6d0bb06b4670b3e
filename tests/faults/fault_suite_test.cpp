// The fault-injection suite (issue 6): each fault on a real valkey-server under steady load from
// many coroutines through CacheService. For every fault: no crash, no request past its deadline,
// full recovery after the fault ends, cache reads answered (as misses) while Valkey is gone, no
// acknowledged session write lost while the server stayed up. The cluster faults (issue 14) do
// the same on a Valkey Cluster of 3 primaries and 3 replicas: a primary killed, a primary
// stopped until its replica took over, slots moved under load. scripts/faults runs the same
// faults alone and prints the table.

#include "faults/fault_suite.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>

namespace opencode_cache::faults {
namespace {

using ::testing::IsEmpty;

// The properties every fault must keep; each also appears in report.problems, which the last
// expectation prints in full.
FaultReport run_and_check(Fault fault) {
  const SuiteOptions options;
  FaultReport report = run_fault(fault, options);
  std::cout << description(fault) << "\n" << table_header() << table_row(report) << details(report);
  EXPECT_FALSE(report.crashed);
  EXPECT_EQ(report.over_deadline, 0u) << "requests past their deadline";
  EXPECT_TRUE(report.recovery_ms.has_value()) << "requests never became all ok again";
  if (report.recovery_ms) {
    EXPECT_LE(*report.recovery_ms, options.recovery_limit.count());
  }
  EXPECT_EQ(report.cache_failures, 0u) << "cache operations must fail soft";
  EXPECT_EQ(report.early_failures, 0u) << "requests failed before the fault";
  EXPECT_EQ(report.wrong_values, 0u);
  // Only a write a cluster primary acknowledged just before it failed may be missing after the
  // failover (asynchronous replication; fault_suite.hpp): counted apart.
  EXPECT_EQ(report.lost_writes, report.unreplicated_writes) << "acknowledged session writes lost";
  EXPECT_EQ(report.outage_read_hits, 0u);
  EXPECT_THAT(report.problems, IsEmpty());
  return report;
}

TEST(FaultInjection, KillAndRestart) {
  const FaultReport report = run_and_check(Fault::kill_restart);
  EXPECT_TRUE(report.session_check) << "AOF with appendfsync always keeps acknowledged writes";
  EXPECT_GT(report.outage_reads, 0u) << "cache reads must be answered while Valkey is down";
  EXPECT_GT(report.degraded, 0u);
  EXPECT_GE(report.reconnects, 1u);
}

TEST(FaultInjection, StoppedServer) {
  const FaultReport report = run_and_check(Fault::sigstop);
  EXPECT_TRUE(report.session_check);
  EXPECT_GT(report.outage_reads, 0u) << "cache reads must be answered while Valkey hangs";
  EXPECT_GT(report.degraded, 0u);
}

TEST(FaultInjection, ClientKill) {
  const FaultReport report = run_and_check(Fault::client_kill);
  EXPECT_TRUE(report.session_check);
  EXPECT_GE(report.clients_killed, 1u);
  EXPECT_GE(report.reconnects, report.clients_killed) << "one reconnect per connection killed";
}

TEST(FaultInjection, RestartWithEmptyDataset) {
  const FaultReport report = run_and_check(Fault::empty_restart);
  EXPECT_GT(report.server_noscript, 0u) << "the scripts were gone after the restart";
  EXPECT_GT(report.sessions_lost, 0u) << "the keys were gone after the restart";
}

TEST(FaultInjection, OutOfMemory) {
  const FaultReport report = run_and_check(Fault::oom);
  EXPECT_TRUE(report.session_check);
  EXPECT_GT(report.server_oom, 0u);
  EXPECT_GT(report.writes_dropped, 0u) << "cache writes refused with OOM are dropped, counted";
  EXPECT_EQ(report.reads_degraded_in_fault, 0u) << "reads keep working under OOM";
}

TEST(FaultInjection, SlowServer) {
  const FaultReport report = run_and_check(Fault::slow_server);
  EXPECT_TRUE(report.session_check);
  EXPECT_GT(report.degraded, 0u) << "cache reads give up on a stalled server";
}

TEST(FaultInjection, BlackHoledConnection) {
  const FaultReport report = run_and_check(Fault::blackhole);
  EXPECT_TRUE(report.session_check);
  EXPECT_GE(report.reconnects, 1u) << "the health check replaced the silent connection";
}

TEST(FaultInjection, DemotedPrimary) {
  const FaultReport report = run_and_check(Fault::demoted_primary);
  EXPECT_TRUE(report.session_check) << "no acknowledged write is lost in a paused failover";
  EXPECT_GE(report.reconnects, 1u) << "the client left the demoted primary";
}

TEST(FaultInjection, ClusterPrimaryKilled) {
  const FaultReport report = run_and_check(Fault::cluster_primary_kill);
  EXPECT_TRUE(report.session_check);
  EXPECT_TRUE(report.failover_ms.has_value()) << "a replica was promoted";
  EXPECT_GT(report.degraded, 0u) << "the killed primary's cache keys were misses until then";
}

TEST(FaultInjection, ClusterPrimaryPaused) {
  const FaultReport report = run_and_check(Fault::cluster_primary_pause);
  EXPECT_TRUE(report.session_check);
  EXPECT_TRUE(report.failover_ms.has_value()) << "a replica was promoted";
  EXPECT_GT(report.degraded, 0u) << "cache reads gave up on the stopped primary";
}

TEST(FaultInjection, ClusterReshard) {
  const FaultReport report = run_and_check(Fault::cluster_reshard);
  EXPECT_EQ(report.degraded, 0u) << "ASK and MOVED are followed within every deadline";
  EXPECT_EQ(report.failed, 0u);
  EXPECT_GT(report.server_ask, 0u) << "requests met the slots half moved";
  EXPECT_GT(report.keys_moved, 0u);
  EXPECT_EQ(report.unreplicated_writes, 0u);
}

}  // namespace
}  // namespace opencode_cache::faults
