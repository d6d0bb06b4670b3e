#include "cluster_client.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <set>

#include "cancellation.hpp"
#include "opencode_cache/valkey/reply.hpp"

namespace opencode_cache::valkey::detail {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);

// Waits between retries of TRYAGAIN, CLUSTERDOWN and unreachable nodes: short, since a
// failover or a migration ends in a second or two, and the command's deadline bounds it all.
constexpr std::chrono::milliseconds first_retry_delay{10};
constexpr std::chrono::milliseconds longest_retry_delay{200};

bool says(const ServerError& error, std::string_view prefix) {
  return error.prefix() == prefix;
}

// The node that answered may be gone: errors that say the command was not written.
bool was_not_sent(const Error& error) {
  return error.code() == errc::not_connected || error.code() == errc::circuit_open ||
         error.code() == errc::closed;
}

resp::Value error_value(const ServerError& e) {
  resp::Value value;
  value.type = resp::Type::simple_error;
  value.string = e.message();
  return value;
}

bool is_cluster_retry_reply(const resp::Value& reply) {
  if (!reply.is_error()) return false;
  const std::string_view text = reply.string;
  return text.starts_with("MOVED ") || text.starts_with("ASK ") || text.starts_with("TRYAGAIN") ||
         text.starts_with("CLUSTERDOWN");
}

Task<void> quit_node(std::shared_ptr<Client> client) {
  try {
    co_await client->quit();
  } catch (const std::exception&) {
    // Leaving anyway.
  }
}

Command with_arguments(std::string_view name, const std::vector<std::string_view>& arguments) {
  Command command(name);
  for (const auto argument : arguments) command.arg(argument);
  return command;
}

Pipeline pipeline_of(const Pipeline& whole, const std::vector<std::size_t>& indices) {
  std::map<std::size_t, const Pipeline::ScriptCall*> scripts;
  for (const auto& call : whole.script_calls()) scripts[call.index] = &call;
  Pipeline part;
  for (const std::size_t index : indices) {
    if (auto it = scripts.find(index); it != scripts.end()) {
      part.add(it->second->script, it->second->keys, it->second->args);
    } else {
      part.add(whole.commands()[index]);
    }
  }
  return part;
}

Pipeline asking_then(const Command& command) {
  Pipeline pipeline;
  pipeline.add(Command("ASKING"));
  pipeline.add(command);
  return pipeline;
}

using ValueOp = decltype(asio::co_spawn(std::declval<asio::any_io_executor>(),
                                        std::declval<Task<resp::Value>>(), asio::deferred));
using ValuesOp =
    decltype(asio::co_spawn(std::declval<asio::any_io_executor>(),
                            std::declval<Task<std::vector<resp::Value>>>(), asio::deferred));

// Runs every task at once; the results in the tasks' order, or the first failure rethrown
// once all have finished.
template <class T, class Op>
Task<std::vector<T>> all_of(asio::any_io_executor executor, std::vector<Task<T>> tasks) {
  std::vector<Op> ops;
  ops.reserve(tasks.size());
  for (auto& task : tasks) ops.push_back(asio::co_spawn(executor, std::move(task), asio::deferred));
  auto [order, failures, values] =
      co_await asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
  co_return std::move(values);
}

}  // namespace

Task<std::optional<Topology>> read_slot_map(Client& node, std::string fallback_host,
                                            RequestOptions options) {
  try {
    const resp::Value reply = co_await node.command(Command("CLUSTER", "SHARDS"), options);
    co_return parse_cluster_shards(reply, fallback_host);
  } catch (const ServerError& e) {
    if (!says(e, "ERR")) throw;  // ERR: before Valkey 7, which has only CLUSTER SLOTS
  }
  const resp::Value reply = co_await node.command(Command("CLUSTER", "SLOTS"), options);
  co_return parse_cluster_slots(reply, fallback_host);
}

// The retry state of one command across redirections, retries and refreshes.
struct ClusterClient::Attempt {
  Clock::time_point deadline;
  std::uint32_t redirections = 0;
  std::chrono::milliseconds delay = first_retry_delay;
};

