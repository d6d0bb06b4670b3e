#include "opencode_cache/ratelimit/decision.hpp"

#include <algorithm>
#include <stdexcept>

namespace opencode_cache::ratelimit {

bool all_allowed(const std::vector<Decision>& decisions) noexcept {
  return std::all_of(decisions.begin(), decisions.end(),
                     [](const Decision& decision) { return decision.allowed; });
}

const Decision& binding_decision(const std::vector<Decision>& decisions) {
  if (decisions.empty()) throw std::invalid_argument("binding_decision: no decisions");
  // "Less binding than": allowed before rejected, then more remaining (allowed) or a shorter
  // wait (rejected).
  const auto less_binding = [](const Decision& a, const Decision& b) {
    if (a.allowed != b.allowed) return a.allowed;
    if (!a.allowed) return a.retry_after < b.retry_after;
    return a.remaining > b.remaining;
  };
  return *std::max_element(decisions.begin(), decisions.end(), less_binding);
}

}  // namespace opencode_cache::ratelimit
