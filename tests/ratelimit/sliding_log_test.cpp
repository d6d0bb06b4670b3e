// The sliding-window log on a real server: the seed's data shape, the seed's flaws fixed
// (rejections not recorded, the server's clock, the reset time), peek, and unknown types.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <regex>
#include <set>

#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "ratelimit/rate_limit_fixture.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

class RateLimitSlidingLog : public ValkeyTest {};

LimitConfig per_minute(std::uint64_t max) {
  return {.window = 60s, .max_requests = max};
}

TEST_F(RateLimitSlidingLog, DataHasTheSeedsShapeOnTheServersClock) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  const std::int64_t before = server_time_ms(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, RateLimiterConfig{});
    for (int i = 0; i < 3; ++i) EXPECT_TRUE((co_await limiter.check("user", "alice")).allowed);
  });
  const std::int64_t after = server_time_ms(valkey);

  const std::string key = "opencode:ratelimit:user:alice";
  const std::vector<Entry> entries = sorted_set(valkey, key);
  ASSERT_EQ(entries.size(), 3u);
  std::set<std::string> members;
  const std::regex shape(R"((\d+):([0-9a-z.]+))");
  for (const Entry& entry : entries) {
    std::smatch match;
    ASSERT_TRUE(std::regex_match(entry.member, match, shape)) << entry.member;
    EXPECT_EQ(std::stoll(match[1]), entry.score) << "member <ms>:<unique>, score = ms";
    EXPECT_GE(entry.score, before);
    EXPECT_LE(entry.score, after);
    members.insert(match[2]);
  }
  EXPECT_EQ(members.size(), 3u) << "unique suffixes";
  const std::int64_t ttl = std::stoll(valkey.cli({"PTTL", key}));
  EXPECT_GT(ttl, 59'000);
  EXPECT_LE(ttl, 60'000) << "PEXPIRE of the window in ms";
  EXPECT_EQ(valkey.cli({"TYPE", key}), "zset");
}

TEST_F(RateLimitSlidingLog, RejectedRequestsAreNotRecorded) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, one_limit_config("user", per_minute(5)));
    int allowed = 0;
    for (int i = 0; i < 200; ++i) allowed += (co_await limiter.check("user", "bob")).allowed;
    EXPECT_EQ(allowed, 5);
    EXPECT_EQ(limiter.stats().allowed, 5u);
    EXPECT_EQ(limiter.stats().rejected, 195u);
  });
  // Memory follows the limit, not the traffic: the seed would hold 200 entries here.
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:user:bob"}), "5");
}

// 120 requests a minute against 60 a minute for five minutes (the seed admits 60 in the first
// minute and none after, since its rejections fill the window).
TEST_F(RateLimitSlidingLog, ClientAboveItsLimitStillGetsMaxPerWindow) {
  auto& valkey = server();
  auto client_config = client_config_for(valkey);
  ManualClock clock;
  auto config = one_limit_config("user", per_minute(60));
  config.server_clock_override = clock.function();
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    std::vector<int> per_minute_allowed(5, 0);
    for (int i = 0; i < 5 * 120; ++i) {
      if ((co_await limiter.check("user", "greedy")).allowed) ++per_minute_allowed[i / 120];
      clock.advance(500ms);
    }
    EXPECT_THAT(per_minute_allowed, ::testing::Each(60));
  });
}

// The same on the server's own clock with a short window: requests as fast as one client can
// send them for six windows or more. Every decision is checked against the sliding log's
// definition on the server's milliseconds: admitted exactly when fewer than 5 admissions lie
// within the 100 ms before it. Stalls of the machine change when requests arrive, not whether
// each decision was right.
TEST_F(RateLimitSlidingLog, HammeringOnTheServersClockGetsMaxPerWindow) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  const LimitConfig limit{.window = 100ms, .max_requests = 5};
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, one_limit_config("user", limit));
    std::vector<std::int64_t> admitted;
    std::int64_t first = -1;
    int decisions = 0;
    for (std::int64_t now = 0; first < 0 || now - first < 600; ++decisions) {
      const Decision decision = co_await limiter.check("user", "hammer");
      now = unix_ms(decision.decided_at);
      if (first < 0) first = now;
      const auto in_window = std::count_if(admitted.begin(), admitted.end(),
                                           [&](std::int64_t at) { return at > now - 100; });
      EXPECT_EQ(decision.allowed, in_window < 5)
          << "decision " << decisions << " at +" << now - first;
      if (decision.allowed) admitted.push_back(now);
    }
    EXPECT_GT(admitted.size(), 5u) << "not locked out after the first window";
    EXPECT_GT(decisions, static_cast<int>(admitted.size())) << "the limit was reached";
  });
}

