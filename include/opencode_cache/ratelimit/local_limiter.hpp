// The in-memory limiter that stands in for Valkey while it is unreachable: GCRA per key in
// this process, all-or-nothing over several limits like the server-side script, and bounded in
// memory. Not thread-safe: one per RateLimiter, on its executor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "opencode_cache/ratelimit/gcra.hpp"
#include "opencode_cache/ratelimit/rate_limiter_config.hpp"

namespace opencode_cache::ratelimit {

struct LocalLimit {
  std::string key;
  std::chrono::milliseconds window{0};
  std::uint64_t max_requests = 0;  // the fleet-wide limit; the configured share applies
};

class LocalLimiter {
 public:
  explicit LocalLimiter(LocalFallbackConfig config);

  // One outcome per limit. When `consume` and every limit admits the request, each records
  // it; otherwise nothing changes. `now`: microseconds since the Unix epoch.
  std::vector<GcraOutcome> decide(const std::vector<LocalLimit>& limits, Gcra::Time now,
                                  bool consume);

  // The limit this instance applies for a fleet-wide max_requests.
  std::uint64_t local_max(std::uint64_t max_requests) const noexcept;
  std::size_t size() const noexcept { return tat_.size(); }

 private:
  Gcra gcra_for(const LocalLimit& limit) const;
  Gcra::Time stored_tat(const std::string& key) const;
  void make_room(Gcra::Time now);

  LocalFallbackConfig config_;
  std::unordered_map<std::string, Gcra::Time> tat_;
};

}  // namespace opencode_cache::ratelimit
