#include "opencode_cache/valkey/subscriber.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cluster_client.hpp"
#include "cluster_topology.hpp"
#include "connection.hpp"
#include "connection_supervisor.hpp"
#include "handshake.hpp"
#include "race.hpp"
#include "shard_placement.hpp"
#include "subscription_set.hpp"
#include "supervised_loop.hpp"

namespace opencode_cache::valkey {
namespace asio = boost::asio;

namespace {

constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;
using Kind = Subscription::Kind;
using detail::NodeAddress;

// Between slot map reads while a sharded channel has no node, or a node asked to wait
// (CLUSTERDOWN, TRYAGAIN, ASK during a migration): a failover or a migration ends within a
// second or two, and reading faster would only load the cluster.
constexpr std::chrono::milliseconds refresh_pause{100};

std::string describe(const Subscription& subscription) {
  const char* kind = subscription.kind == Kind::channel   ? "channel="
                     : subscription.kind == Kind::pattern ? "pattern="
                                                          : "shard_channel=";
  return kind + subscription.name;
}

// g++ 12 destroys a braced temporary in a co_await expression twice: name it in a plain
// function first.
Subscription channel_named(std::string name) {
  return {Kind::channel, std::move(name)};
}

Subscription pattern_named(std::string name) {
  return {Kind::pattern, std::move(name)};
}

Subscription shard_channel_named(std::string name) {
  return {Kind::shard_channel, std::move(name)};
}

// A handler failing on every message would flood the log: the 1st, 2nd, 4th, 8th... failure
// is logged, with the running count.
bool worth_logging(std::uint64_t count) {
  return (count & (count - 1)) == 0;
}

bool says(const std::string& error, std::string_view prefix) {
  return error.starts_with(prefix) &&
         (error.size() == prefix.size() || error[prefix.size()] == ' ');
}

}  // namespace

// The Subscriber: what its connections share (handlers' stream, waiting callers, stats) and,
// on a cluster, where sharded channels go. Connections are Links: the main one for channels
// and patterns (and, on one node, sharded channels too), and on a cluster one per primary
// that holds sharded channels.
struct Subscriber::Impl : std::enable_shared_from_this<Impl> {
  struct Link;
  // What unsubscribing left to wait for: the command's confirmation on its link.
  struct Pending {
    std::shared_ptr<Link> link;
    std::uint64_t command = 0;
  };

  Impl(asio::any_io_executor ex, ClientConfig cfg, SubscriberOptions opts);

  asio::any_io_executor executor;
  ClientConfig config;
  SubscriberOptions options;
  std::shared_ptr<Link> main;
  // Cluster only: sharded channels' connections, by node endpoint, and where each channel is.
  std::map<std::string, std::shared_ptr<Link>> shard_links;
  detail::ShardPlacement placement;
  std::map<std::string, MessageHandler> shard_handlers;
  std::unique_ptr<Client> topology_client;  // reads the slot map, from any node
  std::optional<detail::Topology> topology;
  bool refreshing = false;
  bool refresh_again = false;
  asio::steady_timer refresh_timer;
  std::function<void()> on_resubscribed;
  std::deque<Message> inbox;  // messages of handler-less subscriptions, for next()
  // Timers of callers waiting for a change; every change cancels them all and each caller
  // checks its own condition again (few callers ever wait at once).
  std::vector<asio::steady_timer*> waiters;
  bool closed = false;
  SubscriberStats stats;

  bool sharded_on_cluster(const Subscription& subscription) const {
    return config.cluster && subscription.kind == Kind::shard_channel;
  }
  void log(const std::string& line) const {
    if (config.log) config.log("valkey pubsub " + line);
  }
  void wake_waiters() {
    for (asio::steady_timer* timer : waiters) timer->cancel();
  }
  Clock::time_point command_deadline() const { return Clock::now() + config.command_timeout; }

