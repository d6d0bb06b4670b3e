// What a rate limit said about one request.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace opencode_cache::ratelimit {

// One limit to check: its type ("user", "provider", "global"...) and the identifier limited.
struct LimitRef {
  std::string type;
  std::string id;
};

struct Decision {
  // Whether this limit admits the request. After check_many, the request went through (and
  // was counted by every limit) only if every decision allows it.
  bool allowed = false;
  std::uint64_t limit = 0;  // max requests per window
  std::chrono::milliseconds window{0};
  // Requests this limit would still admit after this one; 0 when rejected.
  std::uint64_t remaining = 0;
  // Until the next slot frees (for the sliding log: until the oldest entry leaves the
  // window); zero when the whole quota is available.
  std::chrono::milliseconds reset_after{0};
  // Until a request would be admitted again; zero when allowed.
  std::chrono::milliseconds retry_after{0};
  // The clock the decision was made on: the server's TIME, or this process's clock when
  // degraded. decided_at + reset_after is X-RateLimit-Reset.
  std::chrono::system_clock::time_point decided_at{};
  std::string type;  // as requested (the key's type), even when the default type's limit applied
  // Decided without Valkey (it could not be reached): by the failure policy or the local
  // fallback.
  bool degraded = false;
};

// True when every decision allows the request (check_many's verdict).
bool all_allowed(const std::vector<Decision>& decisions) noexcept;

// The decision that bounds the request: among rejections the one with the longest
// retry_after, otherwise the one with the fewest remaining. Its values are what single-limit
// headers (X-RateLimit-*, Retry-After) report. Requires a non-empty vector.
const Decision& binding_decision(const std::vector<Decision>& decisions);

}  // namespace opencode_cache::ratelimit
