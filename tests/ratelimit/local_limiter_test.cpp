// The in-memory fallback: GCRA per key, all-or-nothing, the configured share, bounded memory.

#include "opencode_cache/ratelimit/local_limiter.hpp"

#include <gtest/gtest.h>

namespace opencode_cache::ratelimit {
namespace {

using namespace std::chrono_literals;

std::vector<LocalLimit> limits(std::uint64_t user_max, std::uint64_t provider_max) {
  return {{.key = "user:alice", .window = 60s, .max_requests = user_max},
          {.key = "provider:p", .window = 60s, .max_requests = provider_max}};
}

TEST(RateLimitLocal, AllOrNothingAcrossLimits) {
  LocalLimiter local({});
  const Gcra::Time now = 1000s;
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(local.decide(limits(5, 2), now, true).at(1).allowed);
  const auto refused = local.decide(limits(5, 2), now, true);
  EXPECT_TRUE(refused.at(0).allowed);
  EXPECT_FALSE(refused.at(1).allowed);
  // The user limit was not charged for the refused request: 3 of 5 left, as after two.
  EXPECT_EQ(local.decide({limits(5, 2).front()}, now, false).front().remaining, 3u);
}

TEST(RateLimitLocal, AppliesTheShareOfEachInstance) {
  LocalLimiter local({.share = 0.25});
  EXPECT_EQ(local.local_max(100), 25u);
  EXPECT_EQ(local.local_max(2), 1u) << "at least one request per window";
  int admitted = 0;
  while (local.decide({limits(100, 100).front()}, 0s, true).front().allowed) ++admitted;
  EXPECT_EQ(admitted, 25);
}

TEST(RateLimitLocal, StaysWithinItsKeyBudget) {
  LocalLimiter local({.share = 1.0, .max_keys = 100});
  for (int i = 0; i < 1000; ++i) {
    local.decide({{.key = "user:" + std::to_string(i), .window = 60s, .max_requests = 5}}, 0s,
                 true);
    ASSERT_LE(local.size(), 100u);
  }
  // Keys whose debt has drained are dropped before any active one.
  LocalLimiter drained({.share = 1.0, .max_keys = 10});
  for (int i = 0; i < 9; ++i) {
    drained.decide({{.key = "old" + std::to_string(i), .window = 1s, .max_requests = 1}}, 0s, true);
  }
  drained.decide({{.key = "active", .window = 60s, .max_requests = 1}}, 0s, true);
  drained.decide({{.key = "new", .window = 60s, .max_requests = 1}}, 2s, true);
  EXPECT_EQ(drained.size(), 2u);
  EXPECT_FALSE(drained.decide({{.key = "active", .window = 60s, .max_requests = 1}}, 2s, true)
                   .front()
                   .allowed);
}

}  // namespace
}  // namespace opencode_cache::ratelimit