  ClientConfig node_config(const NodeAddress& address) const;
  std::vector<NodeAddress> seeds() const;
  void close();
  asio::awaitable<bool> wait_for(const std::function<bool()>& done, Clock::time_point deadline);

  // Links report here.
  void deliver(PubSubEvent& event);
  void report_handler_error(const Message& message, const std::string& what);
  void resubscribed();
  void on_subscribed(const Subscription& subscription);
  void on_refused(Link& link, const PubSubEvent& event);
  void on_dropped(const Subscription& subscription);
  void on_link_trouble();

  // Sharded channels on a cluster.
  Link* link_of(const Subscription& subscription);
  bool wanted(const Subscription& subscription);
  std::shared_ptr<Link> shard_link(const NodeAddress& node);
  void carry_out(const detail::ShardPlacement::Move& move);
  void place_unplaced();
  void retire_idle_links();
  void request_refresh();
  static asio::awaitable<void> refresh_loop(std::shared_ptr<Impl> self);
  asio::awaitable<void> refresh_once();
  void apply(detail::Topology map);

  // The Subscriber's calls.
  void want(const Subscription& subscription, MessageHandler handler);
  bool subscribe_answered(const Subscription& subscription);
  std::optional<Pending> drop(const Subscription& subscription);
  asio::awaitable<void> subscribe(const Subscription& subscription, MessageHandler handler);
  asio::awaitable<void> unsubscribe(const Subscription& subscription);
  asio::awaitable<void> ping();
  asio::awaitable<Message> next();
};

// One pub/sub connection: its subscription set, reconnects and health check. On a cluster
// the main link tries `candidates` in turn, one per attempt, so that a dead node is left for
// the next one; a sharded link has its one node.
struct Subscriber::Impl::Link : std::enable_shared_from_this<Link> {
  Link(Impl& owner, ClientConfig cfg, std::vector<NodeAddress> nodes)
      : hub(owner),
        config(std::move(cfg)),
        candidates(std::move(nodes)),
        connection(hub.executor, config.parser_limits),
        supervisor_(detail::supervisor_policy(config)),
        write_signal(hub.executor),
        backoff_timer(hub.executor),
        health_timer(hub.executor) {}

  // The Impl outlives its links' calls: each running loop holds it.
  Impl& hub;
  ClientConfig config;  // host and port: the node tried last
  std::vector<NodeAddress> candidates;
  std::size_t next_candidate = 0;
  Connection connection;
  SubscriptionSet set;
  detail::ConnectionSupervisor supervisor_;
  std::minstd_rand random{std::random_device{}()};
  asio::steady_timer write_signal;   // the writer sleeps on it; cancel() wakes it
  asio::steady_timer backoff_timer;  // the pause between reconnect attempts
  asio::steady_timer health_timer;
  // After a reconnect (or channels moved here), the last command that restores them.
  std::optional<std::uint64_t> restored_through;
  bool restore_on_connect = false;  // channels moved here before it connected
  std::string outbox;
  ConnectionState state = ConnectionState::idle;
  bool loop_running = false;
  std::optional<Error> refusal;  // set while reconnecting cannot help: fails callers at once
  std::string last_error;
  std::uint64_t connects = 0;

  void log(const std::string& line) const { hub.log(line + " endpoint=" + config.endpoint()); }

  // `bytes` came from the SubscriptionSet, which counted the command(s) as sent.
  void send(const std::string& bytes) {
    if (bytes.empty()) return;
    if (waiting_since_nothing()) {
      supervisor_.on_first_in_flight(detail::ConnectionSupervisor::Clock::now());
    }
    outbox += bytes;
    write_signal.cancel();
  }

  // Before this send, everything sent had been answered (the set already counts this one).
  bool waiting_since_nothing() const {
    return set.last_sent() > 0 && set.settled(set.last_sent() - 1);
  }

