// opencode-cache-server's settings, read from the environment (README: "Server").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "opencode_cache/cache/cache_config.hpp"
#include "opencode_cache/ratelimit/rate_limiter_config.hpp"
#include "opencode_cache/valkey/client_config.hpp"
#include "server/config/app_api_config.hpp"

namespace opencode_cache::server {

using Milliseconds = std::chrono::milliseconds;

// Where a provider lives: scheme, host, port and the path its API paths hang below.
struct BaseUrl {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  std::string path;  // without a trailing '/', e.g. "/v1"

  // "http[s]://host[:port][/path]"; throws std::invalid_argument.
  static BaseUrl parse(std::string_view url);
  std::string origin() const;  // "https://host:port", for logs and metrics
};

struct Provider {
  std::string name;  // "default" for /v1/..., else the first path segment
  BaseUrl base;
  // Injected as "Authorization: Bearer <key>" (and x-api-key when the client sent one)
  // instead of the client's credential; empty: the client's credential is passed through.
  std::string api_key;
};

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 3000;
  bool allow_remote = false;  // binding anything but loopback needs this
  unsigned threads = 1;

  Provider default_provider;
  std::vector<Provider> providers;  // named: /<name>/v1/...

  // sha256 hex of a gateway API key -> user name. Empty: everyone is the user "local".
  std::map<std::string, std::string> api_keys;

  std::size_t max_body_bytes = 8 * 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_connections = 10000;  // per process, shared equally by the threads
  Milliseconds idle_timeout{60000};     // waiting for (and reading) a request's head
  Milliseconds read_timeout{30000};     // reading a request's body
  Milliseconds write_timeout{30000};    // a client that does not read what it is sent
  Milliseconds drain_timeout{30000};    // SIGTERM: running requests get this long

  Milliseconds upstream_connect_timeout{10000};
  Milliseconds upstream_first_byte_timeout{300000};
  Milliseconds upstream_chunk_timeout{300000};
  std::size_t upstream_pool_size = 32;  // idle keep-alive connections per upstream and thread

  // Request body fields left out of the cache key.
  std::vector<std::string> volatile_fields = {"user",     "prompt_cache_key", "promptCacheKey",
                                              "metadata", "stream",           "stream_options",
                                              "store",    "service_tier"};
  // "credential" (default: a hash of the upstream credential), "user" or "shared".
  std::string cache_scope = "credential";
  std::chrono::seconds models_ttl{300};
  // The usage a replayed answer reports: "original", "cached" or "zero"
  // (gateway/usage_rewrite.hpp).
  std::string replay_usage = "original";
  // SSE comments sent to a streaming request waiting for a non-streaming identical one.
  Milliseconds keepalive_interval{10000};

  // Single flight across gateway processes sharing the Valkey (docs/single-flight.md).
  bool shared_flight = true;
  Milliseconds flight_lease{3000};     // a dead leader is replaced after this long
  Milliseconds follow_timeout{60000};  // a follower waits this long for an answer to begin
  std::size_t flight_max_bytes = 8 * 1024 * 1024;  // body bytes recorded for followers

  bool debug_log = false;

  AppApiConfig app;  // the app's HTTP API (/api/...)

  valkey::ClientConfig valkey;
  // VALKEY_STATE_URL: sessions and rate limits in a Valkey of their own, kept apart from the
  // evictable cache; unset, they share `valkey`.
  std::optional<valkey::ClientConfig> valkey_state;
  cache::CacheConfig cache;
  ratelimit::RateLimiterConfig rate_limits;

  const Provider* find_provider(std::string_view name) const;

  // Every variable documented in help_text(); throws std::invalid_argument naming the
  // variable whose value cannot be used.
  static ServerConfig from_env(const std::function<const char*(const char*)>& getenv);
  static ServerConfig from_env();
};

// --help: every variable with its default.
std::string help_text();

}  // namespace opencode_cache::server
