// Configuration of a RateLimiter: the limits per type (the seed's user, provider and global by
// default), how unknown types are treated, the key prefix, and the behaviour without Valkey.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "opencode_cache/ratelimit/limit_config.hpp"

namespace opencode_cache::ratelimit {

// An in-memory limiter that stands in for Valkey while it cannot be reached, for the limits
// whose policy is fail_open. It runs GCRA per key in this process only: with N instances behind
// a load balancer, the fleet admits up to N times the share configured here.
struct LocalFallbackConfig {
  // Each instance's fraction of max_requests while Valkey is unreachable, e.g. 1/N for N
  // instances (at least one request per window is always admitted).
  double share = 1.0;
  // Keys remembered at most; beyond, idle keys are dropped first, then arbitrary ones (which
  // forgets their usage: the fallback errs on the side of admitting).
  std::size_t max_keys = 100'000;
};

// The seed's limits: user 60 per minute, provider 100 per minute, global 1000 per second
// (GCRA, being a hot key with a large limit).
std::map<std::string, LimitConfig, std::less<>> default_limits();

struct RateLimiterConfig {
  std::map<std::string, LimitConfig, std::less<>> limits = default_limits();
  // The type whose limit applies to a type not in `limits` (the seed falls back to "user").
  // The key keeps the requested type: opencode:ratelimit:<requested type>:<id>.
  std::string default_type = "user";
  // An unknown type is an error (std::invalid_argument) instead of the default type's limit.
  bool strict_types = false;
  // Keys are <key_prefix>:ratelimit:<type>:<id> (sliding log, the seed's shape) and
  // <key_prefix>:ratelimit-gcra:<type>:<id> (GCRA, a plain string).
  std::string key_prefix = "opencode";
  // The deadline of one decision's round trip; zero means the client's command_timeout. After
  // it, the limit's failure policy decides. Short, because a decision stands in front of
  // every request: a slow limiter must not become a slow API. While the connection is down
  // after a failure, decisions do not wait for a reconnect: the policy applies at once.
  std::chrono::milliseconds timeout{100};
  // Retry-After given with a fail_closed rejection, when nobody knows when a slot frees.
  std::chrono::milliseconds unavailable_retry_after{1000};
  std::optional<LocalFallbackConfig> local_fallback;
  // Decisions asked for in one loop turn go to Valkey in one script call, up to this many
  // per call (more go in further calls, pipelined). 1: one call per decision.
  std::size_t max_batch = 64;

  // This process's clock. Decisions made with Valkey never read it (the script takes the
  // server's TIME, so app servers with skewed clocks agree); only decisions made without
  // Valkey do. Replaceable for tests.
  std::function<std::chrono::system_clock::time_point()> local_clock = [] {
    return std::chrono::system_clock::now();
  };
  // Tests only: when set, the script uses this time instead of the server's TIME, so that
  // time-dependent behaviour can be tested exactly and without waiting.
  std::function<std::chrono::system_clock::time_point()> server_clock_override;

  // Reads the environment over the defaults above. Variables, all optional:
  //   RATE_LIMIT_TYPES                    extra types beside user, provider and global,
  //                                       comma-separated (e.g. "model,tool"); a new type
  //                                       starts from the default type's limit as configured
  //                                       (60 per minute if the default type is a new one)
  //   RATE_LIMIT_<TYPE>_MAX               max requests per window (positive integer)
  //   RATE_LIMIT_<TYPE>_WINDOW_MS         the window in milliseconds (positive integer)
  //   RATE_LIMIT_<TYPE>_ALGORITHM         sliding_log | gcra
  //   RATE_LIMIT_<TYPE>_ON_UNAVAILABLE    fail_open | fail_closed
  //   RATE_LIMIT_DEFAULT_TYPE             the type unknown types fall back to
  //   RATE_LIMIT_STRICT_TYPES             true | false
  //   RATE_LIMIT_KEY_PREFIX               key prefix (default opencode)
  //   RATE_LIMIT_TIMEOUT_MS               decision deadline, 0 = the client's
  //   RATE_LIMIT_MAX_BATCH                decisions per script call at most (positive)
  //   RATE_LIMIT_LOCAL_FALLBACK           true | false
  //   RATE_LIMIT_LOCAL_SHARE              fraction in (0, 1] (implies the local fallback)
  // <TYPE> is the type upper-cased, '-' read as '_' (USER, PROVIDER, GLOBAL, ...). Throws
  // std::invalid_argument naming the variable whose value cannot be used.
  static RateLimiterConfig from_env();
  // The same over any lookup, for tests and embedding.
  static RateLimiterConfig from_env(const std::function<const char*(const char*)>& getenv);
};

// Throws std::invalid_argument when a limit is invalid, a type name is empty or holds ':'
// (which would make keys ambiguous), or the default type has no limit.
void validate(const RateLimiterConfig& config);

}  // namespace opencode_cache::ratelimit