  // Wants `subscription` here; `again` when it was subscribed elsewhere before (moved):
  // on_resubscribed is told once it is confirmed.
  void add(const Subscription& subscription, MessageHandler handler, bool again) {
    send(set.subscribe(subscription, std::move(handler)));
    if (again) {
      if (set.connected()) {
        restored_through = set.last_sent();
      } else {
        restore_on_connect = true;
      }
    }
    start_loop();
  }

  void start_loop() {
    if (loop_running || state == ConnectionState::closed) return;
    loop_running = true;
    refusal.reset();  // a new loop after giving up tries again
    asio::co_spawn(hub.executor, run_loop(shared_from_this(), hub.shared_from_this()),
                   asio::detached);
  }

  void close() {
    if (state == ConnectionState::closed) return;
    state = ConnectionState::closed;
    connection.close();
    write_signal.cancel();
    backoff_timer.cancel();
    health_timer.cancel();
  }

  static asio::awaitable<void> run_loop(std::shared_ptr<Link> self, std::shared_ptr<Impl> hub) {
    try {
      co_await detail::run_supervised(*self);
    } catch (const std::exception& e) {
      self->log(std::string("event=loop_failed error=\"") + e.what() + "\"");
    }
    self->loop_running = false;
    hub->wake_waiters();
  }

  // What detail::run_supervised asks of its node.
  detail::ConnectionSupervisor& supervisor() { return supervisor_; }
  asio::steady_timer& pause_timer() { return backoff_timer; }
  double jitter() { return std::uniform_real_distribution<double>(0, 1)(random); }
  bool closed() const { return state == ConnectionState::closed; }
  bool awaiting_reply() const { return !set.settled(set.last_sent()); }
  std::uint64_t bytes_received() const { return connection.bytes_received(); }
  void on_dead_connection() { ++hub.stats.health_check_resets; }
  void send_health_ping() { send(set.ping()); }

  // No ready check: SUBSCRIBE works while the server loads its dataset.
  asio::awaitable<void> establish() {
    state = connects == 0 ? ConnectionState::connecting : ConnectionState::reconnecting;
    if (!candidates.empty()) {
      const NodeAddress& node = candidates[next_candidate++ % candidates.size()];
      config.host = node.host;
      config.port = node.port;
    }
    auto attempt = [this]() -> asio::awaitable<void> {
      co_await connection.connect(config);
      co_await handshake();
    };
    if (!co_await detail::finishes_within(attempt(), config.connect_timeout)) {
      throw Error(errc::timeout, "no answer to the handshake within " +
                                     std::to_string(config.connect_timeout.count()) + " ms");
    }
  }

  // Always RESP3 (pushes), no SELECT (channels belong to no database), and a name of its own
  // so that CLIENT LIST tells the subscriber from the command connection.
  asio::awaitable<void> handshake() {
    ClientConfig subscriber_config = config;
    subscriber_config.protocol = 3;
    subscriber_config.database = 0;
    if (!subscriber_config.client_name.empty()) subscriber_config.client_name += "-subscriber";
    co_await detail::run_handshake(connection, subscriber_config);
  }

  void on_connected() {
    refusal.reset();
    state = ConnectionState::ready;
    const bool again = connects > 0 || restore_on_connect;
    restore_on_connect = false;
    ++connects;
    ++hub.stats.connects;
    log("event=connected subscriptions=" + std::to_string(set.size()));
    outbox.clear();
    send(set.on_connected());  // everything wanted, in one write
    if (again) restored_through = set.last_sent();
    hub.wake_waiters();
    tell_if_resubscribed();
  }

  // Messages published while disconnected are lost: once every restored subscription is
  // confirmed, the resubscribed handler lets users of invalidations flush what they hold.
  void tell_if_resubscribed() {
    if (!restored_through || !set.settled(*restored_through)) return;
    restored_through.reset();
    hub.resubscribed();
  }

