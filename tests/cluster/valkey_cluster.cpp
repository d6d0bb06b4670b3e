#include "cluster/valkey_cluster.hpp"

#include <algorithm>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/free_port.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> words;
  std::stringstream in(line);
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

bool has_flag(const std::string& flags, const std::string& flag) {
  std::stringstream in(flags);
  for (std::string f; std::getline(in, f, ',');) {
    if (f == flag) return true;
  }
  return false;
}

// One line of CLUSTER NODES: id, address, flags, primary id, ..., slot ranges from the 9th.
struct NodeLine {
  std::string id;
  std::uint16_t port = 0;
  std::string flags;
  std::string primary_id;
  std::vector<std::string> slots;
};

std::vector<NodeLine> parse_nodes(const std::string& text) {
  std::vector<NodeLine> nodes;
  for (const std::string& line : lines_of(text)) {
    const auto words = words_of(line);
    if (words.size() < 8) continue;
    NodeLine node;
    node.id = words[0];
    const auto colon = words[1].rfind(':');
    const auto at = words[1].find('@');
    if (colon != std::string::npos && at != std::string::npos && at > colon) {
      node.port = static_cast<std::uint16_t>(std::stoi(words[1].substr(colon + 1, at - colon - 1)));
    }
    node.flags = words[2];
    node.primary_id = words[3];
    for (std::size_t i = 8; i < words.size(); ++i) {
      if (words[i].front() != '[') node.slots.push_back(words[i]);  // [slot->-id] is a migration
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

std::string info_field(const std::string& info, const std::string& name) {
  for (const std::string& line : lines_of(info)) {
    if (line.rfind(name + ":", 0) == 0) return line.substr(name.size() + 1);
  }
  return {};
}

// Running and not paused: a node that can answer valkey-cli.
bool answers(const ValkeyServer& node) {
  return node.running() && !node.paused();
}

void pause_briefly() {
  std::this_thread::sleep_for(20ms);
}  // between polls of a condition

}  // namespace

ValkeyCluster::ValkeyCluster(ValkeyClusterOptions options) : options_(options) {
  const int count = options_.primaries * (1 + options_.replicas_per_primary);
  for (int i = 0; i < count; ++i) {
    ValkeyServerOptions server;
    server.config = {{"cluster-enabled", "yes"},
                     {"cluster-node-timeout", std::to_string(options_.node_timeout.count())},
                     // The bus listens on port + 10000 unless told otherwise, which is past
                     // 65535 for most ephemeral ports: each node gets a port of its own for it.
                     {"cluster-port", std::to_string(free_loopback_port())},
                     // A replica takes over however stale it is: tests kill primaries on purpose.
                     {"cluster-replica-validity-factor", "0"},
                     {"cluster-allow-replica-migration", "no"},
                     // A replica's full sync starts at once, not after the default 5 s wait
                     // for more replicas to share it: at creation and when a node rejoins.
                     {"repl-diskless-sync-delay", "0"}};
    nodes_.push_back(std::make_unique<ValkeyServer>(server));
  }
  std::vector<std::string> args = {"--cluster", "create"};
  for (const auto& node : nodes_) args.push_back(node->host() + ":" + std::to_string(node->port()));
  args.insert(args.end(), {"--cluster-replicas", std::to_string(options_.replicas_per_primary),
                           "--cluster-yes"});
  nodes_.front()->cli(args);
  wait_until_healthy();
}

ValkeyCluster::~ValkeyCluster() = default;

std::string ValkeyCluster::url() const {
  std::string url = "valkey+cluster://";
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (i > 0) url += ",";
    url += nodes_[i]->host() + ":" + std::to_string(nodes_[i]->port());
  }
  return url;
}

ValkeyServer& ValkeyCluster::live_node() {
  for (const auto& node : nodes_) {
    if (answers(*node)) return *node;
  }
  throw std::runtime_error("no node of the cluster is running");
}

std::string ValkeyCluster::node_id(ValkeyServer& node) const {
  return node.cli({"CLUSTER", "MYID"});
}

int ValkeyCluster::key_slot(const std::string& key) {
  return std::stoi(live_node().cli({"CLUSTER", "KEYSLOT", key}));
}

// The primaries a node sees and their slots, failed ones left out: equal on every node once
// the cluster agrees.
std::string ValkeyCluster::slot_owners_fingerprint(ValkeyServer& node) const {
  std::vector<std::string> owners;
  for (const NodeLine& line : parse_nodes(node.cli({"CLUSTER", "NODES"}))) {
    if (!has_flag(line.flags, "master") || has_flag(line.flags, "fail")) continue;
    if (line.slots.empty()) continue;
    std::string owner = line.id;
    for (const auto& range : line.slots) owner += " " + range;
    owners.push_back(owner);
  }
  std::sort(owners.begin(), owners.end());
  std::string fingerprint;
  for (const auto& owner : owners) fingerprint += owner + "\n";
  return fingerprint;
}

void ValkeyCluster::wait_until_healthy(std::chrono::milliseconds limit) {
  const auto give_up = Clock::now() + limit;
  std::string last_problem;
  while (Clock::now() < give_up) {
    last_problem.clear();
    std::string fingerprint;
    for (const auto& node : nodes_) {
      if (!answers(*node)) continue;
      const std::string info = node->cli({"CLUSTER", "INFO"});
      if (info_field(info, "cluster_state") != "ok" ||
          info_field(info, "cluster_slots_ok") != "16384") {
        last_problem = "port " + std::to_string(node->port()) + ": " + info;
        break;
      }
      const std::string mine = slot_owners_fingerprint(*node);
      if (fingerprint.empty()) fingerprint = mine;
      if (mine != fingerprint) {
        last_problem = "nodes disagree on the slot owners";
        break;
      }
      const std::string replication = node->cli({"INFO", "replication"});
      if (info_field(replication, "role") == "slave" &&
          info_field(replication, "master_link_status") != "up") {
        last_problem = "replica on port " + std::to_string(node->port()) + " not in sync";
        break;
      }
    }
    if (last_problem.empty()) return;
    pause_briefly();
  }
  throw std::runtime_error("the cluster did not become healthy: " + last_problem);
}

std::vector<ValkeyServer*> ValkeyCluster::primaries() {
  std::vector<ValkeyServer*> out;
  for (const NodeLine& line : parse_nodes(live_node().cli({"CLUSTER", "NODES"}))) {
    if (!has_flag(line.flags, "master") || has_flag(line.flags, "fail")) continue;
    for (const auto& node : nodes_) {
      if (node->port() == line.port && answers(*node)) out.push_back(node.get());
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ValkeyServer* a, const ValkeyServer* b) { return a->port() < b->port(); });
  return out;
}

ValkeyServer& ValkeyCluster::primary_of_slot(int slot) {
  for (const NodeLine& line : parse_nodes(live_node().cli({"CLUSTER", "NODES"}))) {
    if (!has_flag(line.flags, "master") || has_flag(line.flags, "fail")) continue;
    for (const std::string& range : line.slots) {
      const auto dash = range.find('-');
      const int first = std::stoi(range.substr(0, dash));
      const int last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
      if (slot < first || slot > last) continue;
      for (const auto& node : nodes_) {
        if (node->port() == line.port) return *node;
      }
    }
  }
  throw std::runtime_error("no primary serves slot " + std::to_string(slot));
}

ValkeyServer& ValkeyCluster::fail_over_by_killing(ValkeyServer& primary,
                                                  std::chrono::milliseconds limit,
                                                  Clock::time_point* promoted_at) {
  const std::vector<std::string> replica_ids = replicas_of(primary);
  if (replica_ids.empty()) throw std::runtime_error("the primary has no replica to promote");
  primary.kill();
  return wait_for_promotion(replica_ids, limit, promoted_at);
}

std::vector<std::string> ValkeyCluster::replicas_of(ValkeyServer& primary) const {
  const std::string id = node_id(primary);
  std::vector<std::string> ids;
  for (const NodeLine& line : parse_nodes(primary.cli({"CLUSTER", "NODES"}))) {
    if (line.primary_id == id) ids.push_back(line.id);
  }
  return ids;
}

ValkeyServer& ValkeyCluster::wait_for_promotion(const std::vector<std::string>& replica_ids,
                                                std::chrono::milliseconds limit,
                                                Clock::time_point* promoted_at) {
  const auto give_up = Clock::now() + limit;
  while (Clock::now() < give_up) {
    for (const auto& node : nodes_) {
      if (!answers(*node)) continue;
      const std::string role = info_field(node->cli({"INFO", "replication"}), "role");
      if (role != "master") continue;
      if (std::find(replica_ids.begin(), replica_ids.end(), node_id(*node)) == replica_ids.end()) {
        continue;
      }
      if (promoted_at != nullptr) *promoted_at = Clock::now();
      wait_until_healthy(std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max(Clock::duration(1s), give_up - Clock::now())));
      return *node;
    }
    pause_briefly();
  }
  throw std::runtime_error("no replica was promoted in time");
}

