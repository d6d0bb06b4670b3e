#include "opencode_cache/ratelimit/limit_config.hpp"

#include <stdexcept>
#include <string>

namespace opencode_cache::ratelimit {

namespace {

// Longer windows gain nothing and would push microsecond arithmetic towards its limits.
constexpr std::chrono::milliseconds longest_window = std::chrono::hours(24 * 366);

}  // namespace

void validate(const LimitConfig& limit, std::string_view where) {
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(where) + ": " + why);
  };
  if (limit.window.count() < 1 || limit.window > longest_window) {
    fail("window must be 1 ms to 366 days, got " + std::to_string(limit.window.count()) + " ms");
  }
  if (limit.max_requests < 1) fail("max requests must be at least 1");
  const auto window_us = std::chrono::microseconds(limit.window).count();
  if (limit.max_requests > static_cast<std::uint64_t>(window_us)) {
    fail("max requests must not exceed one per microsecond of the window, got " +
         std::to_string(limit.max_requests) + " per " + std::to_string(limit.window.count()) +
         " ms");
  }
}

std::string_view to_string(Algorithm algorithm) noexcept {
  switch (algorithm) {
    case Algorithm::sliding_log: return "sliding_log";
    case Algorithm::gcra: return "gcra";
  }
  return "unknown";
}

std::string_view to_string(FailurePolicy policy) noexcept {
  switch (policy) {
    case FailurePolicy::fail_open: return "fail_open";
    case FailurePolicy::fail_closed: return "fail_closed";
  }
  return "unknown";
}

std::optional<Algorithm> parse_algorithm(std::string_view text) noexcept {
  for (Algorithm algorithm : {Algorithm::sliding_log, Algorithm::gcra}) {
    if (text == to_string(algorithm)) return algorithm;
  }
  return std::nullopt;
}

std::optional<FailurePolicy> parse_failure_policy(std::string_view text) noexcept {
  for (FailurePolicy policy : {FailurePolicy::fail_open, FailurePolicy::fail_closed}) {
    if (text == to_string(policy)) return policy;
  }
  return std::nullopt;
}

}  // namespace opencode_cache::ratelimit
