// What the cache did, per namespace: outcomes and a latency histogram of Valkey round trips.
// Plain counters: a CacheService lives on one executor, like its Client.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace opencode_cache::cache {

// Power-of-two buckets in microseconds: bucket i counts durations in [2^(i-1), 2^i) µs.
class LatencyHistogram {
 public:
  static constexpr std::size_t bucket_count = 32;

  void record(std::chrono::nanoseconds duration) noexcept;
  std::uint64_t count() const noexcept { return count_; }
  // An upper bound of the p-th percentile (0 < p <= 100), in microseconds; 0 when empty.
  std::uint64_t percentile_us(double p) const noexcept;
  const std::array<std::uint64_t, bucket_count>& buckets() const noexcept { return buckets_; }
  void merge(const LatencyHistogram& other) noexcept;

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
};

struct NamespaceStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t stale_served = 0;  // get_or_fetch served a soft-expired value
  std::uint64_t coalesced = 0;     // callers that waited for another caller's fetch
  std::uint64_t fetches = 0;       // get_or_fetch calls of the fetcher
  std::uint64_t writes = 0;
  std::uint64_t writes_dropped = 0;  // cache writes lost to an unreachable Valkey
  std::uint64_t errors = 0;          // operations that failed against Valkey
  std::uint64_t invalid = 0;         // stored values that were not ours to read (not JSON...)
  // Sealed namespaces (CacheConfig::encryption): values that did not open (tampered, moved to
  // another key, sealed under a key no longer configured, or not sealed at all).
  std::uint64_t decrypt_failures = 0;
  LatencyHistogram latency;

  void merge(const NamespaceStats& other) noexcept;
};

class CacheStats {
 public:
  NamespaceStats& of(std::string_view namespace_name);
  const std::map<std::string, NamespaceStats, std::less<>>& by_namespace() const noexcept {
    return by_namespace_;
  }
  NamespaceStats total() const;

 private:
  std::map<std::string, NamespaceStats, std::less<>> by_namespace_;
};

}  // namespace opencode_cache::cache
