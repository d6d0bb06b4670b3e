#include "faults/cluster_faults.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "cluster/valkey_cluster.hpp"
#include "valkey/cluster_slot.hpp"

namespace opencode_cache::faults {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::ValkeyServer;

constexpr std::chrono::milliseconds promotion_limit = 20s;
constexpr std::size_t reshard_max_slots = 16;
constexpr std::size_t migrate_batch = 10;
// The fault's schedule, not a synchronisation: how long the slots stay half moved, their keys
// on the target and the slots still the source's, so that requests for them meet ASK.
constexpr std::chrono::milliseconds half_moved = 1000ms;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The slots of the keys on `node`, session keys' first (a session operation that fails throws;
// a cache operation fails soft), at most reshard_max_slots.
std::vector<int> slots_of_keys(ValkeyServer& node, std::uint64_t& keys) {
  std::vector<std::string> names = lines_of(node.cli({"KEYS", "*"}));
  keys = names.size();
  std::stable_partition(names.begin(), names.end(), [](const std::string& key) {
    return key.find(":session:") != std::string::npos;
  });
  std::vector<int> slots;
  for (const std::string& key : names) {
    const int slot = valkey::detail::key_slot(key);
    if (std::find(slots.begin(), slots.end(), slot) == slots.end()) slots.push_back(slot);
    if (slots.size() == reshard_max_slots) break;
  }
  return slots;
}

std::size_t migrate_all(testing::ValkeyCluster& cluster, const std::vector<int>& slots,
                        ValkeyServer& from, ValkeyServer& to) {
  std::size_t moved = 0;
  for (int slot : slots) {
    while (const std::size_t batch = cluster.migrate_slot_keys(slot, from, to, migrate_batch)) {
      moved += batch;
    }
  }
  return moved;
}

}  // namespace

bool is_cluster(Fault fault) noexcept {
  return fault == Fault::cluster_primary_kill || fault == Fault::cluster_primary_pause ||
         fault == Fault::cluster_reshard;
}

ClusterBed::ClusterBed() : cluster_(std::make_unique<testing::ValkeyCluster>()) {}

ClusterBed::~ClusterBed() = default;

std::string ClusterBed::url() const {
  return cluster_->url();
}

ClusterFaultEvents ClusterBed::inject(Fault fault) {
  switch (fault) {
    case Fault::cluster_primary_kill: return fail_over(true);
    case Fault::cluster_primary_pause: return fail_over(false);
    case Fault::cluster_reshard: return reshard();
    default: break;
  }
  throw std::logic_error("not a cluster fault: " + std::string(name(fault)));
}

std::vector<std::string> ClusterBed::errorstats() {
  std::vector<std::string> stats;
  for (std::size_t i = 0; i < cluster_->size(); ++i) {
    ValkeyServer& node = cluster_->node(i);
    if (node.running() && !node.paused()) stats.push_back(node.cli({"INFO", "errorstats"}));
  }
  return stats;
}

ClusterFaultEvents ClusterBed::fail_over(bool kill) {
  ClusterFaultEvents events;
  ValkeyServer& victim = *cluster_->primaries().front();
  events.victim_keys = std::stoull(victim.cli({"DBSIZE"}));
  if (events.victim_keys == 0)
    events.problems.push_back("the primary held none of the load's keys");
  const std::vector<std::string> replicas = cluster_->replicas_of(victim);
  if (replicas.empty()) throw std::runtime_error("the primary has no replica to promote");

  events.start = Clock::now();
  if (kill) {
    victim.kill();
  } else {
    victim.pause();
  }
  ValkeyServer& promoted = cluster_->wait_for_promotion(replicas, promotion_limit, &events.end);
  if (kill) return events;

  // Back from SIGSTOP, the old primary sees its slots served by a newer epoch and must become
  // that node's replica; wait_until_healthy waits for it to agree and its link to be up.
  victim.resume();
  cluster_->wait_until_healthy();
  const std::string replication = victim.cli({"INFO", "replication"});
  const std::string primary_port = "master_port:" + std::to_string(promoted.port());
  if (replication.find("role:slave") == std::string::npos ||
      replication.find(primary_port) == std::string::npos) {
    events.problems.push_back("the old primary did not come back as the promoted one's replica: " +
                              replication);
  }
  return events;
}

ClusterFaultEvents ClusterBed::reshard() {
  ClusterFaultEvents events;
  const std::vector<ValkeyServer*> primaries = cluster_->primaries();
  ValkeyServer& from = *primaries.at(0);
  ValkeyServer& to = *primaries.at(1);
  const std::vector<int> slots = slots_of_keys(from, events.victim_keys);
  if (slots.empty()) throw std::runtime_error("the source primary holds none of the load's keys");

  events.start = Clock::now();
  for (int slot : slots) cluster_->begin_slot_migration(slot, from, to);
  events.keys_moved = migrate_all(*cluster_, slots, from, to);
  std::this_thread::sleep_for(half_moved);
  // None can have come back (a new key of a migrating slot is created on the target, after
  // ASK), but a slot handed over with a key left behind would lose it: look again.
  events.keys_moved += migrate_all(*cluster_, slots, from, to);
  cluster_->finish_slot_migrations(slots, to);
  events.end = Clock::now();
  events.slots_moved = slots.size();

  for (int slot : slots) {
    if (&cluster_->primary_of_slot(slot) != &to) {
      events.problems.push_back("slot " + std::to_string(slot) + " was not handed over");
    }
  }
  if (events.keys_moved == 0) events.problems.push_back("the reshard moved no key");
  return events;
}

}  // namespace opencode_cache::faults
