// The gateway's figures, one set per event loop thread: plain relaxed atomics written only by
// their own thread, summed by whichever thread serves a /metrics scrape. No lock anywhere.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/api/cache_stats_board.hpp"

namespace opencode_cache::server::api {

class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(std::uint64_t n) noexcept { value_.store(n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Prometheus histogram of durations, fixed buckets in seconds.
class Histogram {
 public:
  static constexpr std::array<double, 14> bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1,     2.5,  10,    60};
  void observe(std::chrono::nanoseconds duration) noexcept;
  std::array<Counter, bounds.size() + 1> buckets;  // the last one is +Inf
  Counter sum_ns;
  Counter count;
};

enum class CacheResult : std::uint8_t { none, hit, miss, bypass, refresh };
inline constexpr std::size_t cache_result_count = 5;
std::string_view name_of(CacheResult result);

// Route names the gateway counts (route.hpp's names), in a fixed order.
inline constexpr std::array<std::string_view, 12> route_names = {"/v1/chat/completions",
                                                                 "/v1/responses",
                                                                 "/v1/messages",
                                                                 "/v1/embeddings",
                                                                 "/v1/models",
                                                                 "passthrough",
                                                                 "/healthz",
                                                                 "/readyz",
                                                                 "/metrics",
                                                                 "/api",
                                                                 "/",
                                                                 "unknown"};
inline constexpr std::array<int, 16> counted_statuses = {200, 204, 400, 401, 403, 404, 405, 408,
                                                         413, 429, 431, 500, 502, 503, 504, 0};

inline constexpr std::array<std::string_view, 4> limit_types = {"user", "provider", "global",
                                                                "other"};

struct ThreadMetrics {
  // requests[route][status index][cache result]; status index counted_statuses' position,
  // anything not listed in the last one ("other").
  std::array<std::array<std::array<Counter, cache_result_count>, counted_statuses.size()>,
             route_names.size()>
      requests;
  Histogram upstream_latency;  // request sent to the last body byte
  Histogram upstream_ttfb;     // request sent to the answer's head
  Counter upstream_errors;
  Counter tokens_saved;      // usage.total_tokens of the entries served
  Counter bytes_from_cache;  // body bytes served from stored entries
  Counter single_flight_joins;
  Counter single_flight_follows;    // local flights that followed a leader in another process
  Counter single_flight_takeovers;  // followers that took the lease of a leader gone
  Counter single_flight_fallbacks;  // followers that went upstream without a lease
  Counter single_flight_aborts;     // followers that reset their clients mid-answer
  Counter keepalives;               // SSE comments sent to streams waiting for a JSON answer
  Counter stores;                   // entries written
  Counter stores_skipped;           // answers not stored (error status, unclean end, no-store)
  Counter valkey_bypass;            // requests served without the cache: Valkey unreachable
  std::array<Counter, limit_types.size()> rate_limited;
  Counter active_connections;
  Counter active_streams;
  // Copied from the thread's Valkey client once a second (its counters are its thread's).
  Counter valkey_connects, valkey_disconnects, valkey_timeouts, valkey_breaker_rejections;
  Counter breaker_open;  // 1 while this thread's breaker is not closed

  void count_request(std::string_view route, int status, CacheResult cache) noexcept;
};

class MetricsRegistry {
 public:
  explicit MetricsRegistry(std::size_t threads);
  ThreadMetrics& of(std::size_t thread) { return *threads_[thread]; }
  // The Prometheus text exposition of every thread's figures summed.
  std::string render() const;
  // The app API's view of every thread's CacheService (GET /api/cache/stats).
  CacheStatsBoard& cache_stats() { return cache_stats_; }

 private:
  std::vector<std::unique_ptr<ThreadMetrics>> threads_;
  CacheStatsBoard cache_stats_;
};

}  // namespace opencode_cache::server::api
