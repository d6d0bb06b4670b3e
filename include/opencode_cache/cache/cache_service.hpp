// CacheService: the seed's caching layer over Valkey, in the seed's data format, with its
// flaws fixed (see docs/cache-service.md).
//
// Cache operations (responses, context, metadata, get_or_fetch) fail soft: with Valkey
// unreachable or slow, reads are misses within CacheConfig::operation_timeout and writes
// are dropped, each counted, and nothing throws into the caller. Sessions are state, not
// cache: their failures throw valkey::Error.
//
// Sessions may live in a Valkey of their own (the state store: no eviction, AOF), so that
// the cache's LRU eviction can never drop one: give the constructor both clients.
//
// A CacheService lives on its Client's executor, and the Client must outlive it. Background
// refreshes (stale-while-revalidate) own what they use: destroying the CacheService with one
// in flight cancels it, and drain() waits for them to end. A caller cancelled through its
// cancellation slot gets valkey::Error(errc::cancelled), soft paths included: cancellation is
// neither a miss nor an error of Valkey.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opencode_cache/cache/cache_config.hpp"
#include "opencode_cache/cache/cache_keys.hpp"
#include "opencode_cache/cache/cache_stats.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "opencode_cache/valkey/near_cache.hpp"

namespace opencode_cache::cache {

template <class T>
using Task = valkey::Task<T>;
using Json = boost::json::value;
using JsonObject = boost::json::object;

struct WriteOptions {
  std::optional<Seconds> ttl;  // instead of the namespace's default
};

// Fetches the value get_or_fetch stores. It must own what it captures (by value or shared_ptr,
// never [&]): with stale_grace it runs in the background after its caller has returned, and
// with fetch_timeout it may outlive its caller's wait. It may be cancelled (a fetch deadline,
// its caller cancelled); the other callers waiting for it then fetch for themselves.
using Fetcher = std::function<Task<Json>()>;

// Not an aggregate on purpose: g++ 12 destroys aggregate temporaries that own memory twice
// when they appear in a co_await expression (docs/coroutine-pitfalls.md). Set fields by name:
//   cache::FetchOptions options;
//   options.ttl = 30s;
struct FetchOptions {
  FetchOptions() = default;

  std::string namespace_name = std::string(ns::fetch);
  // How long a fetched value is fresh; default: the metadata TTL.
  std::optional<Seconds> ttl;
  // Stale-while-revalidate: for this long after `ttl`, serve the stored value and refresh it
  // in the background. Zero: a value is gone when it is no longer fresh.
  Seconds stale_grace{0};
  // Return false to use a fetched value without caching it.
  std::function<bool(const Json&)> should_cache;
  // Coordinate with other processes through a lease in Valkey (one of them fetches).
  bool cross_process = true;
  // The longest a fetch may take; past it the fetcher is cancelled and every caller waiting
  // for it gets Error(timeout), nothing is stored. Zero: no limit of the cache's own.
  std::chrono::milliseconds fetch_timeout{0};
};

// An opaque value read from a namespace (read_raw). Not an aggregate: see FetchOptions.
struct RawRead {
  RawRead() = default;
  std::optional<std::string> value;
  // False when Valkey could not be asked (unreachable, breaker open, timeout): a miss too.
  bool reachable = true;
};

struct ServerInfo {
  std::uint64_t used_memory = 0;
  std::uint64_t maxmemory = 0;
  std::uint64_t evicted_keys = 0;
  std::uint64_t keyspace_hits = 0;
  std::uint64_t keyspace_misses = 0;
  std::uint64_t expired_keys = 0;
  std::uint64_t connected_clients = 0;
};

class CacheService {
 public:
  CacheService(valkey::Client& client, CacheConfig config = {});
  // Sessions in `state`, everything else in `cache`; both on the same executor.
  CacheService(valkey::Client& cache, valkey::Client& state, CacheConfig config = {});
  ~CacheService();
  CacheService(const CacheService&) = delete;
  CacheService& operator=(const CacheService&) = delete;

  // Model responses, keyed by the seed's hash of model and prompt. A stored entry whose
  // prompt or model differs from the request (a hash collision) is a miss.
  Task<void> cache_response(std::string_view prompt, std::string_view model,
                            std::string_view response, WriteOptions options = {});
  Task<std::optional<std::string>> get_cached_response(std::string_view prompt,
                                                       std::string_view model);

  // Sessions: JSON objects. update_session merges `updates` into the stored object
  // atomically (concurrent updates of different fields all survive) and returns false when
  // there is no such session. Reads and updates restart the TTL when sliding_session_ttl.
  Task<void> set_session(std::string_view session_id, const JsonObject& data);
  Task<std::optional<JsonObject>> get_session(std::string_view session_id);
  Task<bool> update_session(std::string_view session_id, const JsonObject& updates);
  Task<bool> touch_session(std::string_view session_id);
  Task<bool> delete_session(std::string_view session_id);

