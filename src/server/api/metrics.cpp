#include "server/api/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>

namespace opencode_cache::server::api {
namespace {

std::size_t status_index(int status) {
  for (std::size_t i = 0; i + 1 < counted_statuses.size(); ++i) {
    if (counted_statuses[i] == status) return i;
  }
  return counted_statuses.size() - 1;
}

std::size_t route_index(std::string_view route) {
  const auto it = std::find(route_names.begin(), route_names.end(), route);
  return it == route_names.end() ? route_names.size() - 1
                                 : static_cast<std::size_t>(it - route_names.begin());
}

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

class Writer {
 public:
  explicit Writer(const std::vector<const ThreadMetrics*>& threads) : threads_(threads) {}

  std::uint64_t sum(const std::function<const Counter&(const ThreadMetrics&)>& field) const {
    std::uint64_t total = 0;
    for (const ThreadMetrics* thread : threads_) total += field(*thread).get();
    return total;
  }

  void head(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP " + std::string(name) + " " + std::string(help) + "\n";
    out_ += "# TYPE " + std::string(name) + " " + std::string(type) + "\n";
  }

  void sample(std::string_view name, std::string_view labels, std::string value) {
    out_ += std::string(name);
    if (!labels.empty()) out_ += "{" + std::string(labels) + "}";
    out_ += " " + value + "\n";
  }

  void counter(std::string_view name, std::string_view help,
               const std::function<const Counter&(const ThreadMetrics&)>& field,
               std::string_view type = "counter") {
    head(name, type, help);
    sample(name, "", std::to_string(sum(field)));
  }

  void histogram(std::string_view name, std::string_view help,
                 const std::function<const Histogram&(const ThreadMetrics&)>& field) {
    head(name, "histogram", help);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= Histogram::bounds.size(); ++i) {
      cumulative +=
          sum([&](const ThreadMetrics& t) -> const Counter& { return field(t).buckets[i]; });
      const std::string le = i < Histogram::bounds.size() ? number(Histogram::bounds[i]) : "+Inf";
      sample(std::string(name) + "_bucket", "le=\"" + le + "\"", std::to_string(cumulative));
    }
    const double seconds = static_cast<double>(sum([&](const ThreadMetrics& t) -> const Counter& {
                             return field(t).sum_ns;
                           })) /
                           1e9;
    sample(std::string(name) + "_sum", "", number(seconds));
    sample(std::string(name) + "_count", "",
           std::to_string(
               sum([&](const ThreadMetrics& t) -> const Counter& { return field(t).count; })));
  }

  std::string take() { return std::move(out_); }

 private:
  const std::vector<const ThreadMetrics*>& threads_;
  std::string out_;
};

}  // namespace

void Histogram::observe(std::chrono::nanoseconds duration) noexcept {
  const double seconds = std::chrono::duration<double>(duration).count();
  std::size_t i = 0;
  while (i < bounds.size() && seconds > bounds[i]) ++i;
  buckets[i].add();
  sum_ns.add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count())));
  count.add();
}

std::string_view name_of(CacheResult result) {
  switch (result) {
    case CacheResult::hit: return "HIT";
    case CacheResult::miss: return "MISS";
    case CacheResult::bypass: return "BYPASS";
    case CacheResult::refresh: return "REFRESH";
    case CacheResult::none: break;
  }
  return "none";
}

void ThreadMetrics::count_request(std::string_view route, int status, CacheResult cache) noexcept {
  requests[route_index(route)][status_index(status)][static_cast<std::size_t>(cache)].add();
}

MetricsRegistry::MetricsRegistry(std::size_t threads) {
  for (std::size_t i = 0; i < threads; ++i) threads_.push_back(std::make_unique<ThreadMetrics>());
}