  void on_connect_failed(const Error& e, detail::ConnectionSupervisor::Step next) {
    connection.close();
    ++hub.stats.connect_failures;
    // Retrying cannot fix credentials or certificates: fail waiting callers now rather than at
    // their deadline.
    if (detail::is_configuration_failure(e.code())) refusal = e;
    const auto attempt = supervisor_.failed_attempts();
    if (next.action == detail::ConnectionSupervisor::Action::give_up) {
      give_up(attempt - 1, e.detail());
      return;
    }
    hub.wake_waiters();
    log("event=reconnecting attempt=" + std::to_string(attempt) +
        " delay_ms=" + std::to_string(next.delay.count()) + " error=\"" + e.detail() + "\"");
    hub.on_link_trouble();
  }

  void give_up(std::uint32_t attempts, const std::string& why) {
    log("event=gave_up attempts=" + std::to_string(attempts) + " error=\"" + why + "\"");
    refusal = Error(errc::not_connected,
                    "gave up after " + std::to_string(attempts) + " reconnect attempts: " + why);
    state = ConnectionState::idle;
    hub.wake_waiters();
  }

  void on_connection_lost(detail::ConnectionSupervisor::Step next) {
    ++hub.stats.disconnects;
    state = ConnectionState::reconnecting;
    log("event=disconnected error=\"" + last_error + "\"");
    if (next.action == detail::ConnectionSupervisor::Action::give_up) {
      give_up(supervisor_.failed_attempts() - 1, last_error);
    }
    hub.on_link_trouble();
  }

  asio::awaitable<void> serve() {
    try {
      co_await detail::run_connection(*this, read_loop(), write_loop(), health_timer);
    } catch (const std::exception& e) {
      last_error = e.what();
    }
    connection.close();
    set.on_disconnected();
    restored_through.reset();
    hub.wake_waiters();  // pings in flight are lost, unsubscribes settled
  }

  asio::awaitable<void> read_loop() {
    std::vector<resp::Value> frames;
    while (true) {
      frames.clear();
      co_await connection.read_replies(frames);
      supervisor_.on_bytes_read(detail::ConnectionSupervisor::Clock::now());
      for (resp::Value& frame : frames) {
        if (closed()) co_return;
        handle(set.on_frame(std::move(frame)));
      }
    }
  }

  asio::awaitable<void> write_loop() {
    while (true) {
      while (outbox.empty()) {
        write_signal.expires_at(asio::steady_timer::time_point::max());
        co_await write_signal.async_wait(no_throw);
        auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        if (cancelled != asio::cancellation_type::none) co_return;
      }
      const std::string bytes = std::exchange(outbox, {});
      co_await connection.write(bytes);
    }
  }

