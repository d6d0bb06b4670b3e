// check_many: user + provider + global in one script call, all-or-nothing.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "ratelimit/rate_limit_fixture.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

class RateLimitCheckMany : public ValkeyTest {};

RateLimiterConfig three_limits() {
  return limits_config(
      {{"user", {.window = 60s, .max_requests = 5}},
       {"provider", {.window = 60s, .max_requests = 3}},
       {"global", {.window = 3600s, .max_requests = 1000, .algorithm = Algorithm::gcra}}});
}

std::vector<LimitRef> request_limits() {
  return {{"user", "alice"}, {"provider", "openai"}, {"global", "all"}};
}

// "cmdstat_evalsha:calls=N,..." from INFO commandstats; 0 when never called.
int script_calls(const ValkeyServer& server, const std::string& command) {
  const std::string info = server.cli({"INFO", "commandstats"});
  std::smatch match;
  if (!std::regex_search(info, match, std::regex("cmdstat_" + command + ":calls=(\\d+)"))) return 0;
  return std::stoi(match[1]);
}

TEST_F(RateLimitCheckMany, RejectedByOneLimitConsumesNoneOfTheOthers) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  ManualClock clock;
  auto config = three_limits();
  config.server_clock_override = clock.function();
  std::string global_before;
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    for (int i = 0; i < 3; ++i) {
      EXPECT_TRUE(ratelimit::all_allowed(co_await limiter.check_many(request_limits())));
    }
    global_before = *co_await client.get("opencode:ratelimit-gcra:global:all");
    const std::vector<Decision> refused = co_await limiter.check_many(request_limits());
    EXPECT_EQ(refused.size(), 3u);
    if (refused.size() != 3) co_return;
    EXPECT_FALSE(ratelimit::all_allowed(refused));
    EXPECT_TRUE(refused[0].allowed);
    EXPECT_EQ(refused[0].remaining, 2u) << "what the user limit has left, uncharged";
    EXPECT_FALSE(refused[1].allowed);
    EXPECT_EQ(refused[1].retry_after, 60s);
    EXPECT_TRUE(refused[2].allowed);
    EXPECT_EQ(refused[2].type, "global");
    EXPECT_EQ(limiter.stats().rejected, 1u);
    EXPECT_EQ(limiter.stats().allowed, 3u);
    // A lone user check still has its 2 of 5.
    EXPECT_EQ((co_await limiter.check("user", "alice")).remaining, 1u);
  });
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:user:alice"}), "4");
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:provider:openai"}), "3");
  EXPECT_EQ(valkey.cli({"GET", "opencode:ratelimit-gcra:global:all"}), global_before)
      << "the global limit's state did not move for the refused request";
}

TEST_F(RateLimitCheckMany, OneScriptCallPerRequest) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, three_limits());
    co_await limiter.check_many(request_limits());  // loads the script (EVALSHA, then EVAL)
    const int before = script_calls(valkey, "evalsha");
    for (int i = 0; i < 10; ++i) co_await limiter.check_many(request_limits());
    EXPECT_EQ(script_calls(valkey, "evalsha") - before, 10);
  });
  EXPECT_EQ(script_calls(valkey, "eval"), 1);
}

TEST_F(RateLimitCheckMany, ALimitListedTwiceOrNoneIsAnError) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, three_limits());
    std::vector<LimitRef> twice = request_limits();
    twice.push_back(twice.front());
    int errors = 0;
    try {
      co_await limiter.check_many(twice);
    } catch (const std::invalid_argument&) {
      ++errors;
    }
    try {
      co_await limiter.check_many(std::vector<LimitRef>());
    } catch (const std::invalid_argument&) {
      ++errors;
    }
    EXPECT_EQ(errors, 2);
  });
}

}  // namespace
}  // namespace opencode_cache::testing