ClusterClient::ClusterClient(asio::any_io_executor executor, ClientConfig config)
    : executor_(std::move(executor)), config_(std::move(config)), periodic_timer_(executor_) {
  slot_shard_.fill(-1);
}

ClusterClient::~ClusterClient() {
  try {
    close();
  } catch (...) {
    // A timer or socket that would not cancel: nothing is left to tell.
  }
}

void ClusterClient::log(const std::string& line) const {
  if (config_.log) config_.log("valkey cluster " + line);
}

Clock::time_point ClusterClient::deadline_of(const RequestOptions& options) const {
  if (options.deadline != Clock::time_point{}) return options.deadline;
  const auto timeout = options.timeout.count() > 0 ? options.timeout : config_.command_timeout;
  return Clock::now() + timeout;
}

std::size_t ClusterClient::node_index(const NodeAddress& address) {
  const std::string endpoint = address.endpoint();
  if (auto it = node_by_endpoint_.find(endpoint); it != node_by_endpoint_.end()) return it->second;
  ClientConfig node_config = config_;
  node_config.cluster = false;
  node_config.cluster_seeds.clear();
  node_config.host = address.host;
  node_config.port = address.port;
  node_config.unix_path.clear();
  node_config.lazy_connect = true;
  // A node's TLS certificate names the cluster's host, not each node's address.
  if (node_config.tls.server_name.empty()) node_config.tls.server_name = config_.host;
  auto client = std::make_shared<Client>(executor_, std::move(node_config));
  if (push_handler_) client->on_push(push_handler_);
  nodes_.push_back(std::move(client));
  node_by_endpoint_[endpoint] = nodes_.size() - 1;
  return nodes_.size() - 1;
}

ClusterClient::ClientPtr ClusterClient::node_of_slot(int slot) {
  if (slot < 0) return any_primary();
  const std::uint32_t node = slot_node_[static_cast<std::size_t>(slot)];
  return node == 0 ? nullptr : nodes_[node - 1];
}

ClusterClient::ClientPtr ClusterClient::replica_of_slot(int slot) {
  const auto shard = slot_shard_[static_cast<std::size_t>(slot)];
  if (shard < 0) return nullptr;
  Replicas& replicas = shard_replicas_[static_cast<std::size_t>(shard)];
  if (replicas.nodes.empty()) return nullptr;
  return nodes_[replicas.nodes[replicas.next++ % replicas.nodes.size()]];
}

ClusterClient::ClientPtr ClusterClient::any_primary() {
  if (primaries_.empty()) return nullptr;
  return nodes_[primaries_[next_any_++ % primaries_.size()]];
}

std::vector<ClusterClient::ClientPtr> ClusterClient::primary_clients() const {
  std::vector<ClientPtr> out;
  for (const std::size_t index : primaries_) {
    if (nodes_[index] && std::find(out.begin(), out.end(), nodes_[index]) == out.end()) {
      out.push_back(nodes_[index]);
    }
  }
  return out;
}

void ClusterClient::apply(const Topology& topology) {
  std::vector<std::size_t> primaries;
  for (const Shard& shard : topology.shards) primaries.push_back(node_index(shard.primary));
  for (std::size_t slot = 0; slot < slot_node_.size(); ++slot) {
    const auto shard = topology.slot_shard[slot];
    slot_node_[slot] = shard < 0 ? 0 : static_cast<std::uint32_t>(primaries[shard] + 1);
  }
  const bool changed = primaries != primaries_;
  primaries_ = std::move(primaries);
  // Replicas get a node only when reads go to them; without the option they are never dialled.
  shard_replicas_.clear();
  if (config_.read_from_replicas) {
    for (const Shard& shard : topology.shards) {
      Replicas replicas;
      for (const NodeAddress& replica : shard.replicas) {
        replicas.nodes.push_back(node_index(replica));
      }
      shard_replicas_.push_back(std::move(replicas));
    }
    slot_shard_ = topology.slot_shard;
  }
  have_topology_ = true;
  // Nodes that serve no slot and replicate none we read from (left, demoted, failed) are
  // closed once what they were sent is answered.
  std::vector<bool> serving(nodes_.size(), false);
  for (const std::size_t index : primaries_) serving[index] = true;
  for (const Replicas& replicas : shard_replicas_) {
    for (const std::size_t index : replicas.nodes) serving[index] = true;
  }
  for (std::size_t index = 0; index < nodes_.size(); ++index) {
    if (nodes_[index] && !serving[index]) retire(index);
  }
  if (changed) log("event=topology primaries=" + std::to_string(primaries_.size()));
}

