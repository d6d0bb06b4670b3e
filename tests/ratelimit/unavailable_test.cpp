// With the server killed: each limit's failure policy, the local fallback, the counts; and
// errors that are not outages are not hidden.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "opencode_cache/valkey/error.hpp"
#include "ratelimit/rate_limit_fixture.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

class RateLimitUnavailable : public ValkeyTest {};

// Commands give up quickly once the server is gone.
valkey::ClientConfig impatient_config(const ValkeyServer& server) {
  valkey::ClientConfig config = client_config_for(server);
  config.command_timeout = 300ms;
  config.connect_timeout = 100ms;
  return config;
}

RateLimiterConfig open_user_closed_provider() {
  return limits_config(
      {{"user", {.window = 60s, .max_requests = 3, .on_unavailable = FailurePolicy::fail_open}},
       {"provider",
        {.window = 60s, .max_requests = 3, .on_unavailable = FailurePolicy::fail_closed}}});
}

std::vector<LimitRef> user_and_provider() {
  return {{"user", "alice"}, {"provider", "openai"}};
}

TEST_F(RateLimitUnavailable, FailOpenAndFailClosedWithTheServerKilled) {
  auto& valkey = server();
  const auto client_config = impatient_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, open_user_closed_provider());
    EXPECT_FALSE((co_await limiter.check("user", "alice")).degraded);
    valkey.kill();

    const Decision open = co_await limiter.check("user", "alice");
    EXPECT_TRUE(open.allowed);
    EXPECT_TRUE(open.degraded);
    const Decision closed = co_await limiter.check("provider", "openai");
    EXPECT_FALSE(closed.allowed);
    EXPECT_TRUE(closed.degraded);
    EXPECT_EQ(closed.retry_after, limiter.config().unavailable_retry_after);
    const auto both = co_await limiter.check_many(user_and_provider());
    EXPECT_FALSE(ratelimit::all_allowed(both)) << "the closed limit refuses the request";
    EXPECT_TRUE(both[0].allowed);

    const auto stats = limiter.stats();
    EXPECT_EQ(stats.unavailable, 3u);
    EXPECT_EQ(stats.failed_open, 2u);
    EXPECT_EQ(stats.failed_closed, 2u);
    EXPECT_EQ(stats.allowed, 2u);
    EXPECT_EQ(stats.rejected, 2u);

    valkey.start();
    co_await wait_until([&] { return client.state() == valkey::ConnectionState::ready; }, 5s);
    const Decision back = co_await limiter.check("user", "alice");
    EXPECT_FALSE(back.degraded);
    EXPECT_EQ(back.remaining, 2u) << "a restarted server (no persistence) starts afresh";
  });
}

// Without Valkey, the local fallback keeps fail_open limits limited, per instance.
TEST_F(RateLimitUnavailable, LocalFallbackLimitsFailOpenLimits) {
  auto& valkey = server();
  valkey.kill();
  const auto client_config = impatient_config(valkey);
  ManualClock local_clock;
  auto config = open_user_closed_provider();
  config.local_fallback = ratelimit::LocalFallbackConfig{};
  config.local_clock = local_clock.function();
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    int allowed = 0;
    for (int i = 0; i < 5; ++i) {
      const Decision decision = co_await limiter.check("user", "alice");
      EXPECT_TRUE(decision.degraded);
      allowed += decision.allowed ? 1 : 0;
    }
    EXPECT_EQ(allowed, 3);
    const Decision refused = co_await limiter.check("user", "alice");
    EXPECT_EQ(refused.retry_after, 20s) << "GCRA: one slot per 60 s / 3";
    local_clock.advance(20s);
    EXPECT_TRUE((co_await limiter.check("user", "alice")).allowed);
    // The closed provider limit refuses, so the request is not charged to the local user limit.
    local_clock.advance(20s);
    EXPECT_FALSE(ratelimit::all_allowed(co_await limiter.check_many(user_and_provider())));
    EXPECT_TRUE((co_await limiter.peek("user", "alice")).allowed);
    EXPECT_EQ(limiter.stats().local_decisions, 9u);
    EXPECT_EQ(limiter.stats().failed_open, 0u);
  });
}

// A script the server refuses is a misconfiguration, not an outage: no policy hides it.
TEST_F(RateLimitUnavailable, ServerErrorsAreNotTreatedAsOutages) {
  auto& valkey = server();
  valkey.cli({"SET", "opencode:ratelimit:user:alice", "not a sorted set"});
  const auto client_config = client_config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, open_user_closed_provider());
    bool threw = false;
    try {
      co_await limiter.check("user", "alice");
    } catch (const valkey::ServerError& e) {
      threw = true;
      EXPECT_THAT(e.message(), ::testing::HasSubstr("WRONGTYPE"));
    }
    EXPECT_TRUE(threw);
    EXPECT_EQ(limiter.stats().unavailable, 0u);
  });
}

}  // namespace
}  // namespace opencode_cache::testing
