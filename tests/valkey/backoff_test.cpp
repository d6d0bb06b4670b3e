// Reconnect delays: exponential growth, the cap, jitter bounds and giving up.

#include "opencode_cache/valkey/backoff.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::Backoff;
using valkey::BackoffPolicy;

BackoffPolicy no_jitter() {
  BackoffPolicy policy;
  policy.base_delay = 100ms;
  policy.max_delay = 10000ms;
  policy.multiplier = 2.0;
  policy.jitter = 0.0;
  policy.max_attempts = 20;
  return policy;
}

TEST(Backoff, GrowsExponentiallyFromTheBaseDelay) {
  const Backoff backoff(no_jitter());
  EXPECT_EQ(backoff.delay(1, 0.5), 100ms);
  EXPECT_EQ(backoff.delay(2, 0.5), 200ms);
  EXPECT_EQ(backoff.delay(3, 0.5), 400ms);
  EXPECT_EQ(backoff.delay(4, 0.5), 800ms);
  EXPECT_EQ(backoff.delay(5, 0.5), 1600ms);
}

TEST(Backoff, HonoursTheMultiplier) {
  auto policy = no_jitter();
  policy.multiplier = 3.0;
  const Backoff backoff(policy);
  EXPECT_EQ(backoff.delay(1, 0.0), 100ms);
  EXPECT_EQ(backoff.delay(2, 0.0), 300ms);
  EXPECT_EQ(backoff.delay(3, 0.0), 900ms);
}

TEST(Backoff, IsCappedAtMaxDelay) {
  auto policy = no_jitter();
  policy.max_delay = 1000ms;
  const Backoff backoff(policy);
  EXPECT_EQ(backoff.delay(4, 0.0), 800ms);
  EXPECT_EQ(backoff.delay(5, 0.0), 1000ms);
  EXPECT_EQ(backoff.delay(6, 0.0), 1000ms);
  EXPECT_EQ(backoff.delay(20, 0.0), 1000ms);
}

TEST(Backoff, JitterStaysWithinItsBounds) {
  BackoffPolicy policy;
  policy.base_delay = 1000ms;
  policy.max_delay = 100000ms;
  policy.jitter = 0.2;
  policy.max_attempts = 0;
  const Backoff backoff(policy);
  // unit_random 0 draws the full delay, values near 1 approach delay * (1 - jitter).
  EXPECT_EQ(backoff.delay(1, 0.0), 1000ms);
  EXPECT_EQ(backoff.delay(1, 0.999999), 800ms);
  EXPECT_EQ(backoff.delay(1, 0.5), 900ms);
  EXPECT_EQ(backoff.delay(3, 0.0), 4000ms);
  EXPECT_EQ(backoff.delay(3, 0.999999), 3200ms);
  for (int i = 0; i < 100; ++i) {
    const double r = i / 100.0;
    const auto delay = backoff.delay(2, r);
    ASSERT_TRUE(delay.has_value());
    EXPECT_GE(*delay, 1600ms) << "r=" << r;
    EXPECT_LE(*delay, 2000ms) << "r=" << r;
  }
}

TEST(Backoff, JitterAppliesToTheCappedDelay) {
  BackoffPolicy policy;
  policy.base_delay = 100ms;
  policy.max_delay = 3000ms;
  policy.jitter = 0.5;
  policy.max_attempts = 0;
  const Backoff backoff(policy);
  EXPECT_EQ(backoff.delay(30, 0.0), 3000ms);
  EXPECT_EQ(backoff.delay(30, 0.999999), 1500ms);
}

TEST(Backoff, GivesUpAfterMaxAttempts) {
  auto policy = no_jitter();
  policy.max_attempts = 3;
  const Backoff backoff(policy);
  EXPECT_TRUE(backoff.delay(1, 0.0).has_value());
  EXPECT_TRUE(backoff.delay(2, 0.0).has_value());
  EXPECT_TRUE(backoff.delay(3, 0.0).has_value());
  EXPECT_EQ(backoff.delay(4, 0.0), std::nullopt);
  EXPECT_EQ(backoff.delay(100, 0.0), std::nullopt);
}

TEST(Backoff, ZeroMaxAttemptsRetriesForever) {
  auto policy = no_jitter();
  policy.max_attempts = 0;
  policy.max_delay = 3000ms;
  const Backoff backoff(policy);
  for (std::uint32_t attempt : {1u, 10u, 1000u, 100000u, 4294967295u}) {
    const auto delay = backoff.delay(attempt, 0.0);
    ASSERT_TRUE(delay.has_value()) << "attempt " << attempt;
    EXPECT_GT(*delay, 0ms) << "attempt " << attempt;
    EXPECT_LE(*delay, 3000ms) << "attempt " << attempt;
  }
  EXPECT_EQ(backoff.delay(100000, 0.0), 3000ms);
}

TEST(Backoff, DefaultPolicyIsSensible) {
  const Backoff backoff(BackoffPolicy{});
  const auto first = backoff.delay(1, 0.0);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, 100ms);
  EXPECT_EQ(backoff.delay(10, 0.0), 3000ms);
  EXPECT_EQ(backoff.delay(11, 0.0), std::nullopt);
}

}  // namespace
}  // namespace opencode_cache::testing