void ClusterClient::retire(std::size_t index) {
  ClientPtr client = std::move(nodes_[index]);
  for (auto it = node_by_endpoint_.begin(); it != node_by_endpoint_.end();) {
    it = it->second == index ? node_by_endpoint_.erase(it) : std::next(it);
  }
  asio::co_spawn(executor_, quit_node(std::move(client)), asio::detached);
}

std::vector<NodeAddress> ClusterClient::refresh_candidates() const {
  std::vector<NodeAddress> ready;
  std::vector<NodeAddress> others;
  for (const std::size_t index : primaries_) {
    const ClientPtr& node = nodes_[index];
    if (!node) continue;
    const NodeAddress address{node->config().host, node->config().port};
    (node->state() == ConnectionState::ready ? ready : others).push_back(address);
  }
  ready.insert(ready.end(), others.begin(), others.end());
  ready.push_back({config_.host, config_.port});
  for (const auto& [host, port] : config_.cluster_seeds) ready.push_back({host, port});
  std::vector<NodeAddress> unique;
  for (auto& address : ready) {
    if (std::find(unique.begin(), unique.end(), address) == unique.end()) unique.push_back(address);
  }
  return unique;
}

void ClusterClient::request_refresh() {
  if (closed_) return;
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  refreshing_ = true;
  asio::co_spawn(executor_, refresh_loop(shared_from_this()), asio::detached);
}

Task<void> ClusterClient::refresh_loop(std::shared_ptr<ClusterClient> self) {
  do {
    self->refresh_again_ = false;
    bool loaded = false;
    try {
      loaded = co_await self->refresh_once();
    } catch (const std::exception& e) {
      self->last_refresh_error_ = e.what();
    }
    if (loaded) ++self->refreshes_;
    self->wake_topology_waiters();
  } while (self->refresh_again_ && !self->closed_);
  self->refreshing_ = false;
  if (self->have_topology_ && !self->periodic_started_ &&
      self->config_.cluster_refresh_interval.count() > 0) {
    self->periodic_started_ = true;
    asio::co_spawn(self->executor_, periodic_refresh(self), asio::detached);
  }
}

// Asks the nodes that answer first, then the rest and the seeds; the first usable map wins.
Task<bool> ClusterClient::refresh_once() {
  const auto budget = std::min(config_.connect_timeout, std::chrono::milliseconds(1000));
  for (const NodeAddress& address : refresh_candidates()) {
    if (closed_) co_return false;
    const ClientPtr node = nodes_[node_index(address)];
    const RequestOptions options{.timeout = budget, .wait_for_connection = false};
    std::optional<Topology> topology;
    try {
      topology = co_await read_slot_map(*node, address.host, options);
    } catch (const Error& e) {
      last_refresh_error_ = address.endpoint() + ": " + e.detail();
      continue;
    }
    if (!topology || topology->shards.empty()) {
      last_refresh_error_ = address.endpoint() + ": no slot map in its reply";
      continue;
    }
    apply(*topology);
    co_return true;
  }
  log("event=refresh_failed error=\"" + last_refresh_error_ + "\"");
  co_return false;
}

Task<void> ClusterClient::periodic_refresh(std::weak_ptr<ClusterClient> weak) {
  while (true) {
    auto self = weak.lock();
    if (!self || self->closed_) co_return;
    asio::steady_timer& timer = self->periodic_timer_;
    timer.expires_after(self->config_.cluster_refresh_interval);
    self.reset();  // the loop must not keep the client alive
    auto [ec] = co_await timer.async_wait(no_throw);
    if (ec) co_return;
    if (auto again = weak.lock()) again->request_refresh();
  }
}

