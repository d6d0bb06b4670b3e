// A near cache: values read through Valkey kept in this process, so that a hot key is
// answered without a round trip, and kept coherent by the server. Opt-in.
//
// Coherence comes from Valkey's client-side caching: the client's connections run with
// CLIENT TRACKING ON (ClientConfig::tracking), and the server pushes the invalidation of every
// key the connection has read once it changes, expires, is evicted or flushed. The near cache
// drops a key on its invalidation, writes through it drop the local copy at once, and the
// whole cache is dropped when the client's connection is replaced (invalidations sent to a
// lost connection are lost too). A value read before an invalidation that overtook it is never
// stored. TTLs are kept locally as well (read with PTTL beside the value).
//
// The near cache takes the client's push handler (Client::on_push) for its lifetime; the
// Client must outlive it. One near cache per Client; same executor.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/near_cache_held.hpp"

namespace opencode_cache::valkey {

struct NearCacheConfig {
  std::size_t max_entries = 10000;
  std::size_t max_bytes = std::size_t{64} * 1024 * 1024;  // keys and values held
};

struct NearCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t invalidations = 0;  // keys the server (or a write through here) invalidated
  std::uint64_t flushes = 0;        // everything dropped: a new connection, or a FLUSHALL
  std::uint64_t not_stored = 0;     // reads overtaken by an invalidation, or too large
  std::uint64_t evictions = 0;      // dropped to stay within the limits
  std::size_t entries = 0;
  std::size_t bytes = 0;
};

class NearCache {
 public:
  // Throws Error(invalid_config) unless the client runs RESP3 with tracking.
  explicit NearCache(Client& client, NearCacheConfig config = {});
  ~NearCache();
  NearCache(const NearCache&) = delete;
  NearCache& operator=(const NearCache&) = delete;

  // The value held here, else Valkey's (one round trip: GET and PTTL), kept for next time.
  // A hit completes without suspending the caller: a loop of hits yields to nothing else.
  // `options` as for any command (a cache's short timeout, wait_for_connection = false).
  Task<std::optional<std::string>> get(std::string_view key, RequestOptions options = {});
  // The value held here, without a round trip or a copy, counted as a hit; nullopt when not
  // held (not counted: the get() that follows counts the miss). The view is valid until the
  // near cache is next called or an invalidation arrives: use it before suspending.
  std::optional<std::string_view> find(std::string_view key);
  // The same with what the caller decoded from that value before (set_decoded; empty until
  // then): a reader that parses values parses each one once.
  using Held = NearCacheHeld;
  std::optional<Held> find_held(std::string_view key);
  // Keeps `decoded` beside the held value of `key` (nothing when it is not held), counted
  // against the byte limit. It goes with the value: a new value or an invalidation drops it.
  void set_decoded(std::string_view key, std::string decoded);
  // Drops the local copy of `key`: for writes to it sent through the client by other means.
  void forget(std::string_view key);
  // Through the client, dropping the local copy first.
  Task<bool> set(std::string_view key, std::string_view value, SetOptions options = {});
  Task<std::int64_t> del(std::string_view key);

  NearCacheStats stats() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace opencode_cache::valkey
