// The response header fields built from decisions, without checking anything again.

#include "opencode_cache/ratelimit/headers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace opencode_cache::ratelimit {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

const std::chrono::system_clock::time_point decided_at{1'700'000'000'000ms};

Decision user_decision() {
  return {.allowed = true,
          .limit = 60,
          .window = 60s,
          .remaining = 12,
          .reset_after = 39'200ms,
          .retry_after = 0ms,
          .decided_at = decided_at,
          .type = "user",
          .degraded = false};
}

Decision provider_rejection() {
  return {.allowed = false,
          .limit = 100,
          .window = 60s,
          .remaining = 0,
          .reset_after = 2'500ms,
          .retry_after = 2'500ms,
          .decided_at = decided_at,
          .type = "provider",
          .degraded = false};
}

TEST(RateLimitHeaders, SeedFieldsWithTheResetInUnixMilliseconds) {
  EXPECT_THAT(legacy_headers({user_decision()}),
              ElementsAre(Header{"X-RateLimit-Limit", "60"}, Header{"X-RateLimit-Remaining", "12"},
                          Header{"X-RateLimit-Reset", "1700000039200"}));
}

TEST(RateLimitHeaders, RejectionAddsRetryAfterInWholeSecondsRoundedUp) {
  const auto headers = legacy_headers({user_decision(), provider_rejection()});
  // The provider's rejection binds the request, so its numbers are the ones reported.
  EXPECT_THAT(
      headers,
      ElementsAre(Header{"X-RateLimit-Limit", "100"}, Header{"X-RateLimit-Remaining", "0"},
                  Header{"X-RateLimit-Reset", "1700000002500"}, Header{"Retry-After", "3"}));
}

TEST(RateLimitHeaders, IetfFieldsListEveryPolicyInTheDraftShape) {
  EXPECT_EQ(ietf_ratelimit_draft, "draft-ietf-httpapi-ratelimit-headers-11");
  Decision global = user_decision();
  global.type = "global";
  global.limit = 1000;
  global.window = 1s;
  global.remaining = 998;
  global.reset_after = 1ms;
  EXPECT_THAT(ietf_headers({user_decision(), global}),
              ElementsAre(Header{"RateLimit-Policy", "\"user\";q=60;w=60, \"global\";q=1000;w=1"},
                          Header{"RateLimit", "\"user\";r=12;t=40, \"global\";r=998;t=1"}));
}

TEST(RateLimitHeaders, PolicyNamesAreValidStructuredFieldStrings) {
  Decision odd = user_decision();
  odd.type = "a\"b\\c\xc3\xa9";
  EXPECT_EQ(ietf_headers({odd}).front().value, "\"a\\\"b\\\\c??\";q=60;w=60");
}

TEST(RateLimitHeaders, AllFieldsTogetherAndNoneForNoDecisions) {
  const auto headers = rate_limit_headers({user_decision()});
  ASSERT_EQ(headers.size(), 5u);
  EXPECT_EQ(headers[0].name, "X-RateLimit-Limit");
  EXPECT_EQ(headers[3].name, "RateLimit-Policy");
  EXPECT_EQ(headers[4].name, "RateLimit");
  EXPECT_TRUE(rate_limit_headers({}).empty());
}

TEST(RateLimitHeaders, BindingDecisionIsTheLongestWaitOrTheFewestRemaining) {
  Decision tight = user_decision();
  tight.remaining = 1;
  EXPECT_EQ(binding_decision({user_decision(), tight}).remaining, 1u);
  Decision long_wait = provider_rejection();
  long_wait.retry_after = 9s;
  EXPECT_EQ(binding_decision({provider_rejection(), tight, long_wait}).retry_after, 9s);
  EXPECT_FALSE(all_allowed({tight, long_wait}));
  EXPECT_TRUE(all_allowed({tight, user_decision()}));
}

}  // namespace
}  // namespace opencode_cache::ratelimit