void ClusterClient::wake_topology_waiters() {
  for (auto* timer : topology_waiters_) timer->cancel();
}

Task<void> ClusterClient::ensure_topology(Clock::time_point deadline) {
  if (have_topology_) co_return;
  request_refresh();
  asio::steady_timer timer(executor_);
  while (!have_topology_) {
    if (closed_) throw Error(errc::closed, "the client was closed");
    if (Clock::now() >= deadline) {
      throw Error(errc::timeout, "no cluster slot map within the deadline: " + last_refresh_error_);
    }
    if (!refreshing_) {
      throw Error(errc::not_connected,
                  "no node of the cluster gave its slot map: " + last_refresh_error_);
    }
    timer.expires_at(deadline);
    topology_waiters_.push_back(&timer);
    co_await timer.async_wait(no_throw);
    std::erase(topology_waiters_, &timer);
    throw_if_cancelled(co_await asio::this_coro::cancellation_state);
  }
}

Task<void> ClusterClient::pause_before_retry(Attempt& attempt, const Error& why) {
  if (Clock::now() + attempt.delay >= attempt.deadline) {
    throw Error(errc::timeout,
                "the cluster did not serve the command within its deadline: " + why.detail());
  }
  asio::steady_timer timer(executor_, attempt.delay);
  co_await timer.async_wait(no_throw);
  throw_if_cancelled(co_await asio::this_coro::cancellation_state);
  attempt.delay = std::min(attempt.delay * 2, longest_retry_delay);
  if (closed_) throw Error(errc::closed, "the client was closed");
}

// One command to the node of `slot`, following redirections. Only resent when the server
// said it did not run it, or it was never written, or it only reads (after a replica failed).
Task<resp::Value> ClusterClient::routed(const Command& command, int slot, RequestOptions options,
                                        bool replica_allowed) {
  Attempt attempt{.deadline = deadline_of(options)};
  options.deadline = attempt.deadline;
  const bool wait = options.wait_for_connection;
  options.wait_for_connection = false;  // waiting for a node is done here, across nodes
  // A read lost with a replica's connection fails at once here and goes to the primary,
  // instead of waiting in that replica's queue for it to come back.
  RequestOptions replica_options = options;
  replica_options.resend_after_disconnect = false;
  if (!have_topology_) co_await ensure_topology(attempt.deadline);
  // Only the first attempt may go to a replica: after a redirection, a retry or a failure the
  // primary answers, so a replica that lost the slot or died costs one round trip, never a loop.
  bool replica_first =
      replica_allowed && config_.read_from_replicas && slot >= 0 && may_read_from_replica(command);
  std::optional<NodeAddress> ask;
  while (true) {
    std::optional<ServerError> refused;
    std::optional<Error> failed;
    ClientPtr node = replica_first ? replica_of_slot(slot) : nullptr;
    const bool on_replica = node != nullptr;
    replica_first = false;
    if (!node) node = ask ? nodes_[node_index(*ask)] : node_of_slot(slot);
    const bool asking = ask.has_value();
    ask.reset();
    if (!node) {
      failed = Error(errc::not_connected, "no node serves slot " + std::to_string(slot));
    } else {
      try {
        if (on_replica) co_return co_await node->command(command, replica_options);
        if (!asking) co_return co_await node->command(command, options);
        std::vector<resp::Value> replies = co_await node->execute(asking_then(command), options);
        reply::throw_if_error(replies.at(1));
        co_return std::move(replies.at(1));
      } catch (const ServerError& e) {
        refused = e;
      } catch (const Error& e) {
        failed = e;
      }
    }
    if (refused) {
      const auto redirection = parse_redirection(refused->message(), config_.host);
      if (redirection) {
        if (++attempt.redirections > config_.cluster_max_redirections) throw *refused;
        if (redirection->kind == Redirection::Kind::moved) {
          const auto moved_slot = static_cast<std::size_t>(redirection->slot);
          slot_node_[moved_slot] = static_cast<std::uint32_t>(node_index(redirection->target) + 1);
          // Who replicates the new owner is known after the refresh; until then, its primary.
          slot_shard_[moved_slot] = -1;
          request_refresh();
        } else {
          ask = redirection->target;
        }
        continue;
      }
      if (!says(*refused, "TRYAGAIN") && !says(*refused, "CLUSTERDOWN")) throw *refused;
      if (says(*refused, "CLUSTERDOWN")) request_refresh();
      co_await pause_before_retry(attempt, *refused);
      continue;
    }
    // A replica lost, closed or not connected: the read goes to the primary at once, since
    // sending a read again changes nothing whether or not the replica ran it. Not after its
    // deadline (shared by every attempt) or a cancellation.
    if (on_replica && failed->code() != errc::timeout && failed->code() != errc::cancelled &&
        !closed_) {
      request_refresh();
      continue;
    }
    // A lost connection or a timeout may mean a failover: the map is read again, but the
    // command, which may have run, is not resent.
    request_refresh();
    if (!was_not_sent(*failed) || closed_ || !wait) throw *failed;
    co_await pause_before_retry(attempt, *failed);
  }
}

