#include "opencode_cache/valkey/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace opencode_cache::valkey {

std::optional<std::chrono::milliseconds> Backoff::delay(std::uint32_t attempt,
                                                        double unit_random) const {
  if (policy_.max_attempts != 0 && attempt > policy_.max_attempts) return std::nullopt;
  const double base = static_cast<double>(policy_.base_delay.count());
  const double cap = static_cast<double>(policy_.max_delay.count());
  const double exponent = attempt == 0 ? 0.0 : static_cast<double>(attempt - 1);
  const double uncapped = base * std::pow(policy_.multiplier, exponent);
  const double capped = std::min(uncapped, cap);
  const double jitter = std::clamp(policy_.jitter, 0.0, 1.0);
  const double drawn = capped * (1.0 - jitter * std::clamp(unit_random, 0.0, 1.0));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(drawn)));
}

}  // namespace opencode_cache::valkey