  // Conversation context and metadata: any JSON.
  Task<void> cache_context(std::string_view conversation_id, const Json& context,
                           WriteOptions options = {});
  Task<std::optional<Json>> get_cached_context(std::string_view conversation_id);
  Task<bool> delete_context(std::string_view conversation_id);
  Task<void> set_metadata(std::string_view id, const Json& metadata, WriteOptions options = {});
  Task<std::optional<Json>> get_metadata(std::string_view id);
  Task<bool> delete_metadata(std::string_view id);

  // Invalidation; these throw when Valkey cannot be reached (a cache that may still hold
  // what was to be removed must not look clean). Patterns are globs below the prefix, as
  // in the seed ("session:*"), removed by SCAN and UNLINK in batches: bounded memory on any
  // keyspace. They return the number of keys removed. Sessions are removed from the state
  // store, a pattern from both stores.
  Task<bool> invalidate(std::string_view namespace_name, std::string_view id);
  Task<std::uint64_t> invalidate_namespace(std::string_view namespace_name);
  Task<std::uint64_t> invalidate_pattern(std::string_view pattern);

  // The stored value for `key`, or the fetcher's. Concurrent callers in this process share
  // one fetch; across processes a lease lets one fetch while the others wait for its value
  // (up to CacheConfig::lease_wait, then they fetch themselves). Fetcher errors reach every
  // waiting caller and are never cached. With Valkey unreachable the fetcher is called.
  // The options are taken by value: the task may run after the call's full expression
  // (co_spawn), and must not refer to a temporary that is gone by then.
  Task<Json> get_or_fetch(std::string_view key, Fetcher fetcher, FetchOptions options = {});
  template <class T>
  Task<T> get_or_fetch_as(std::string_view key, std::function<Task<T>()> fetcher,
                          FetchOptions options = {}) {
    Json value = co_await get_or_fetch(
        key,
        [fetcher = std::move(fetcher)]() -> Task<Json> {
          co_return boost::json::value_from(co_await fetcher());
        },
        options);
    co_return boost::json::value_to<T>(value);
  }

  // get_or_fetch one step at a time, for callers that fetch elsewhere (the gateway's
  // /api/cache routes, for browsers): the same value and lease keys in `namespace_name`
  // (FetchOptions::namespace_name), so that they and get_or_fetch callers in any process
  // coordinate. Unlike get_or_fetch these throw valkey::Error when Valkey cannot be asked:
  // such a caller must learn that nobody coordinates with it, not wait for a lease it cannot
  // see.
  //
  // The value stored for `key` (fresh, or stale within its grace), or nullopt.
  Task<std::optional<Json>> read_fetched(std::string_view key, std::string_view namespace_name);
  // Takes the lease of `key` for CacheConfig::lease_ttl: its token, or nullopt while another
  // caller holds it.
  Task<std::optional<std::string>> acquire_fetch_lease(std::string_view key,
                                                       std::string_view namespace_name);
  // Stores `value` as get_or_fetch does after a fetch (options' namespace, ttl, stale_grace).
  Task<void> store_fetched(std::string_view key, Json value, FetchOptions options);
  // Ends the lease if `token` still owns it (one that expired and was taken over is left
  // alone); true when it was released.
  Task<bool> release_fetch_lease(std::string_view key, std::string_view token,
                                 std::string_view namespace_name);
  // Waits for the value another caller is fetching under the lease, polling every
  // CacheConfig::lease_poll: the value, or nullopt once the lease is gone without one (nobody
  // is fetching any more) or `limit` has passed.
  Task<std::optional<Json>> wait_for_fetched(std::string_view key, std::string_view namespace_name,
                                             Milliseconds limit);

  // Several values of one namespace in one round trip (MGET; pipelined SET with TTL).
  Task<std::vector<std::optional<Json>>> get_many(std::string_view namespace_name,
                                                  const std::vector<std::string>& ids);
  Task<void> set_many(std::string_view namespace_name,
                      const std::vector<std::pair<std::string, Json>>& entries,
                      WriteOptions options = {});

  // Values in a format of the caller's own (the gateway's stored responses), under
  // <prefix>:<namespace>:<id> with the namespace's TTL, counted and failing soft like the
  // other cache operations. write_raw returns false when the write was dropped.
  Task<RawRead> read_raw(std::string_view namespace_name, std::string_view id);
  Task<bool> write_raw(std::string_view namespace_name, std::string_view id, std::string_view value,
                       WriteOptions options = {});

  const CacheStats& stats() const noexcept;
  // The near cache's figures (CacheConfig::near_entries); nullopt when it is off.
  std::optional<valkey::NearCacheStats> near_cache_stats() const;
  // Valkey's own figures (INFO memory, stats, clients).
  Task<ServerInfo> server_info();
  // Keys per namespace below the prefix, counted by SCAN: costs a pass over the keyspace
  // (over both keyspaces when sessions have their own store). server_info() is the cache's.
  Task<std::map<std::string, std::uint64_t>> key_counts();

  const CacheKeys& keys() const noexcept;
  const CacheConfig& config() const noexcept;
  // Waits until background refreshes have finished.
  Task<void> drain();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace opencode_cache::cache