Task<resp::Value> ClusterClient::routed_owned(Command command, int slot, RequestOptions options,
                                              bool replica_allowed) {
  co_return co_await routed(command, slot, options, replica_allowed);
}

// MGET, DEL, UNLINK, EXISTS, TOUCH and MSET over several slots: one command per slot, sent at
// once, replies put back in the caller's order (MGET) or added up (the counts).
Task<resp::Value> ClusterClient::split(const Command& command, Route route, RequestOptions options,
                                       bool replica_allowed) {
  const std::size_t step = route.routing == Routing::split_pairs ? 2 : 1;
  std::map<int, std::vector<std::size_t>> by_slot;  // slot -> argument indices of its keys
  for (std::size_t i = 1; i + step - 1 < command.argument_count(); i += step) {
    by_slot[key_slot(command.argument(i))].push_back(i);
  }
  if (by_slot.size() <= 1) {
    const int slot = by_slot.empty() ? no_slot : by_slot.begin()->first;
    co_return co_await routed(command, slot, options, replica_allowed);
  }
  options.deadline = deadline_of(options);
  std::vector<Task<resp::Value>> parts;
  std::vector<std::vector<std::size_t>> positions;
  for (const auto& [slot, indices] : by_slot) {
    std::vector<std::string_view> arguments;
    for (const std::size_t i : indices) {
      for (std::size_t k = 0; k < step; ++k) arguments.push_back(command.argument(i + k));
    }
    parts.push_back(
        routed_owned(with_arguments(command.name(), arguments), slot, options, replica_allowed));
    positions.push_back(indices);
  }
  std::vector<resp::Value> replies =
      co_await all_of<resp::Value, ValueOp>(executor_, std::move(parts));
  if (route.routing == Routing::split_pairs) co_return std::move(replies.front());
  resp::Value merged;
  if (replies.front().type == resp::Type::integer) {
    merged.type = resp::Type::integer;
    for (const auto& reply : replies) merged.integer += reply.integer;
    co_return merged;
  }
  merged.type = resp::Type::array;
  merged.elements.resize(command.argument_count() - 1);
  for (std::size_t part = 0; part < replies.size(); ++part) {
    for (std::size_t k = 0; k < positions[part].size() && k < replies[part].elements.size(); ++k) {
      merged.elements[positions[part][k] - 1] = std::move(replies[part].elements[k]);
    }
  }
  co_return merged;
}

Task<resp::Value> ClusterClient::on_every_primary(const Command& command, Routing routing,
                                                  RequestOptions options) {
  options.deadline = deadline_of(options);
  if (!have_topology_) co_await ensure_topology(options.deadline);
  std::vector<Task<resp::Value>> parts;
  for (const ClientPtr& node : primary_clients()) parts.push_back(node->command(command, options));
  std::vector<resp::Value> replies =
      co_await all_of<resp::Value, ValueOp>(executor_, std::move(parts));
  if (replies.empty()) throw Error(errc::not_connected, "the cluster has no primary");
  if (routing == Routing::every_primary) co_return std::move(replies.front());
  resp::Value merged;
  if (routing == Routing::sum_primaries) {
    merged.type = resp::Type::integer;
    for (const auto& reply : replies) merged.integer += reply.integer;
  } else {
    merged.type = resp::Type::array;
    for (auto& reply : replies) {
      for (auto& element : reply.elements) merged.elements.push_back(std::move(element));
    }
  }
  co_return merged;
}