void ValkeyCluster::restart(ValkeyServer& node) {
  node.start();
  wait_until_healthy();
}

void ValkeyCluster::begin_slot_migration(int slot, ValkeyServer& from, ValkeyServer& to) {
  const std::string s = std::to_string(slot);
  to.cli({"CLUSTER", "SETSLOT", s, "IMPORTING", node_id(from)});
  from.cli({"CLUSTER", "SETSLOT", s, "MIGRATING", node_id(to)});
}

std::size_t ValkeyCluster::migrate_slot_keys(int slot, ValkeyServer& from, ValkeyServer& to,
                                             std::size_t batch) {
  const auto keys =
      lines_of(from.cli({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), std::to_string(batch)}));
  if (keys.empty()) return 0;
  std::vector<std::string> args = {"MIGRATE", to.host(), std::to_string(to.port()), "", "0",
                                   "5000",    "KEYS"};
  args.insert(args.end(), keys.begin(), keys.end());
  const std::string reply = from.cli(args);
  if (reply != "OK" && reply != "NOKEY") throw std::runtime_error("MIGRATE: " + reply);
  return keys.size();
}

void ValkeyCluster::finish_slot_migration(int slot, ValkeyServer& to) {
  finish_slot_migrations({slot}, to);
}

void ValkeyCluster::finish_slot_migrations(const std::vector<int>& slots, ValkeyServer& to) {
  const std::string owner = node_id(to);
  const std::vector<ValkeyServer*> others = primaries();
  for (int slot : slots) {
    const std::string s = std::to_string(slot);
    // The target first, so that it serves the slot before the source stops redirecting there.
    to.cli({"CLUSTER", "SETSLOT", s, "NODE", owner});
    for (ValkeyServer* primary : others) {
      if (primary != &to) primary->cli({"CLUSTER", "SETSLOT", s, "NODE", owner});
    }
  }
  wait_until_healthy();
}

void ValkeyCluster::move_slot(int slot, ValkeyServer& from, ValkeyServer& to) {
  begin_slot_migration(slot, from, to);
  while (migrate_slot_keys(slot, from, to) > 0) {
  }
  finish_slot_migration(slot, to);
}

void ValkeyCluster::flush_all() {
  for (ValkeyServer* primary : primaries()) primary->cli({"FLUSHALL"});
}

std::unique_ptr<ValkeyCluster> ValkeyClusterTest::shared_;

void ValkeyClusterTest::SetUpTestSuite() {
  if (!shared_) shared_ = std::make_unique<ValkeyCluster>();
}

void ValkeyClusterTest::TearDownTestSuite() {
  shared_.reset();
}

void ValkeyClusterTest::SetUp() {
  cluster().flush_all();
}

ValkeyCluster& ValkeyClusterTest::cluster() {
  return *shared_;
}

}  // namespace opencode_cache::testing