// reset_after: until the oldest entry leaves the window; retry_after: until enough have left.
TEST_F(RateLimitSlidingLog, ResetAndRetryAreExactOnTheScriptsClock) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  ManualClock clock;
  auto config = one_limit_config("user", per_minute(3));
  config.server_clock_override = clock.function();
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    const Decision first = co_await limiter.check("user", "carol");
    EXPECT_EQ(first.remaining, 2u);
    EXPECT_EQ(first.reset_after, 60s) << "the seed says now + window only when it is the first";
    EXPECT_EQ(first.decided_at, clock.now());
    clock.advance(10s);
    EXPECT_EQ((co_await limiter.check("user", "carol")).reset_after, 50s);
    clock.advance(15s);
    const Decision third = co_await limiter.check("user", "carol");
    EXPECT_EQ(third.remaining, 0u);
    EXPECT_EQ(third.reset_after, 35s);
    clock.advance(5s);
    const Decision refused = co_await limiter.check("user", "carol");
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after, 30s);
    EXPECT_EQ(refused.reset_after, 30s);
    clock.advance(30s - 1ms);
    EXPECT_EQ((co_await limiter.check("user", "carol")).retry_after, 1ms);
    clock.advance(1ms);
    const Decision freed = co_await limiter.check("user", "carol");
    EXPECT_TRUE(freed.allowed);
    // Left: the entries of +10 s and +25 s and this one; the next to leave is +10 s's.
    EXPECT_EQ(freed.remaining, 0u);
    EXPECT_EQ(freed.reset_after, 10s);
  });
}

// On the server's own clock the reset time is exact to the millisecond of the server's TIME;
// seen from here it lies within the round trips that bracket the two requests. Documented
// tolerance (docs/rate-limiting.md): 1 ms beyond those brackets.
TEST_F(RateLimitSlidingLog, ResetTimeOnTheServersClockIsRightToTheMillisecond) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    co_await client.connect();
    RateLimiter limiter(client, one_limit_config("user", per_minute(10)));
    const auto window = 60s;
    const auto a = Clock::now();
    co_await limiter.check("user", "dave");  // its entry lands between a and b
    const auto b = Clock::now();
    boost::asio::steady_timer pause(ex, 80ms);
    co_await pause.async_wait(boost::asio::use_awaitable);
    const auto c = Clock::now();
    const Decision later = co_await limiter.check("user", "dave");  // decided between c and d
    const auto d = Clock::now();
    const auto shortest = std::chrono::duration_cast<std::chrono::milliseconds>(window - (d - a));
    const auto longest = std::chrono::duration_cast<std::chrono::milliseconds>(window - (c - b));
    EXPECT_GE(later.reset_after, shortest - 1ms);
    EXPECT_LE(later.reset_after, longest + 1ms);
    EXPECT_LE(later.reset_after, window - 80ms + 1ms);
  });
}