// A cluster-wide SCAN: the cursor "S:C" is cursor C on the primary that owns slot S, the
// lowest slot of its shard; the primaries are walked by that slot. "0" starts and ends, as
// on one node. A shard that fails over keeps its slots, so a cursor survives it.
Task<resp::Value> ClusterClient::scan(const Command& command, RequestOptions options) {
  options.deadline = deadline_of(options);
  if (!have_topology_) co_await ensure_topology(options.deadline);
  std::vector<int> first_slots;  // the lowest slot of each primary, ascending
  {
    std::set<std::uint32_t> seen;
    for (std::size_t slot = 0; slot < slot_node_.size(); ++slot) {
      if (slot_node_[slot] != 0 && seen.insert(slot_node_[slot]).second) {
        first_slots.push_back(static_cast<int>(slot));
      }
    }
  }
  if (first_slots.empty()) throw Error(errc::not_connected, "the cluster serves no slot");
  const std::string_view cursor = command.argument(1);
  int slot = first_slots.front();
  std::string node_cursor = "0";
  if (cursor != "0") {
    const auto colon = cursor.find(':');
    if (colon == std::string_view::npos) {
      throw Error(errc::unexpected_reply, "not a cluster SCAN cursor: " + std::string(cursor));
    }
    slot = std::stoi(std::string(cursor.substr(0, colon)));
    node_cursor = cursor.substr(colon + 1);
  }
  std::vector<std::string_view> arguments;
  arguments.emplace_back(node_cursor);
  for (std::size_t i = 2; i < command.argument_count(); ++i) {
    arguments.push_back(command.argument(i));
  }
  resp::Value reply = co_await routed(with_arguments("SCAN", arguments), slot, options, false);
  if (reply.type != resp::Type::array || reply.elements.size() != 2) co_return reply;
  std::string next = reply.elements[0].string;
  if (next == "0") {
    const auto later = std::upper_bound(first_slots.begin(), first_slots.end(), slot);
    next = later == first_slots.end() ? "0" : std::to_string(*later) + ":0";
  } else {
    next = std::to_string(slot) + ":" + next;
  }
  reply.elements[0].type = resp::Type::bulk_string;
  reply.elements[0].string = std::move(next);
  co_return reply;
}

Task<resp::Value> ClusterClient::command(Command command, RequestOptions options) {
  auto self = shared_from_this();
  co_return co_await dispatch(command, options, true);
}

// Not a coroutine: it hands back the task of the routing it picks, one frame fewer on every
// command. Every caller awaits it at once, so `command` outlives the task.
Task<resp::Value> ClusterClient::dispatch(const Command& command, RequestOptions options,
                                          bool replica_allowed) {
  const Route route = route_of(command);
  switch (route.routing) {
    case Routing::by_key:
    case Routing::by_script_keys: {
      const int slot = command_slot(command, route);
      if (slot == cross_slot) {
        throw Error(errc::cross_slot, std::string(command.name()) + " names keys of several slots");
      }
      return routed(command, slot, options, replica_allowed);
    }
    case Routing::any_node: return routed(command, no_slot, options, false);
    case Routing::split_keys:
    case Routing::split_pairs: return split(command, route, options, replica_allowed);
    case Routing::every_primary:
    case Routing::sum_primaries:
    case Routing::concat_primaries: return on_every_primary(command, route.routing, options);
    case Routing::scan: return scan(command, options);
  }
  return routed(command, no_slot, options, false);
}

// Owns what it sends: started by all_of after the caller's temporaries are gone.
Task<std::vector<resp::Value>> ClusterClient::execute_on(ClientPtr node, Pipeline pipeline,
                                                         RequestOptions options) {
  co_return co_await node->execute(pipeline, options);
}