std::string MetricsRegistry::render() const {
  std::vector<const ThreadMetrics*> threads;
  for (const auto& thread : threads_) threads.push_back(thread.get());
  Writer w(threads);

  w.head("opencode_cache_requests_total", "counter",
         "Requests answered, by route, status and cache result.");
  std::uint64_t hits = 0;
  std::uint64_t lookups = 0;
  for (std::size_t r = 0; r < route_names.size(); ++r) {
    for (std::size_t s = 0; s < counted_statuses.size(); ++s) {
      for (std::size_t c = 0; c < cache_result_count; ++c) {
        const std::uint64_t n =
            w.sum([&](const ThreadMetrics& t) -> const Counter& { return t.requests[r][s][c]; });
        if (n == 0) continue;
        const auto result = static_cast<CacheResult>(c);
        if (result == CacheResult::hit) hits += n;
        if (result == CacheResult::hit || result == CacheResult::miss) lookups += n;
        const std::string status =
            counted_statuses[s] == 0 ? "other" : std::to_string(counted_statuses[s]);
        w.sample("opencode_cache_requests_total",
                 "route=\"" + std::string(route_names[r]) + "\",status=\"" + status +
                     "\",cache=\"" + std::string(name_of(result)) + "\"",
                 std::to_string(n));
      }
    }
  }
  w.head("opencode_cache_hit_ratio", "gauge", "Cache hits over hits and misses since start.");
  w.sample("opencode_cache_hit_ratio", "",
           number(lookups == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(lookups)));

  w.histogram("opencode_cache_upstream_duration_seconds",
              "Upstream requests from sending to the last body byte.",
              [](const ThreadMetrics& t) -> const Histogram& { return t.upstream_latency; });
  w.histogram("opencode_cache_upstream_ttfb_seconds",
              "Upstream requests from sending to the answer's head.",
              [](const ThreadMetrics& t) -> const Histogram& { return t.upstream_ttfb; });
  w.counter("opencode_cache_upstream_errors_total", "Upstream connection errors and timeouts.",
            [](const ThreadMetrics& t) -> const Counter& { return t.upstream_errors; });
  w.counter("opencode_cache_tokens_saved_total",
            "Tokens (stored usage) of answers served from cache.",
            [](const ThreadMetrics& t) -> const Counter& { return t.tokens_saved; });
  w.counter("opencode_cache_served_bytes_total", "Body bytes served from the cache.",
            [](const ThreadMetrics& t) -> const Counter& { return t.bytes_from_cache; });
  w.counter("opencode_cache_single_flight_joins_total",
            "Requests that joined an identical request already in flight.",
            [](const ThreadMetrics& t) -> const Counter& { return t.single_flight_joins; });
  w.counter("opencode_cache_single_flight_follows_total",
            "Identical requests answered by following a leader in another gateway process.",
            [](const ThreadMetrics& t) -> const Counter& { return t.single_flight_follows; });
  w.counter("opencode_cache_single_flight_takeovers_total",
            "Followers that took over the lease of a leader that was gone.",
            [](const ThreadMetrics& t) -> const Counter& { return t.single_flight_takeovers; });
  w.counter("opencode_cache_single_flight_fallbacks_total",
            "Followers that went upstream themselves (timeout, recording cap, missed entries).",
            [](const ThreadMetrics& t) -> const Counter& { return t.single_flight_fallbacks; });
  w.counter("opencode_cache_single_flight_aborts_total",
            "Followers that reset their clients: the leader's answer broke off after they began.",
            [](const ThreadMetrics& t) -> const Counter& { return t.single_flight_aborts; });
  w.counter("opencode_cache_keepalives_total",
            "SSE comments sent to streams waiting for an identical non-streaming request.",
            [](const ThreadMetrics& t) -> const Counter& { return t.keepalives; });
  w.counter("opencode_cache_stores_total", "Answers stored in the cache.",
            [](const ThreadMetrics& t) -> const Counter& { return t.stores; });
  w.counter("opencode_cache_stores_skipped_total",
            "Answers not stored: error status, unclean end, no-store.",
            [](const ThreadMetrics& t) -> const Counter& { return t.stores_skipped; });
  w.counter("opencode_cache_valkey_bypass_total",
            "Requests served without the cache because Valkey could not be reached.",
            [](const ThreadMetrics& t) -> const Counter& { return t.valkey_bypass; });
  w.head("opencode_cache_rate_limited_total", "counter",
         "Requests refused by a rate limit, by type.");
  for (std::size_t i = 0; i < limit_types.size(); ++i) {
    w.sample("opencode_cache_rate_limited_total", "type=\"" + std::string(limit_types[i]) + "\"",
             std::to_string(w.sum(
                 [&](const ThreadMetrics& t) -> const Counter& { return t.rate_limited[i]; })));
  }
  w.counter(
      "opencode_cache_connections", "Open client connections.",
      [](const ThreadMetrics& t) -> const Counter& { return t.active_connections; }, "gauge");
  w.counter(
      "opencode_cache_streams", "Streams being sent to clients.",
      [](const ThreadMetrics& t) -> const Counter& { return t.active_streams; }, "gauge");
  w.counter(
      "opencode_cache_valkey_breaker_open",
      "Event loop threads whose Valkey circuit breaker is not closed.",
      [](const ThreadMetrics& t) -> const Counter& { return t.breaker_open; }, "gauge");
  w.counter("opencode_cache_valkey_connects_total", "Valkey connections made.",
            [](const ThreadMetrics& t) -> const Counter& { return t.valkey_connects; });
  w.counter("opencode_cache_valkey_disconnects_total", "Valkey connections lost.",
            [](const ThreadMetrics& t) -> const Counter& { return t.valkey_disconnects; });
  w.counter("opencode_cache_valkey_timeouts_total", "Valkey commands that timed out.",
            [](const ThreadMetrics& t) -> const Counter& { return t.valkey_timeouts; });
  w.counter("opencode_cache_valkey_breaker_rejections_total",
            "Valkey commands refused at once by the open breaker.",
            [](const ThreadMetrics& t) -> const Counter& { return t.valkey_breaker_rejections; });
  return w.take();
}

}  // namespace opencode_cache::server::api
