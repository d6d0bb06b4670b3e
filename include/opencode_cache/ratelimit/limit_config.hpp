// One rate limit: how many requests a window admits, by which algorithm, and what to do when
// Valkey cannot be reached.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace opencode_cache::ratelimit {

enum class Algorithm : std::uint8_t {
  // Exact: a sorted set of the admitted requests' times (the seed's data shape). Memory grows
  // with max_requests, never with rejected traffic.
  sliding_log,
  // Generic cell rate algorithm: one number per key (O(1) memory), for large limits and hot
  // keys. Admits bursts of up to max_requests, then one request per window / max_requests.
  gcra,
};

enum class FailurePolicy : std::uint8_t {
  // Admit the request (or, with a local fallback configured, let the local limiter decide):
  // an outage of the limiter does not become an outage of the API.
  fail_open,
  // Reject the request: for limits that protect something that must not be overrun.
  fail_closed,
};

struct LimitConfig {
  std::chrono::milliseconds window{60'000};
  std::uint64_t max_requests = 60;
  Algorithm algorithm = Algorithm::sliding_log;
  FailurePolicy on_unavailable = FailurePolicy::fail_open;

  friend bool operator==(const LimitConfig&, const LimitConfig&) = default;
};

// Throws std::invalid_argument, naming `where`, unless the window is at least 1 ms, at most a
// year, and max_requests is between 1 and one per microsecond of the window (GCRA's emission
// interval is counted in microseconds).
void validate(const LimitConfig& limit, std::string_view where);

std::string_view to_string(Algorithm algorithm) noexcept;
std::string_view to_string(FailurePolicy policy) noexcept;
// The names to_string() gives; nullopt for anything else.
std::optional<Algorithm> parse_algorithm(std::string_view text) noexcept;
std::optional<FailurePolicy> parse_failure_policy(std::string_view text) noexcept;

}  // namespace opencode_cache::ratelimit