// A pipeline split by node, each part one pipeline sent at once; replies put back in order.
// A command a node redirected (MOVED, ASK) or asked to retry is then sent again alone, routed
// as any command. The parts run side by side: their order across nodes is not kept.
Task<std::vector<resp::Value>> ClusterClient::execute(const Pipeline& pipeline,
                                                      RequestOptions options) {
  auto self = shared_from_this();
  if (pipeline.empty()) co_return std::vector<resp::Value>{};
  options.deadline = deadline_of(options);
  if (!have_topology_) co_await ensure_topology(options.deadline);
  std::map<ClientPtr, std::vector<std::size_t>> by_node;
  std::vector<ClientPtr> order;
  ClientPtr keyless_node;
  for (std::size_t i = 0; i < pipeline.size(); ++i) {
    const Command& command = pipeline.commands()[i];
    const Route route = route_of(command);
    int slot = command_slot(command, route);
    if (route.routing == Routing::split_keys || route.routing == Routing::split_pairs) {
      slot = command.argument_count() > 1 ? key_slot(command.argument(1)) : no_slot;
    }
    ClientPtr node;
    if (slot >= 0) {
      node = node_of_slot(slot);
    } else {
      if (!keyless_node) keyless_node = order.empty() ? any_primary() : order.front();
      node = keyless_node;
    }
    if (!node) throw Error(errc::not_connected, "no node serves slot " + std::to_string(slot));
    if (by_node.find(node) == by_node.end()) order.push_back(node);
    by_node[node].push_back(i);
  }
  std::vector<Task<std::vector<resp::Value>>> parts;
  parts.reserve(order.size());
  for (const ClientPtr& node : order) {
    parts.push_back(execute_on(node, pipeline_of(pipeline, by_node[node]), options));
  }
  std::vector<std::vector<resp::Value>> replies =
      co_await all_of<std::vector<resp::Value>, ValuesOp>(executor_, std::move(parts));
  std::vector<resp::Value> merged(pipeline.size());
  for (std::size_t part = 0; part < order.size(); ++part) {
    const auto& indices = by_node[order[part]];
    for (std::size_t k = 0; k < indices.size(); ++k) {
      merged[indices[k]] = std::move(replies[part].at(k));
    }
  }
  for (std::size_t i = 0; i < merged.size(); ++i) {
    if (!is_cluster_retry_reply(merged[i])) continue;
    try {
      merged[i] = co_await dispatch(pipeline.commands()[i], options, false);
    } catch (const ServerError& e) {
      merged[i] = error_value(e);
    }
  }
  co_return merged;
}

// MULTI ... EXEC runs on one node: every key must be in one slot. A MOVED while queueing
// (EXECABORT, nothing ran) sends it again to the new owner.
Task<std::vector<resp::Value>> ClusterClient::transaction(const Pipeline& pipeline,
                                                          RequestOptions options) {
  auto self = shared_from_this();
  int slot = no_slot;
  for (const Command& command : pipeline.commands()) {
    const Route route = route_of(command);
    std::vector<int> slots;
    if (route.routing == Routing::split_keys || route.routing == Routing::split_pairs) {
      const std::size_t step = route.routing == Routing::split_pairs ? 2 : 1;
      for (std::size_t i = 1; i < command.argument_count(); i += step) {
        slots.push_back(key_slot(command.argument(i)));
      }
    } else {
      slots.push_back(command_slot(command, route));
    }
    for (const int next : slots) {
      if (next == no_slot) continue;
      if (next == cross_slot || (slot != no_slot && next != slot)) {
        throw Error(errc::cross_slot,
                    "a transaction on a cluster must keep its keys in one slot (use a {hash tag})");
      }
      slot = next;
    }
  }
  Attempt attempt{.deadline = deadline_of(options)};
  options.deadline = attempt.deadline;
  if (!have_topology_) co_await ensure_topology(attempt.deadline);
  while (true) {
    const ClientPtr node = node_of_slot(slot);
    if (!node) throw Error(errc::not_connected, "no node serves slot " + std::to_string(slot));
    std::optional<ServerError> refused;
    try {
      co_return co_await node->transaction(pipeline, options);
    } catch (const ServerError& e) {
      refused = e;
    }
    const bool moved = refused->message().find("MOVED") != std::string::npos;
    if (!moved || ++attempt.redirections > config_.cluster_max_redirections) throw *refused;
    request_refresh();
    co_await pause_before_retry(attempt, *refused);
  }
}