// Two app servers whose clocks are 10 s apart (the seed's replay let 79 of 100 through a limit
// of 60): neither clock reaches the script, which stamps entries with the server's TIME.
TEST_F(RateLimitSlidingLog, ClientClocksSetApartDoNotChangeDecisions) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  const std::int64_t before = server_time_ms(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client fast_client(ex, client_config), slow_client(ex, client_config);
    auto fast_config = one_limit_config("user", per_minute(60));
    auto slow_config = fast_config;
    fast_config.local_clock = [] { return std::chrono::system_clock::now() + 5s; };
    slow_config.local_clock = [] { return std::chrono::system_clock::now() - 5s; };
    RateLimiter fast(fast_client, fast_config), slow(slow_client, slow_config);
    int allowed = 0;
    for (int i = 0; i < 50; ++i) {
      allowed += (co_await fast.check("user", "erin")).allowed;
      allowed += (co_await slow.check("user", "erin")).allowed;
    }
    EXPECT_EQ(allowed, 60);
  });
  const std::int64_t after = server_time_ms(valkey);
  for (const Entry& entry : sorted_set(valkey, "opencode:ratelimit:user:erin")) {
    EXPECT_GE(entry.score, before);
    EXPECT_LE(entry.score, after) << "stamped by the server, not by a clock 5 s off";
  }
}

TEST_F(RateLimitSlidingLog, PeekReportsWithoutConsuming) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  ManualClock clock;
  auto config = one_limit_config("user", per_minute(2));
  config.server_clock_override = clock.function();
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    const Decision fresh = co_await limiter.peek("user", "frank");
    EXPECT_TRUE(fresh.allowed);
    EXPECT_EQ(fresh.remaining, 2u);
    EXPECT_EQ(fresh.reset_after, 0ms);
    co_await limiter.check("user", "frank");
    clock.advance(20s);
    co_await limiter.check("user", "frank");
    for (int i = 0; i < 5; ++i) {
      const Decision full = co_await limiter.peek("user", "frank");
      EXPECT_FALSE(full.allowed);
      EXPECT_EQ(full.remaining, 0u);
      EXPECT_EQ(full.retry_after, 40s);
    }
    clock.advance(40s);
    const Decision one_free = co_await limiter.peek("user", "frank");
    EXPECT_TRUE(one_free.allowed);
    EXPECT_EQ(one_free.remaining, 1u);
    EXPECT_EQ(one_free.reset_after, 20s);
    EXPECT_EQ(limiter.stats().peeks, 7u);
  });
  // Peeks wrote nothing: not even the prune of the entry that left the window.
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:user:frank"}), "2");
}

// A seed (TypeScript) service sharing the server writes the same shape; its entries count.
TEST_F(RateLimitSlidingLog, CountsEntriesTheSeedServiceWrote) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  ManualClock clock;
  const std::string ms = std::to_string(unix_ms(clock.now()));
  valkey.cli(
      {"ZADD", "opencode:ratelimit:user:gina", ms, ms + ":k3j9x0a1b", ms, ms + ":p0o9i8u7y"});
  auto config = one_limit_config("user", per_minute(3));
  config.server_clock_override = clock.function();
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    clock.advance(1s);
    EXPECT_TRUE((co_await limiter.check("user", "gina")).allowed);
    const Decision refused = co_await limiter.check("user", "gina");
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after, 59s) << "the seed's entries leave first";
  });
}

TEST_F(RateLimitSlidingLog, UnknownTypesUseTheDefaultLimitOrFailWhenStrict) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter lenient(client, RateLimiterConfig{});
    const Decision decision = co_await lenient.check("model", "gpt");
    EXPECT_EQ(decision.type, "model");
    EXPECT_EQ(decision.limit, 60u) << "the user limit, as the seed falls back to it";
    EXPECT_EQ(&lenient.limit_for("model"), &lenient.limit_for("user"));

    RateLimiterConfig strict_config;
    strict_config.strict_types = true;
    RateLimiter strict(client, strict_config);
    EXPECT_THROW(strict.limit_for("model"), std::invalid_argument);
    bool threw = false;
    try {
      co_await strict.check("model", "gpt");
    } catch (const std::invalid_argument& e) {
      threw = true;
      EXPECT_THAT(e.what(), ::testing::HasSubstr("unknown rate limit type 'model'"));
    }
    EXPECT_TRUE(threw);
  });
  // The key keeps the requested type, as the seed's does.
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:model:gpt"}), "1");
}

}  // namespace
}  // namespace opencode_cache::testing
