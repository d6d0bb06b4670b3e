#include "opencode_cache/ratelimit/local_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace opencode_cache::ratelimit {

LocalLimiter::LocalLimiter(LocalFallbackConfig config) : config_(config) {}

std::uint64_t LocalLimiter::local_max(std::uint64_t max_requests) const noexcept {
  const auto share =
      static_cast<std::uint64_t>(std::floor(static_cast<double>(max_requests) * config_.share));
  return std::clamp<std::uint64_t>(share, 1, max_requests);
}

Gcra LocalLimiter::gcra_for(const LocalLimit& limit) const {
  return Gcra(limit.window, local_max(limit.max_requests));
}

Gcra::Time LocalLimiter::stored_tat(const std::string& key) const {
  const auto found = tat_.find(key);
  return found == tat_.end() ? Gcra::Time(0) : found->second;
}

std::vector<GcraOutcome> LocalLimiter::decide(const std::vector<LocalLimit>& limits, Gcra::Time now,
                                              bool consume) {
  std::vector<GcraOutcome> outcomes;
  outcomes.reserve(limits.size());
  bool all_allowed = true;
  for (const LocalLimit& limit : limits) {
    outcomes.push_back(gcra_for(limit).inspect(stored_tat(limit.key), now));
    all_allowed = all_allowed && outcomes.back().allowed;
  }
  if (!consume || !all_allowed) return outcomes;
  make_room(now);
  for (std::size_t i = 0; i < limits.size(); ++i) {
    outcomes[i] = gcra_for(limits[i]).consume(stored_tat(limits[i].key), now);
    tat_[limits[i].key] = outcomes[i].tat;
  }
  return outcomes;
}

// Keys whose TAT has passed hold no state worth keeping (a new key behaves the same), so they
// go first. If the active keys alone fill the map, half of it goes: forgetting a key admits
// its owner afresh, the permissive error for a fallback, and halving keeps the sweeps rare.
void LocalLimiter::make_room(Gcra::Time now) {
  if (tat_.size() < config_.max_keys) return;
  std::erase_if(tat_, [now](const auto& entry) { return entry.second <= now; });
  const std::size_t target = config_.max_keys / 2;
  for (auto it = tat_.begin(); it != tat_.end() && tat_.size() > target;) it = tat_.erase(it);
}

}  // namespace opencode_cache::ratelimit