  void handle(PubSubEvent&& event) {
    switch (event.type) {
      case PubSubEvent::Type::message: hub.deliver(event); return;
      case PubSubEvent::Type::ignored: return;
      case PubSubEvent::Type::subscribed:
        ++hub.stats.confirmations;
        hub.on_subscribed(event.subscription);
        break;
      case PubSubEvent::Type::refused:
        log("event=refused " + describe(event.subscription) + " error=\"" + event.error + "\"");
        hub.on_refused(*this, event);
        break;
      case PubSubEvent::Type::dropped:
        log("event=dropped_by_server " + describe(event.subscription));
        hub.on_dropped(event.subscription);
        break;
      case PubSubEvent::Type::unsubscribed:
      case PubSubEvent::Type::pong: break;
    }
    hub.wake_waiters();
    tell_if_resubscribed();
  }
};

Subscriber::Impl::Impl(asio::any_io_executor ex, ClientConfig cfg, SubscriberOptions opts)
    : executor(std::move(ex)), config(std::move(cfg)), options(opts), refresh_timer(executor) {
  const NodeAddress first{config.host, config.port};
  std::vector<NodeAddress> candidates;
  if (config.cluster) candidates = seeds();
  main = std::make_shared<Link>(*this, node_config(first), std::move(candidates));
}

// One node's settings: a cluster's seeds and mode stay with the Subscriber.
ClientConfig Subscriber::Impl::node_config(const NodeAddress& address) const {
  ClientConfig node = config;
  if (!config.cluster) return node;
  node.cluster = false;
  node.cluster_seeds.clear();
  node.host = address.host;
  node.port = address.port;
  node.unix_path.clear();
  node.read_from_replicas = false;  // a subscriber reads no keys: no READONLY
  // A node's TLS certificate names the cluster's host, not each node's address.
  if (node.tls.server_name.empty()) node.tls.server_name = config.host;
  return node;
}

std::vector<NodeAddress> Subscriber::Impl::seeds() const {
  std::vector<NodeAddress> out{{config.host, config.port}};
  for (const auto& [host, port] : config.cluster_seeds) out.push_back({host, port});
  return out;
}

void Subscriber::Impl::close() {
  if (closed) return;
  closed = true;
  main->close();
  for (auto& [endpoint, link] : shard_links) link->close();
  shard_links.clear();
  refresh_timer.cancel();
  if (topology_client) topology_client->close();
  wake_waiters();
}

// Waits until `done()` holds; false when `deadline` came first. Throws Error(closed).
asio::awaitable<bool> Subscriber::Impl::wait_for(const std::function<bool()>& done,
                                                 Clock::time_point deadline) {
  asio::steady_timer timer(executor);
  waiters.push_back(&timer);
  struct Unregister {
    std::vector<asio::steady_timer*>& all;
    asio::steady_timer* mine;
    ~Unregister() { std::erase(all, mine); }
  } unregister{waiters, &timer};
  while (true) {
    if (closed) throw Error(errc::closed, "the subscriber was closed");
    if (done()) co_return true;
    if (Clock::now() >= deadline) co_return false;
    timer.expires_at(deadline);
    co_await timer.async_wait(no_throw);
  }
}

void Subscriber::Impl::deliver(PubSubEvent& event) {
  if (*event.handler) {
    ++stats.messages;
    try {
      (*event.handler)(event.message);
    } catch (const std::exception& e) {
      report_handler_error(event.message, e.what());
    } catch (...) {
      report_handler_error(event.message, "an exception that is not a std::exception");
    }
    return;
  }
  if (inbox.size() >= options.max_buffered_messages) {
    if (worth_logging(++stats.dropped_messages)) {
      log("event=message_dropped reason=buffer_full dropped=" +
          std::to_string(stats.dropped_messages) + " channel=" + event.message.channel);
    }
    return;
  }
  ++stats.messages;
  inbox.push_back(std::move(event.message));
  wake_waiters();
}

void Subscriber::Impl::report_handler_error(const Message& message, const std::string& what) {
  if (!worth_logging(++stats.handler_errors)) return;
  log("event=handler_failed channel=" + message.channel +
      " handler_errors=" + std::to_string(stats.handler_errors) + " error=\"" + what + "\"");
}

void Subscriber::Impl::resubscribed() {
  ++stats.resubscriptions;
  if (!on_resubscribed) return;
  try {
    on_resubscribed();
  } catch (const std::exception& e) {
    log(std::string("event=resubscribed_handler_failed error=\"") + e.what() + "\"");
  } catch (...) {
    log("event=resubscribed_handler_failed");
  }
}

void Subscriber::Impl::on_subscribed(const Subscription& subscription) {
  if (sharded_on_cluster(subscription)) placement.subscribed(subscription.name);
}

// A sharded channel refused because it is not this node's (MOVED), or not now (ASK during a
// migration, TRYAGAIN, CLUSTERDOWN during a failover), is subscribed where it belongs; any
// other refusal (an ACL) stays, for the caller to see.
void Subscriber::Impl::on_refused(Link& link, const PubSubEvent& event) {
  const Subscription& subscription = event.subscription;
  if (!sharded_on_cluster(subscription)) return;
  const auto redirection = detail::parse_redirection(event.error, link.config.host);
  const bool later = says(event.error, "TRYAGAIN") || says(event.error, "CLUSTERDOWN");
  if (!redirection && !later) return;
  link.set.unsubscribe(subscription);  // refused: nothing to send, it leaves this link
  if (redirection && redirection->kind == detail::Redirection::Kind::moved) {
    if (const auto move = placement.redirect(subscription.name, redirection->target)) {
      carry_out(*move);
    }
  } else {
    placement.unplace(subscription.name);
  }
  retire_idle_links();
  request_refresh();
}

// The node no longer has the channel's slot (it moved, or the node was demoted).
void Subscriber::Impl::on_dropped(const Subscription& subscription) {
  if (!config.cluster) return;  // a single node never drops one unasked
  placement.unplace(subscription.name);
  request_refresh();
}

// A lost connection or a failed attempt may mean a failover: the map is read again.
void Subscriber::Impl::on_link_trouble() {
  if (config.cluster) request_refresh();
}

Subscriber::Impl::Link* Subscriber::Impl::link_of(const Subscription& subscription) {
  if (!sharded_on_cluster(subscription)) return main.get();
  const auto node = placement.node_of(subscription.name);
  if (!node) return nullptr;
  const auto it = shard_links.find(node->endpoint());
  return it == shard_links.end() ? nullptr : it->second.get();
}

bool Subscriber::Impl::wanted(const Subscription& subscription) {
  if (sharded_on_cluster(subscription)) return placement.wanted(subscription.name);
  return main->set.status(subscription).has_value();
}

std::shared_ptr<Subscriber::Impl::Link> Subscriber::Impl::shard_link(const NodeAddress& node) {
  auto& link = shard_links[node.endpoint()];
  if (!link) {
    link = std::make_shared<Link>(*this, node_config(node), std::vector<NodeAddress>{node});
  }
  return link;
}

void Subscriber::Impl::carry_out(const detail::ShardPlacement::Move& move) {
  const Subscription subscription = shard_channel_named(move.channel);
  if (move.from) {
    if (const auto it = shard_links.find(move.from->endpoint()); it != shard_links.end()) {
      it->second->send(it->second->set.unsubscribe(subscription));
    }
  }
  shard_link(move.to)->add(subscription, shard_handlers[move.channel], move.again);
}

void Subscriber::Impl::place_unplaced() {
  if (!topology) return;
  for (const auto& move : placement.place(*topology)) carry_out(move);
  retire_idle_links();
}

// A node left without sharded channels is closed: its connection had no other use.
void Subscriber::Impl::retire_idle_links() {
  for (auto it = shard_links.begin(); it != shard_links.end();) {
    const NodeAddress node{it->second->candidates.front()};
    if (placement.count_on(node) > 0) {
      ++it;
      continue;
    }
    it->second->close();
    it = shard_links.erase(it);
  }
}

// One read at a time; a request during it makes it run once more after, as in the cluster
// client. It goes on while a sharded channel has no node.
void Subscriber::Impl::request_refresh() {
  if (!config.cluster || closed) return;
  if (refreshing) {
    refresh_again = true;
    return;
  }
  refreshing = true;
  asio::co_spawn(executor, refresh_loop(shared_from_this()), asio::detached);
}

asio::awaitable<void> Subscriber::Impl::refresh_loop(std::shared_ptr<Impl> self) {
  while (!self->closed) {
    self->refresh_again = false;
    co_await self->refresh_once();
    if (self->closed || (!self->refresh_again && self->placement.all_placed())) break;
    self->refresh_timer.expires_after(refresh_pause);
    co_await self->refresh_timer.async_wait(no_throw);
  }
  self->refreshing = false;
}

// Through a cluster Client of its own, which finds a live node to ask.
asio::awaitable<void> Subscriber::Impl::refresh_once() {
  if (!topology_client) {
    ClientConfig client_config = config;
    client_config.lazy_connect = true;
    topology_client = std::make_unique<Client>(executor, std::move(client_config));
  }
  std::optional<detail::Topology> map;
  try {
    const RequestOptions request{};
    map = co_await detail::read_slot_map(*topology_client, config.host, request);
  } catch (const std::exception& e) {
    log(std::string("event=refresh_failed error=\"") + e.what() + "\"");
    co_return;
  }
  if (closed) co_return;
  if (!map || map->shards.empty()) {
    log("event=refresh_failed error=\"no slot map in the reply\"");
    co_return;
  }
  apply(std::move(*map));
}

void Subscriber::Impl::apply(detail::Topology map) {
  // The main link may try any node: every node forwards what is published to it.
  std::vector<NodeAddress> nodes;
  const auto add = [&](const NodeAddress& node) {
    if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) nodes.push_back(node);
  };
  for (const detail::Shard& shard : map.shards) {
    add(shard.primary);
    for (const NodeAddress& replica : shard.replicas) add(replica);
  }
  for (const NodeAddress& seed : seeds()) add(seed);
  main->candidates = std::move(nodes);
  topology = std::move(map);
  place_unplaced();
  wake_waiters();
}

