// How to reach Valkey and how hard to try: from code, a URL, or the environment.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opencode_cache/valkey/backoff.hpp"
#include "opencode_cache/valkey/circuit_breaker.hpp"
#include "opencode_cache/valkey/resp_parser.hpp"
#include "opencode_cache/valkey/tls_config.hpp"

namespace opencode_cache::valkey {

struct ClientConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string unix_path;  // when set, connect to this Unix socket instead of host:port
  TlsConfig tls;          // enabled by rediss:// and valkeys://

  std::string username;  // ACL user; empty means "default"
  std::string password;
  int database = 0;
  std::string client_name = "opencode-cache";
  int protocol = 3;  // RESP3 via HELLO 3; 2 for RESP2

  // Connect on the first command instead of at construction.
  bool lazy_connect = true;
  // After connecting, wait until the server has finished loading its dataset.
  bool ready_check = true;

  std::chrono::milliseconds connect_timeout{2000};
  // The default deadline of every command, queueing and reconnecting included.
  std::chrono::milliseconds command_timeout{5000};

  // Reconnect attempts a waiting command lives through before it fails with not_connected
  // (ioredis's maxRetriesPerRequest); also how often a read-only command that was in flight
  // when the connection dropped is sent again.
  std::uint32_t max_retries_per_request = 3;
  // Commands that may wait for a connection; beyond, new commands fail with queue_full.
  std::size_t max_queued_requests = 65536;
  // Requests (a command, or a pipeline) written and not yet answered on the connection; beyond,
  // they wait in the queue above. Bounds the memory one connection holds for replies.
  std::size_t max_in_flight_requests = 1024;

  // Dead peers: a connection with nothing to read for this long sends PING, and one that reads
  // nothing for twice this while a reply is due is reset and reconnected. Zero turns it off.
  std::chrono::milliseconds health_check_interval{2000};
  // TCP_USER_TIMEOUT: how long written bytes may stay unacknowledged before the kernel drops
  // the connection. TCP keepalive probes idle connections after 5 s, every 2 s, 3 times.
  std::chrono::milliseconds tcp_user_timeout{10000};

  // A Client used by one caller at a time (a worker that blocks on a queue): blocking
  // commands (BLPOP, XREAD BLOCK, WAIT...) are allowed on it. On a shared Client they would
  // stall every other caller behind them, so Client::command refuses them.
  bool dedicated = false;
  // CLIENT TRACKING ON in every connection's handshake (RESP3 only): the server pushes the
  // invalidation of every key this connection has read. What a NearCache needs of its client;
  // a connection on which tracking cannot be turned on does not serve.
  bool tracking = false;

  // Valkey Cluster (docs/cluster.md): the client learns the slot map from any seed and keeps one
  // multiplexed connection per primary. Seeds are host:port above plus `cluster_seeds`. Set
  // by valkey+cluster:// URLs (valkey+cluster://h1:p1,h2:p2) and VALKEY_CLUSTER=1.
  bool cluster = false;
  std::vector<std::pair<std::string, std::uint16_t>> cluster_seeds;
  // MOVED and ASK followed per command before it fails with the last redirection.
  std::uint32_t cluster_max_redirections = 5;
  // The slot map is read again this often, besides after MOVED and lost nodes. Zero: never.
  std::chrono::milliseconds cluster_refresh_interval{30000};
  // Cluster: read-only commands with a key (GET, MGET's parts, EXISTS, PTTL, EVAL_RO...; the
  // read-only table in src/valkey/command_table.cpp) go to a replica of their slot, in turn,
  // instead of its primary. What they read may be stale: replication is asynchronous. Off by
  // default; VALKEY_READ_FROM_REPLICAS=1. On a single-node Client (the cluster client's own
  // per-node clients) it sends READONLY on every connection, which lets a cluster replica
  // answer reads of its primary's slots instead of redirecting them.
  bool read_from_replicas = false;

  BackoffPolicy reconnect;
  // In front of the server: after repeated failures, commands fail at once with
  // errc::circuit_open until a probe after the cool-down succeeds.
  CircuitBreakerPolicy breaker;
  resp::ParserLimits parser_limits;

  // One line per connection state change (connected, disconnected, reconnecting...).
  // Never called per command; never given a password.
  std::function<void(std::string_view)> log;

  // valkey://[user[:password]@]host[:port][/db], redis://..., rediss://... (TLS),
  // unix:///path/to/socket[?db=N], valkey+cluster://[user[:password]@]h1:p1,h2:p2 (and
  // redis+cluster, valkeys+cluster, rediss+cluster): a cluster with these seeds. TLS URLs (rediss,
  // valkeys) also take the TlsConfig parameters ca_file, ca_dir, cert_file, key_file, server_name
  // and verify_peer=true|false, e.g. valkeys://cache.example?ca_file=/etc/valkey/ca.pem. Throws
  // Error(errc::invalid_config).
  static ClientConfig from_url(std::string_view url);

  // VALKEY_URL if set, else VALKEY_HOST (default localhost) and VALKEY_PORT (default 6380,
  // as in the seed's .env); then VALKEY_USERNAME, VALKEY_PASSWORD, VALKEY_DB override, and
  // VALKEY_CLUSTER=1 (or true, yes) makes it a cluster client, and VALKEY_READ_FROM_REPLICAS=1
  // (cluster only) sends its reads to replicas.
  // Throws Error(errc::invalid_config) naming the variable that is wrong.
  static ClientConfig from_env();
  // The same over any lookup, for tests and embedding.
  static ClientConfig from_env(const std::function<const char*(const char*)>& getenv);

  // The state store (sessions, rate limits: never evicted, persisted) when it is apart from
  // the cache: VALKEY_STATE_URL, or nullopt when unset (then state lives in the cache's
  // Valkey). User and password: VALKEY_STATE_USERNAME and VALKEY_STATE_PASSWORD, else the
  // URL's, else VALKEY_USERNAME and VALKEY_PASSWORD (one application user on both stores).
  // Throws Error(errc::invalid_config) naming the variable that is wrong.
  static std::optional<ClientConfig> state_from_env();
  static std::optional<ClientConfig> state_from_env(
      const std::function<const char*(const char*)>& getenv);

  // "host:port" or the socket path, for logs and errors (never the password).
  std::string endpoint() const;
};

}  // namespace opencode_cache::valkey
