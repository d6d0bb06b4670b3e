// CacheService settings: key prefix, TTL per namespace, timeouts, get-or-fetch leases.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace opencode_cache::cache {

using Seconds = std::chrono::seconds;
using Milliseconds = std::chrono::milliseconds;

// The seed's defaults, in seconds.
struct Ttls {
  Seconds response{3600};
  Seconds session{86400};
  Seconds context{1800};
  Seconds metadata{300};
  Seconds rate_limit{60};
};

struct CacheConfig {
  std::string prefix = "opencode";  // keys are <prefix>:<namespace>:<id>
  Ttls ttl;

  // Every read and write of the cache kind (responses, context, metadata, get-or-fetch) gives
  // up after this and counts as a miss or a dropped write: a cache must not slow its caller.
  Milliseconds operation_timeout{250};
  // Sessions are state, not cache: their operations wait this long and then throw.
  Milliseconds session_timeout{2000};
  // Reading a session, or updating it, starts its TTL again (sliding expiry).
  bool sliding_session_ttl = true;
  // Reading context or metadata starts its TTL again.
  bool refresh_ttl_on_read = false;

  // get_or_fetch across processes: a lease in Valkey lets one instance fetch while others
  // wait for its value up to lease_wait, then fetch themselves.
  Milliseconds lease_ttl{10000};
  Milliseconds lease_wait{5000};
  Milliseconds lease_poll{20};
  // Attempts of a session update that lost a race to a concurrent writer.
  int max_update_attempts = 64;

  // CACHE_TTL_RESPONSE, CACHE_TTL_SESSION, CACHE_TTL_CONTEXT, CACHE_TTL_METADATA (seconds,
  // positive integers) and CACHE_KEY_PREFIX over the defaults. Throws std::invalid_argument
  // naming the variable when a value is not usable.
  static CacheConfig from_env();
  static CacheConfig from_env(const std::function<const char*(const char*)>& getenv);
};

}  // namespace opencode_cache::cache