void Subscriber::Impl::want(const Subscription& subscription, MessageHandler handler) {
  if (subscription.kind == Kind::shard_channel) shard_handlers[subscription.name] = handler;
  if (!sharded_on_cluster(subscription)) {
    main->add(subscription, std::move(handler), false);
    return;
  }
  placement.want(subscription.name);
  if (Link* link = link_of(subscription)) {
    link->add(subscription, std::move(handler), false);  // a handler swap only
    return;
  }
  place_unplaced();
  if (!placement.node_of(subscription.name)) request_refresh();
}

// Confirmed, refused, dropped by an unsubscribe, or its connection refuses to connect.
bool Subscriber::Impl::subscribe_answered(const Subscription& subscription) {
  Link* link = link_of(subscription);
  if (!link) return !wanted(subscription);
  return link->refusal || link->set.status(subscription) != SubscriptionStatus::pending;
}

// Wants it no more; what is left to wait for, if anything was sent.
std::optional<Subscriber::Impl::Pending> Subscriber::Impl::drop(const Subscription& subscription) {
  Link* raw = link_of(subscription);
  if (subscription.kind == Kind::shard_channel) shard_handlers.erase(subscription.name);
  if (sharded_on_cluster(subscription)) placement.forget(subscription.name);
  if (raw == nullptr) return std::nullopt;
  const std::shared_ptr<Link> link = raw->shared_from_this();
  const std::string bytes = link->set.unsubscribe(subscription);
  const std::uint64_t command = link->set.last_sent();
  link->send(bytes);
  retire_idle_links();  // a link left without channels closes: nothing to wait for
  if (bytes.empty() || link->closed()) return std::nullopt;
  return Pending{link, command};
}

