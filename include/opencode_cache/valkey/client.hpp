// The asynchronous Valkey client: one multiplexed connection shared by every coroutine on
// its executor, with automatic pipelining, reconnection and a deadline on every command.
//
// A Client belongs to one executor (one event loop thread): call it only from coroutines
// running there. For other threads or plain blocking code, see BlockingClient.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opencode_cache/valkey/circuit_breaker.hpp"
#include "opencode_cache/valkey/client_config.hpp"
#include "opencode_cache/valkey/command.hpp"
#include "opencode_cache/valkey/error.hpp"
#include "opencode_cache/valkey/pipeline.hpp"
#include "opencode_cache/valkey/resp_value.hpp"
#include "opencode_cache/valkey/script.hpp"

namespace opencode_cache::valkey {
namespace detail {
class ClusterClient;
}

template <class T>
using Task = boost::asio::awaitable<T>;

struct RequestOptions {
  // The deadline from now; zero means the client's command_timeout.
  std::chrono::milliseconds timeout{0};
  // An absolute deadline, which wins over `timeout` when set: one budget shared by several
  // calls (a request's whole time to answer, a fallback after a first try).
  std::chrono::steady_clock::time_point deadline{};
  // False: while the connection is down after a failure (lost, or an attempt failed), fail
  // at once with not_connected instead of waiting for a reconnect, which goes on in the
  // background. The first connection is still waited for. For caches, where a quick miss
  // beats a late hit.
  bool wait_for_connection = true;
  // Send again after a dropped connection? Unset: only read-only commands are.
  std::optional<bool> resend_after_disconnect;
  // Non-zero: send only on the connection of this epoch (Client::connection_epoch()), or
  // fail with connection_changed without sending. For commands that depend on per-connection
  // state, such as EXEC after WATCH.
  std::uint64_t connection_epoch = 0;
};

struct SetOptions {
  enum class Condition : std::uint8_t { always, if_not_exists, if_exists };
  // Zero: no expiry. Sent as EX for whole seconds, PX otherwise.
  std::chrono::milliseconds ttl{0};
  Condition condition = Condition::always;
  bool keep_ttl = false;
};

enum class ConnectionState : std::uint8_t { idle, connecting, ready, reconnecting, closed };

struct ClientStats {
  std::uint64_t connects = 0;  // successful connections, the first included
  std::uint64_t connect_failures = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t protocol_errors = 0;     // malformed replies; each reset the connection
  std::uint64_t writes = 0;              // socket writes: fewer than commands when pipelining works
  std::uint64_t breaker_rejections = 0;  // commands refused at once by the open breaker
  std::uint64_t breaker_transitions = 0;
  std::uint64_t cancellations = 0;  // callers that stopped waiting through their cancellation slot
  std::uint64_t health_check_resets = 0;  // connections found dead by the health check
  std::uint64_t push_handler_errors = 0;  // exceptions thrown by the on_push handler, contained
};

// With ClientConfig::cluster set, the same API over a Valkey Cluster (docs/cluster.md):
// commands are routed by hash slot to one connection per primary.
class Client {
 public:
  Client(boost::asio::any_io_executor executor, ClientConfig config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientConfig& config() const noexcept;
  ConnectionState state() const noexcept;
  ClientStats stats() const noexcept;
  CircuitBreaker::State breaker_state() const noexcept;
  boost::asio::any_io_executor get_executor() const noexcept;

  // Connects now if not connected and waits until the server is ready to serve.
  Task<void> connect();
  // Sends QUIT after every command already issued, then closes; later commands fail
  // with errc::closed.
  Task<void> quit();
  // Closes at once: waiting commands fail with errc::closed.
  void close();

  // Any command. An error reply throws ServerError; other failures throw Error.
  Task<resp::Value> command(Command command, RequestOptions options = {});
  // The replies in order; error replies come back as values, not exceptions.
  Task<std::vector<resp::Value>> execute(const Pipeline& pipeline, RequestOptions options = {});
  // MULTI, the pipeline's commands and EXEC, written together; returns EXEC's replies (error
  // replies as values). Throws ServerError (EXECABORT) when a command was refused while
  // queueing, Error(transaction_aborted) when a WATCHed key changed. Inside a transaction
  // call scripts with Script::eval(): a NOSCRIPT there cannot be retried atomically.
  Task<std::vector<resp::Value>> transaction(const Pipeline& pipeline, RequestOptions options = {});
  // EVALSHA, falling back to EVAL (which loads the script) when the server answers NOSCRIPT.
  Task<resp::Value> eval(const Script& script, const std::vector<std::string>& keys,
                         const std::vector<std::string>& args, RequestOptions options = {});
  // Identifies the current connection; changes whenever it is lost. Always 0 on a cluster,
  // where WATCH transactions are not supported.
  std::uint64_t connection_epoch() const noexcept;
  // Whether this client speaks to a Valkey Cluster (ClientConfig::cluster).
  bool is_cluster() const noexcept { return cluster_ != nullptr; }

  // RESP3 push messages that arrive on this connection (client-side caching
  // invalidations, for example).
  void on_push(std::function<void(resp::Value&&)> handler);

  // One method per command, as the seed uses them.
  Task<bool> ping();
  Task<std::optional<std::string>> get(std::string_view key);
  // False when a condition (NX or XX) kept the value from being set.
  Task<bool> set(std::string_view key, std::string_view value, SetOptions options = {});
  Task<std::int64_t> del(std::string_view key);
  Task<std::int64_t> del(const std::vector<std::string>& keys);
  Task<bool> exists(std::string_view key);
  Task<std::int64_t> exists(const std::vector<std::string>& keys);
  Task<bool> expire(std::string_view key, std::chrono::seconds ttl);
  Task<bool> pexpire(std::string_view key, std::chrono::milliseconds ttl);
  // Seconds left; -1 without expiry, -2 when the key does not exist (as the server says).
  Task<std::int64_t> ttl(std::string_view key);
  Task<std::vector<std::optional<std::string>>> mget(const std::vector<std::string>& keys);
  Task<void> mset(const std::vector<std::pair<std::string, std::string>>& pairs);
  Task<std::int64_t> incr(std::string_view key);
  Task<std::int64_t> incrby(std::string_view key, std::int64_t increment);
  // Number of fields that were new.
  Task<std::int64_t> hset(std::string_view key, std::string_view field, std::string_view value);
  Task<std::int64_t> hset(std::string_view key,
                          const std::vector<std::pair<std::string, std::string>>& fields);
  Task<std::optional<std::string>> hget(std::string_view key, std::string_view field);
  Task<std::vector<std::pair<std::string, std::string>>> hgetall(std::string_view key);
  Task<std::int64_t> hdel(std::string_view key, const std::vector<std::string>& fields);
  Task<std::int64_t> zadd(std::string_view key, double score, std::string_view member);
  Task<std::int64_t> zremrangebyscore(std::string_view key, std::string_view min,
                                      std::string_view max);
  Task<std::int64_t> zcard(std::string_view key);
  // Number of subscribers that received the message.
  Task<std::int64_t> publish(std::string_view channel, std::string_view message);
  // To a sharded channel (Subscriber::ssubscribe): on a cluster, sent to the primary of the
  // channel's hash slot, and only its shard's subscribers receive it.
  Task<std::int64_t> spublish(std::string_view channel, std::string_view message);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  std::shared_ptr<detail::ClusterClient> cluster_;  // set in cluster mode
};

}  // namespace opencode_cache::valkey
