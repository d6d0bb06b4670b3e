// Reconnect delays: exponential backoff with a cap and jitter, and a limit on attempts.
// Plain arithmetic over attempt numbers; the caller owns the clock and the randomness.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace opencode_cache::valkey {

struct BackoffPolicy {
  std::chrono::milliseconds base_delay{100};
  std::chrono::milliseconds max_delay{3000};
  double multiplier = 2.0;
  // Each delay is drawn uniformly from [delay * (1 - jitter), delay]: spreads reconnecting
  // clients apart so that a restarted server is not hit by all of them at once.
  double jitter = 0.2;
  // Reconnect attempts in a row before giving up; 0 retries forever.
  std::uint32_t max_attempts = 10;
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy) : policy_(policy) {}

  // The delay before attempt number `attempt` (1-based), or nullopt to give up.
  // `unit_random` is a number in [0, 1).
  std::optional<std::chrono::milliseconds> delay(std::uint32_t attempt, double unit_random) const;

 private:
  BackoffPolicy policy_;
};

}  // namespace opencode_cache::valkey