// EVALSHA on the node of the script's keys, EVAL there after NOSCRIPT (each node has its own
// script cache). After ASK, EVAL at once: the target may not know the script either.
Task<resp::Value> ClusterClient::eval(const Script& script, const std::vector<std::string>& keys,
                                      const std::vector<std::string>& args,
                                      RequestOptions options) {
  auto self = shared_from_this();
  int slot = no_slot;
  for (const auto& key : keys) {
    const int next = key_slot(key);
    if (slot != no_slot && next != slot) {
      throw Error(errc::cross_slot, "a script on a cluster must keep its keys in one slot");
    }
    slot = next;
  }
  options.deadline = deadline_of(options);
  resp::Value reply;
  bool unknown_script = false;
  try {
    reply = co_await routed(script.evalsha(keys, args), slot, options, false);
  } catch (const ServerError& e) {
    if (e.prefix() != "NOSCRIPT") throw;
    unknown_script = true;
  }
  if (unknown_script) {
    throw_if_cancelled(co_await asio::this_coro::cancellation_state);
    reply = co_await routed(script.eval(keys, args), slot, options, false);
  }
  co_return reply;
}

Task<void> ClusterClient::connect() {
  auto self = shared_from_this();
  const auto deadline = Clock::now() + config_.command_timeout;
  if (!have_topology_) co_await ensure_topology(deadline);
  for (const ClientPtr& node : primary_clients()) co_await node->connect();
}

Task<void> ClusterClient::quit() {
  auto self = shared_from_this();
  for (const ClientPtr& node : nodes_) {
    if (node) co_await node->quit();
  }
  close();
}

void ClusterClient::close() {
  if (closed_) return;
  closed_ = true;
  periodic_timer_.cancel();
  wake_topology_waiters();
  for (const ClientPtr& node : nodes_) {
    if (node) node->close();
  }
}

ClientStats ClusterClient::stats() const {
  ClientStats total;
  for (const ClientPtr& node : nodes_) {
    if (!node) continue;
    const ClientStats s = node->stats();
    total.connects += s.connects;
    total.connect_failures += s.connect_failures;
    total.disconnects += s.disconnects;
    total.timeouts += s.timeouts;
    total.protocol_errors += s.protocol_errors;
    total.writes += s.writes;
    total.breaker_rejections += s.breaker_rejections;
    total.breaker_transitions += s.breaker_transitions;
    total.cancellations += s.cancellations;
    total.health_check_resets += s.health_check_resets;
    total.push_handler_errors += s.push_handler_errors;
  }
  return total;
}

ConnectionState ClusterClient::state() const {
  if (closed_) return ConnectionState::closed;
  if (!have_topology_) return refreshing_ ? ConnectionState::connecting : ConnectionState::idle;
  bool any_ready = false;
  bool all_ready = true;
  for (const std::size_t index : primaries_) {
    const bool ready = nodes_[index] && nodes_[index]->state() == ConnectionState::ready;
    any_ready = any_ready || ready;
    all_ready = all_ready && ready;
  }
  if (all_ready) return ConnectionState::ready;
  return any_ready ? ConnectionState::reconnecting : ConnectionState::connecting;
}

// Open only when every primary's breaker is: one failed shard does not stop the others.
CircuitBreaker::State ClusterClient::breaker_state() const {
  bool all_open = !primaries_.empty();
  for (const std::size_t index : primaries_) {
    if (!nodes_[index] || nodes_[index]->breaker_state() != CircuitBreaker::State::open) {
      all_open = false;
    }
  }
  return all_open ? CircuitBreaker::State::open : CircuitBreaker::State::closed;
}

void ClusterClient::on_push(std::function<void(resp::Value&&)> handler) {
  push_handler_ = std::move(handler);
  for (const ClientPtr& node : nodes_) {
    if (node) node->on_push(push_handler_);
  }
}

}  // namespace opencode_cache::valkey::detail