asio::awaitable<void> Subscriber::Impl::subscribe(const Subscription& subscription,
                                                  MessageHandler handler) {
  if (closed) throw Error(errc::closed, "the subscriber was closed");
  want(subscription, std::move(handler));
  co_await wait_for([&] { return subscribe_answered(subscription); }, command_deadline());
  Link* link = link_of(subscription);
  std::optional<SubscriptionStatus> status;
  if (link != nullptr) {
    status = link->set.status(subscription);
  } else if (wanted(subscription)) {
    status = SubscriptionStatus::pending;
  }
  // Not wanted any more: an unsubscribe overtook this call.
  if (!status || status == SubscriptionStatus::subscribed) co_return;
  const std::string refused_with = link != nullptr ? link->set.refusal(subscription) : "";
  const std::optional<Error> link_refusal =
      link != nullptr ? link->refusal : std::optional<Error>();
  drop(subscription);  // a subscribe that throws leaves nothing behind
  if (status == SubscriptionStatus::refused) throw ServerError(refused_with);
  if (link_refusal) throw *link_refusal;
  throw Error(errc::timeout, "the server did not confirm " + describe(subscription) + " within " +
                                 std::to_string(config.command_timeout.count()) + " ms");
}

asio::awaitable<void> Subscriber::Impl::unsubscribe(const Subscription& subscription) {
  const std::optional<Pending> pending = drop(subscription);
  if (!pending) co_return;
  const auto settled = [&] { return pending->link->set.settled(pending->command); };
  if (!co_await wait_for(settled, command_deadline())) {
    throw Error(errc::timeout, "the server did not confirm dropping " + describe(subscription));
  }
}

