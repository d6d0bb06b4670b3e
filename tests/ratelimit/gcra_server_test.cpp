// The server-side GCRA against its C++ definition (gcra.hpp): the same random mix of checks
// and peeks at the same times must get the same decisions, and leave the same state.

#include <gtest/gtest.h>

#include <random>

#include "opencode_cache/ratelimit/gcra.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "ratelimit/rate_limit_fixture.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

using ratelimit::Gcra;
using ratelimit::GcraOutcome;

class RateLimitGcraServer : public ValkeyTest {};

struct Step {
  std::chrono::microseconds gap;
  bool peek;
};

// Gaps of whole microseconds (the script's resolution), 0.8 emission intervals on average, so
// that admissions and refusals mix; one step in eight is a peek.
std::vector<Step> random_steps(std::uint32_t seed, int count, std::chrono::microseconds interval) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<std::int64_t> gap(0, interval.count() * 8 / 5);
  std::uniform_int_distribution<int> kind(0, 7);
  std::vector<Step> steps;
  for (int i = 0; i < count; ++i)
    steps.push_back({std::chrono::microseconds(gap(random)), kind(random) == 0});
  return steps;
}

void expect_same(const Decision& server, const GcraOutcome& model, int step) {
  EXPECT_EQ(server.allowed, model.allowed) << "step " << step;
  EXPECT_EQ(server.remaining, model.remaining) << "step " << step;
  EXPECT_EQ(server.reset_after, std::chrono::ceil<std::chrono::milliseconds>(model.reset_after))
      << "step " << step;
  EXPECT_EQ(server.retry_after, std::chrono::ceil<std::chrono::milliseconds>(model.retry_after))
      << "step " << step;
}

// 7 per 1.3 s: an emission interval of 185714 us that does not divide evenly.
TEST_F(RateLimitGcraServer, DecisionsMatchTheDefinition) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  const LimitConfig limit{.window = 1300ms, .max_requests = 7, .algorithm = Algorithm::gcra};
  const Gcra gcra(limit.window, limit.max_requests);
  ManualClock clock(SystemTime(1'700'000'000'123'456us));
  auto config = one_limit_config("global", limit);
  config.server_clock_override = clock.function();
  Gcra::Time model_tat{0};
  int admitted = 0, refused = 0;
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    int step = 0;
    for (const Step& s : random_steps(42, 400, gcra.interval())) {
      clock.set(clock.now() + s.gap);
      const auto now = std::chrono::duration_cast<Gcra::Time>(clock.now().time_since_epoch());
      const GcraOutcome model =
          s.peek ? gcra.inspect(model_tat, now) : gcra.consume(model_tat, now);
      // Not a conditional expression: g++ 12 miscompiles co_await inside one.
      Decision server;
      if (s.peek) {
        server = co_await limiter.peek("global", "all");
      } else {
        server = co_await limiter.check("global", "all");
      }
      expect_same(server, model, step++);
      if (!s.peek) model_tat = model.tat;
      if (!s.peek) (model.allowed ? admitted : refused) += 1;
    }
  });
  // Both paths were exercised.
  EXPECT_GT(admitted, 100);
  EXPECT_GT(refused, 20);
  EXPECT_EQ(valkey.cli({"GET", "opencode:ratelimit-gcra:global:all"}),
            std::to_string(model_tat.count()))
      << "the stored theoretical arrival time, in microseconds";
}

TEST_F(RateLimitGcraServer, StateIsOneStringThatExpiresWhenDrained) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  const auto config = one_limit_config(
      "global", {.window = 1s, .max_requests = 1000, .algorithm = Algorithm::gcra});
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, client_config);
    RateLimiter limiter(client, config);
    for (int i = 0; i < 1500; ++i) co_await limiter.check("global", "all");
  });
  const std::string key = "opencode:ratelimit-gcra:global:all";
  EXPECT_EQ(valkey.cli({"TYPE", key}), "string") << "O(1) memory, whatever the traffic";
  const std::int64_t ttl = std::stoll(valkey.cli({"PTTL", key}));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 1000) << "gone once the debt has drained, at most one window";
}

}  // namespace
}  // namespace opencode_cache::testing
