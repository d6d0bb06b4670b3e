// GCRA as plain arithmetic: its decisions against the algorithm's definitions, without a server.

#include "opencode_cache/ratelimit/gcra.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace opencode_cache::ratelimit {
namespace {

using namespace std::chrono_literals;
using Time = Gcra::Time;

TEST(RateLimitGcra, AdmitsABurstOfMaxThenOnePerInterval) {
  const Gcra gcra(60s, 60);
  EXPECT_EQ(gcra.interval(), 1s);
  EXPECT_EQ(gcra.tolerance(), 59s);
  const Time start = 1'700'000'000'000'000us;
  Time tat{0};
  for (std::uint64_t i = 1; i <= 60; ++i) {
    const GcraOutcome outcome = gcra.consume(tat, start);
    ASSERT_TRUE(outcome.allowed) << "request " << i;
    EXPECT_EQ(outcome.remaining, 60 - i);
    tat = outcome.tat;
  }
  const GcraOutcome refused = gcra.consume(tat, start);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.retry_after, 1s);
  EXPECT_EQ(refused.reset_after, 1s);
  EXPECT_EQ(refused.tat, tat) << "a refusal changes nothing";

  EXPECT_FALSE(gcra.consume(tat, start + 1s - 1us).allowed);
  const GcraOutcome next = gcra.consume(tat, start + 1s);
  EXPECT_TRUE(next.allowed);
  EXPECT_EQ(next.remaining, 0u);
  EXPECT_EQ(gcra.consume(next.tat, start + 1s).retry_after, 1s);
}

TEST(RateLimitGcra, InspectConsumesNothing) {
  const Gcra gcra(10s, 5);
  const Time now = 50s;
  const Time tat = gcra.consume(gcra.consume(Time(0), now).tat, now).tat;
  const GcraOutcome first = gcra.inspect(tat, now);
  const GcraOutcome second = gcra.inspect(first.tat, now);
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.remaining, 3u) << "what a request now would leave, had it been made";
  EXPECT_EQ(first.tat, tat);
  EXPECT_EQ(second.remaining, first.remaining);
  EXPECT_EQ(second.tat, tat);
}

TEST(RateLimitGcra, RemainingAndResetFollowTheDrainingDebt) {
  const Gcra gcra(60s, 60);
  Time tat{0};
  for (int i = 0; i < 3; ++i) tat = gcra.consume(tat, 0s).tat;
  // 3 s of debt: 57 left, and a slot frees each second.
  EXPECT_EQ(gcra.inspect(tat, 0s).remaining, 57u);
  EXPECT_EQ(gcra.inspect(tat, 0s).reset_after, 1s);
  // Half a second later the third slot is half drained: still held, frees in 0.5 s.
  EXPECT_EQ(gcra.inspect(tat, 500ms).remaining, 57u);
  EXPECT_EQ(gcra.inspect(tat, 500ms).reset_after, 500ms);
  EXPECT_EQ(gcra.inspect(tat, 1s).remaining, 58u);
  // Fully drained: the whole burst, nothing to wait for.
  EXPECT_EQ(gcra.inspect(tat, 3s).remaining, 60u);
  EXPECT_EQ(gcra.inspect(tat, 3s).reset_after, 0s);
  EXPECT_EQ(gcra.inspect(tat, 3s).tat, 3s);
}

TEST(RateLimitGcra, IntervalRoundsDownSoNoLimitAdmitsLess) {
  const Gcra gcra(1s, 7);
  EXPECT_EQ(gcra.interval(), 142'857us);
  Time tat{0};
  int admitted = 0;
  while (gcra.consume(tat, 0s).allowed) {
    tat = gcra.consume(tat, 0s).tat;
    ++admitted;
  }
  EXPECT_EQ(admitted, 7);
  // One window later the burst is available again.
  EXPECT_EQ(gcra.inspect(tat, 1s).remaining, 7u);
}

// The other form ITU-T I.371 gives GCRA: a leaky bucket of capacity τ + T that drains one unit
// per microsecond, each conforming request pouring in T.
class ContinuousStateLeakyBucket {
 public:
  ContinuousStateLeakyBucket(Time increment, Time limit) : increment_(increment), limit_(limit) {}

  bool arrive(Time now) {
    const Time level = std::max(Time(0), bucket_ - (now - last_conforming_));
    if (level > limit_) return false;
    bucket_ = level + increment_;
    last_conforming_ = now;
    return true;
  }

 private:
  Time increment_;
  Time limit_;
  Time bucket_{0};
  Time last_conforming_{0};
};

std::vector<Time> random_arrivals(std::uint32_t seed, int count, Time mean_gap) {
  std::mt19937 random(seed);
  std::exponential_distribution<double> gap(1.0 / static_cast<double>(mean_gap.count()));
  std::vector<Time> arrivals;
  Time now = 1'000'000'000us;
  for (int i = 0; i < count; ++i) {
    now += Time(static_cast<std::int64_t>(gap(random)));
    arrivals.push_back(now);
  }
  return arrivals;
}

TEST(RateLimitGcra, DecidesAsTheContinuousStateLeakyBucket) {
  const Gcra gcra(1s, 10);
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    ContinuousStateLeakyBucket bucket(gcra.interval(), gcra.tolerance());
    Time tat{0};
    int admitted = 0;
    // A mean gap of 80 ms against an interval of 100 ms: about a fifth is refused.
    for (const Time now : random_arrivals(seed, 2000, 80ms)) {
      const GcraOutcome outcome = gcra.consume(tat, now);
      ASSERT_EQ(outcome.allowed, bucket.arrive(now)) << "seed " << seed << " at " << now.count();
      tat = outcome.tat;
      admitted += outcome.allowed ? 1 : 0;
    }
    EXPECT_GT(admitted, 1000);
    EXPECT_LT(admitted, 2000);
  }
}

TEST(RateLimitGcra, AdmitsNoMoreThanTheBurstPlusTheRateInAnyInterval) {
  const Gcra gcra(1s, 10);
  std::vector<Time> admitted;
  Time tat{0};
  for (const Time now : random_arrivals(7, 3000, 30ms)) {
    const GcraOutcome outcome = gcra.consume(tat, now);
    tat = outcome.tat;
    if (outcome.allowed) admitted.push_back(now);
  }
  // Between the i-th and the j-th admitted request at most (span + τ) / T + 1 were admitted.
  for (std::size_t i = 0; i < admitted.size(); ++i) {
    for (std::size_t j = i; j < admitted.size() && j < i + 40; ++j) {
      const auto bound = (admitted[j] - admitted[i] + gcra.tolerance()) / gcra.interval() + 1;
      ASSERT_LE(static_cast<std::int64_t>(j - i + 1), bound);
    }
  }
  // Hammered for 90 s, it admits the rate over the span plus the initial burst.
  const Time span = admitted.back() - admitted.front();
  EXPECT_GE(admitted.size(), static_cast<std::size_t>(span / gcra.interval()));
  EXPECT_LE(admitted.size(), static_cast<std::size_t>(span / gcra.interval() + 10));
}

}  // namespace
}  // namespace opencode_cache::ratelimit