asio::awaitable<void> Subscriber::Impl::ping() {
  main->start_loop();
  const auto deadline = command_deadline();
  co_await wait_for([&] { return main->refusal || main->state == ConnectionState::ready; },
                    deadline);
  if (main->state != ConnectionState::ready) {
    if (main->refusal) throw *main->refusal;
    throw Error(errc::timeout, "not connected within the command timeout");
  }
  const std::string bytes = main->set.ping();
  const std::uint64_t command = main->set.last_sent();
  main->send(bytes);
  if (!co_await wait_for([&] { return main->set.settled(command); }, deadline)) {
    throw Error(errc::timeout, "no PONG within the command timeout");
  }
  if (!main->set.answered(command)) {
    throw Error(errc::connection_lost,
                "the connection dropped before the PONG: " + main->last_error);
  }
}

asio::awaitable<Message> Subscriber::Impl::next() {
  co_await wait_for([&] { return !inbox.empty(); }, Clock::time_point::max());
  Message message = std::move(inbox.front());
  inbox.pop_front();
  co_return message;
}

Subscriber::Subscriber(asio::any_io_executor executor, ClientConfig config,
                       SubscriberOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(config), options)) {
  if (!impl_->config.lazy_connect) impl_->main->start_loop();
}

Subscriber::~Subscriber() {
  try {
    impl_->close();
  } catch (...) {
    // As for Client: nothing may escape a destructor.
  }
}

const ClientConfig& Subscriber::config() const noexcept {
  return impl_->config;
}
ConnectionState Subscriber::state() const noexcept {
  return impl_->closed ? ConnectionState::closed : impl_->main->state;
}
SubscriberStats Subscriber::stats() const noexcept {
  return impl_->stats;
}

void Subscriber::close() {
  impl_->close();
}

void Subscriber::on_resubscribed(std::function<void()> handler) {
  impl_->on_resubscribed = std::move(handler);
}

// Each call holds the Impl: a Subscriber destroyed meanwhile leaves it valid until then.
Task<void> Subscriber::subscribe(std::string channel, MessageHandler handler) {
  auto impl = impl_;
  const Subscription subscription = channel_named(std::move(channel));
  co_await impl->subscribe(subscription, std::move(handler));
}

Task<void> Subscriber::psubscribe(std::string pattern, MessageHandler handler) {
  auto impl = impl_;
  const Subscription subscription = pattern_named(std::move(pattern));
  co_await impl->subscribe(subscription, std::move(handler));
}

Task<void> Subscriber::ssubscribe(std::string channel, MessageHandler handler) {
  auto impl = impl_;
  const Subscription subscription = shard_channel_named(std::move(channel));
  co_await impl->subscribe(subscription, std::move(handler));
}

Task<void> Subscriber::unsubscribe(std::string channel) {
  auto impl = impl_;
  const Subscription subscription = channel_named(std::move(channel));
  co_await impl->unsubscribe(subscription);
}

Task<void> Subscriber::punsubscribe(std::string pattern) {
  auto impl = impl_;
  const Subscription subscription = pattern_named(std::move(pattern));
  co_await impl->unsubscribe(subscription);
}

Task<void> Subscriber::sunsubscribe(std::string channel) {
  auto impl = impl_;
  const Subscription subscription = shard_channel_named(std::move(channel));
  co_await impl->unsubscribe(subscription);
}

Task<Message> Subscriber::next() {
  auto impl = impl_;
  co_return co_await impl->next();
}

Task<void> Subscriber::ping() {
  auto impl = impl_;
  co_await impl->ping();
}

}  // namespace opencode_cache::valkey
