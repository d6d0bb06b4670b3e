// Rate limits per user, provider and globally (the seed's section 5), decided atomically on
// the Valkey server by a Lua script. The decisions asked for in one turn of the event loop go
// to the server in one script call (a batch), each caller still getting its own decision, as
// if the requests had reached the server one by one:
//   - the server's clock (TIME), so app servers with skewed clocks agree;
//   - rejected requests are not recorded, so a client above its limit still gets max_requests
//     per window, and memory is bounded by the limit, not by attack traffic;
//   - several limits (user + provider + global) in one round trip, all-or-nothing;
//   - peek reads the state without consuming.
// When Valkey cannot be reached, each limit's FailurePolicy decides (see rate_limiter_config.hpp).
//
// A RateLimiter belongs to its client's executor: call it from coroutines running there.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/ratelimit/decision.hpp"
#include "opencode_cache/ratelimit/rate_limiter_config.hpp"

namespace opencode_cache::valkey {
class Client;
class Script;
}  // namespace opencode_cache::valkey

namespace opencode_cache::ratelimit {

template <class T>
using Task = boost::asio::awaitable<T>;

struct RateLimiterStats {
  std::uint64_t allowed = 0;   // requests admitted by check/check_many (degraded included)
  std::uint64_t rejected = 0;  // requests refused by check/check_many (degraded included)
  std::uint64_t peeks = 0;
  // Calls (checks and peeks) that could not reach Valkey and were decided without it.
  std::uint64_t unavailable = 0;
  // Limits decided without Valkey, by how: admitted by fail_open, refused by fail_closed,
  // or decided by the local fallback.
  std::uint64_t failed_open = 0;
  std::uint64_t failed_closed = 0;
  std::uint64_t local_decisions = 0;
};

class RateLimiter {
 public:
  // Throws std::invalid_argument when the configuration is invalid (see validate()).
  RateLimiter(valkey::Client& client, RateLimiterConfig config);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Counts one request against the limit of `type` for `id` if the limit admits it.
  // Throws std::invalid_argument for an unknown type when strict_types is set, and
  // valkey::ServerError when the server refuses the script (WRONGTYPE, NOPERM, OOM...): those
  // are misconfigurations, not outages, and no failure policy hides them.
  Task<Decision> check(std::string type, std::string id);
  // Several limits for one request, in one round trip and one script: the request is counted
  // by every limit if all admit it, and by none otherwise. One decision per limit, in order.
  // On a cluster, where the limits' keys live in several slots: one script call per slot, in
  // turn, each reserving, and on a refusal the reservations made are released
  // (docs/cluster.md).
  // Throws std::invalid_argument when a limit appears twice or the list is empty.
  Task<std::vector<Decision>> check_many(std::vector<LimitRef> limits);
  // What check() would decide now, without counting anything.
  Task<Decision> peek(std::string type, std::string id);
  Task<std::vector<Decision>> peek_many(std::vector<LimitRef> limits);

  // The limit that applies to `type`: its own, or the default type's (throws
  // std::invalid_argument for an unknown type when strict_types is set).
  const LimitConfig& limit_for(std::string_view type) const;
  const RateLimiterConfig& config() const noexcept;
  RateLimiterStats stats() const noexcept;

  // The server-side script (src/ratelimit/lua/rate_limit.lua, whose header gives its keys and
  // arguments), for tools that run or load it directly: SCRIPT LOAD at deploy time, an ACL
  // review, valkey-benchmark as the reference of our benchmark.
  static const valkey::Script& script();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the batches in flight
};

}  // namespace opencode_cache::ratelimit
