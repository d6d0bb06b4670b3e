// CacheService settings: key prefix, TTL per namespace, timeouts, get-or-fetch leases.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

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

// An AES-256 key that seals values; its id is stored beside every value it sealed, so that a
// value finds its key again after the keys have rotated.
struct EncryptionKey {
  std::string id;     // 1 to 32 of [A-Za-z0-9._-]
  std::string bytes;  // exactly 32 bytes
};

// Values of the chosen namespaces are sealed with AES-256-GCM under keys.front() and opened
// with whichever key sealed them; a value that does not open is a miss for the caches and an
// error for sessions (see docs/encryption.md). Off by default: values stay in the seed's plain
// format, readable by its TypeScript.
struct Encryption {
  bool response = false;  // also the gateway's stored responses and streams (read_raw/write_raw)
  bool context = false;
  bool session = false;
  std::vector<EncryptionKey> keys;  // the first seals, all of them open
  // With `response` on, response key names are HMAC-SHA-256 under this key (32 bytes), so that
  // a key name cannot be matched against a guessed prompt. Empty: derived from keys.front() by
  // HKDF, and so renewed (responses start cold) when the first key changes.
  std::string key_name_key;

  bool any() const noexcept { return response || context || session; }
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

  Encryption encryption;

  // A near cache (valkey::NearCache) in front of response and metadata reads: hot values
  // answered from this process without a round trip, dropped on the server's invalidations,
  // all of them when the connection is replaced. Off while near_entries is 0. The cache's
  // Client must then run RESP3 with ClientConfig::tracking on, or CacheService throws
  // Error(invalid_config). Metadata reads skip it when refresh_ttl_on_read (a hit here would
  // not restart the TTL). Bounded by entries and by bytes (keys and stored values).
  std::size_t near_entries = 0;
  std::size_t near_bytes = std::size_t{64} * 1024 * 1024;

  // CACHE_TTL_RESPONSE, CACHE_TTL_SESSION, CACHE_TTL_CONTEXT, CACHE_TTL_METADATA (seconds,
  // positive integers) and CACHE_KEY_PREFIX over the defaults; CACHE_ENCRYPT (a comma-separated
  // list of response, context, session), CACHE_ENCRYPTION_KEYS (comma-separated id:base64 entries,
  // or @file with one entry per line) and CACHE_KEY_HMAC_KEY (base64) for `encryption`;
  // CACHE_NEAR_ENTRIES and CACHE_NEAR_BYTES (whole numbers, 0 entries is off). Throws
  // std::invalid_argument naming the variable when a value is not usable.
  static CacheConfig from_env();
  static CacheConfig from_env(const std::function<const char*(const char*)>& getenv);
};

}  // namespace opencode_cache::cache
