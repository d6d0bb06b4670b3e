// Internal: Client's cluster mode. Routes each command by hash slot to one standalone Client
// per primary (each one multiplexed connection with its own reconnects, deadlines and
// breaker), follows MOVED and ASK, retries TRYAGAIN and CLUSTERDOWN inside the command's
// deadline, splits multi-key commands and pipelines by slot, and keeps the slot map fresh
// (after MOVED, lost nodes, timeouts and periodically; one refresh at a time).
//
// A command is only sent again when the first attempt certainly did not run: a redirection
// or TRYAGAIN / CLUSTERDOWN reply, or a node that was not connected (never written).
//
// With read_from_replicas, a read-only command's first attempt goes to a replica of its slot
// (the shard's healthy replicas in turn); every later attempt, and every other command, goes to
// the primary. A read may be sent again whatever happened to it: it changes nothing.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster_routing.hpp"
#include "cluster_topology.hpp"
#include "opencode_cache/valkey/client.hpp"

namespace opencode_cache::valkey::detail {

// The slot map as `node` sees it (a node's Client, or a cluster Client: then any node):
// CLUSTER SHARDS, or CLUSTER SLOTS before Valkey 7. nullopt when the reply holds no map.
// Throws as the command does.
Task<std::optional<Topology>> read_slot_map(Client& node, std::string fallback_host,
                                            RequestOptions options);

class ClusterClient : public std::enable_shared_from_this<ClusterClient> {
 public:
  ClusterClient(boost::asio::any_io_executor executor, ClientConfig config);
  ~ClusterClient();
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  Task<resp::Value> command(Command command, RequestOptions options);
  Task<std::vector<resp::Value>> execute(const Pipeline& pipeline, RequestOptions options);
  Task<std::vector<resp::Value>> transaction(const Pipeline& pipeline, RequestOptions options);
  Task<resp::Value> eval(const Script& script, const std::vector<std::string>& keys,
                         const std::vector<std::string>& args, RequestOptions options);
  // Loads the slot map (from any seed) and connects to every primary.
  Task<void> connect();
  Task<void> quit();
  void close();

  ClientStats stats() const;
  ConnectionState state() const;
  CircuitBreaker::State breaker_state() const;
  void on_push(std::function<void(resp::Value&&)> handler);
  // Slot map reads so far, successful ones (for tests and logs).
  std::uint64_t topology_refreshes() const noexcept { return refreshes_; }
  // Starts a refresh unless one is running (then it runs once more after it).
  void request_refresh();

 private:
  using ClientPtr = std::shared_ptr<Client>;
  struct Attempt;

  std::size_t node_index(const NodeAddress& address);
  ClientPtr node_of_slot(int slot);
  // The next replica of the slot's shard, or null when none is known (then the primary).
  ClientPtr replica_of_slot(int slot);
  ClientPtr any_primary();
  std::vector<ClientPtr> primary_clients() const;
  void apply(const Topology& topology);
  void retire(std::size_t index);
  std::vector<NodeAddress> refresh_candidates() const;
  static Task<void> refresh_loop(std::shared_ptr<ClusterClient> self);
  Task<bool> refresh_once();
  static Task<void> periodic_refresh(std::weak_ptr<ClusterClient> weak);
  void wake_topology_waiters();
  Task<void> ensure_topology(std::chrono::steady_clock::time_point deadline);
  Task<void> pause_before_retry(Attempt& attempt, const Error& why);

  // `replica_allowed`: a read-only command may go to a replica (read_from_replicas, and not
  // a pipeline's command sent again: the pipeline's own writes are on the primary).
  Task<resp::Value> dispatch(const Command& command, RequestOptions options, bool replica_allowed);
  Task<resp::Value> routed(const Command& command, int slot, RequestOptions options,
                           bool replica_allowed);
  // The same, owning its command: for tasks started later (split parts).
  Task<resp::Value> routed_owned(Command command, int slot, RequestOptions options,
                                 bool replica_allowed);
  Task<resp::Value> split(const Command& command, Route route, RequestOptions options,
                          bool replica_allowed);
  Task<resp::Value> on_every_primary(const Command& command, Routing routing,
                                     RequestOptions options);
  Task<resp::Value> scan(const Command& command, RequestOptions options);
  Task<std::vector<resp::Value>> execute_on(ClientPtr node, Pipeline pipeline,
                                            RequestOptions options);
  std::chrono::steady_clock::time_point deadline_of(const RequestOptions& options) const;
  void log(const std::string& line) const;

  boost::asio::any_io_executor executor_;
  ClientConfig config_;
  std::vector<ClientPtr> nodes_;  // by index; null once retired
  std::unordered_map<std::string, std::size_t> node_by_endpoint_;
  // Node index + 1 of the primary serving each slot; 0 where none is known.
  std::array<std::uint32_t, cluster_slots> slot_node_{};
  std::vector<std::size_t> primaries_;  // node indices, in shard order
  // With read_from_replicas: each slot's shard (-1: none known; also after a MOVED, until the
  // next refresh says who replicates the new owner), and each shard's healthy replicas.
  struct Replicas {
    std::vector<std::size_t> nodes;  // node indices
    std::size_t next = 0;            // round robin
  };
  std::array<std::int16_t, cluster_slots> slot_shard_{};
  std::vector<Replicas> shard_replicas_;
  std::size_t next_any_ = 0;  // round robin for commands without a key
  bool have_topology_ = false;
  bool refreshing_ = false;
  bool refresh_again_ = false;
  bool periodic_started_ = false;
  bool closed_ = false;
  std::string last_refresh_error_;
  std::uint64_t refreshes_ = 0;
  std::vector<boost::asio::steady_timer*> topology_waiters_;
  boost::asio::steady_timer periodic_timer_;
  std::function<void(resp::Value&&)> push_handler_;
};

}  // namespace opencode_cache::valkey::detail
