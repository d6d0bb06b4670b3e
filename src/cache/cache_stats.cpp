#include "opencode_cache/cache/cache_stats.hpp"

#include <bit>
#include <cmath>

namespace opencode_cache::cache {

void LatencyHistogram::record(std::chrono::nanoseconds duration) noexcept {
  const auto us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(duration).count());
  const std::size_t bucket = std::min<std::size_t>(std::bit_width(us), bucket_count - 1);
  ++buckets_[bucket];
  ++count_;
}

std::uint64_t LatencyHistogram::percentile_us(double p) const noexcept {
  if (count_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank && buckets_[i] > 0) return std::uint64_t{1} << i;
  }
  return std::uint64_t{1} << (bucket_count - 1);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
}

void NamespaceStats::merge(const NamespaceStats& other) noexcept {
  hits += other.hits;
  misses += other.misses;
  stale_served += other.stale_served;
  coalesced += other.coalesced;
  fetches += other.fetches;
  writes += other.writes;
  writes_dropped += other.writes_dropped;
  errors += other.errors;
  invalid += other.invalid;
  decrypt_failures += other.decrypt_failures;
  latency.merge(other.latency);
}

NamespaceStats& CacheStats::of(std::string_view namespace_name) {
  auto it = by_namespace_.find(namespace_name);
  if (it == by_namespace_.end()) it = by_namespace_.emplace(namespace_name, NamespaceStats{}).first;
  return it->second;
}

NamespaceStats CacheStats::total() const {
  NamespaceStats sum;
  for (const auto& [name, stats] : by_namespace_) sum.merge(stats);
  return sum;
}

}  // namespace opencode_cache::cache
