// Many concurrent requests from several clients (each its own connection and limiter) on one
// key: the script's atomicity admits exactly the limit, with either algorithm and with
// several limits at once.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <memory>

#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "ratelimit/rate_limit_fixture.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

class RateLimitConcurrency : public ValkeyTest {};

constexpr int clients = 4;
constexpr int requests_per_client = 250;

struct Fleet {
  std::vector<std::unique_ptr<valkey::Client>> clients;
  std::vector<std::unique_ptr<RateLimiter>> limiters;
};

// Atomicity is the point here, not latency: decisions get all the time they need, so that a
// loaded machine does not turn slow decisions into fail-open ones.
Fleet make_fleet(Executor ex, const valkey::ClientConfig& client_config, RateLimiterConfig config) {
  config.timeout = std::chrono::seconds(30);
  Fleet fleet;
  for (int i = 0; i < clients; ++i) {
    fleet.clients.push_back(std::make_unique<valkey::Client>(ex, client_config));
    fleet.limiters.push_back(std::make_unique<RateLimiter>(*fleet.clients.back(), config));
  }
  return fleet;
}

// Fires every request at once from every limiter and waits for all the decisions.
awaitable<std::vector<std::vector<Decision>>> fire(Executor ex, Fleet& fleet,
                                                   std::vector<LimitRef> limits) {
  std::vector<std::vector<Decision>> decisions;
  int pending = clients * requests_per_client;
  for (auto& limiter : fleet.limiters) {
    for (int i = 0; i < requests_per_client; ++i) {
      boost::asio::co_spawn(
          ex,
          [&, limits]() -> awaitable<void> {
            decisions.push_back(co_await limiter->check_many(limits));
            --pending;
          },
          boost::asio::detached);
    }
  }
  co_await wait_until([&] { return pending == 0; });
  co_return decisions;
}

std::vector<LimitRef> refs(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::vector<LimitRef> out;
  for (const auto& [type, id] : pairs) out.push_back({type, id});
  return out;
}

int requests_allowed(const std::vector<std::vector<Decision>>& decisions) {
  int allowed = 0;
  for (const auto& request : decisions) allowed += ratelimit::all_allowed(request) ? 1 : 0;
  return allowed;
}

TEST_F(RateLimitConcurrency, ExactlyMaxOfAThousandConcurrentRequestsSlidingLog) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  const auto config = one_limit_config("user", {.window = 60s, .max_requests = 50});
  run_async([&](Executor ex) -> awaitable<void> {
    Fleet fleet = make_fleet(ex, client_config, config);
    const auto decisions = co_await fire(ex, fleet, refs(string_pairs("user", "crowd")));
    EXPECT_EQ(decisions.size(), static_cast<std::size_t>(clients * requests_per_client));
    EXPECT_EQ(requests_allowed(decisions), 50);
  });
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:user:crowd"}), "50");
}

// A window of an hour: GCRA frees one slot per 72 s, none within the test.
TEST_F(RateLimitConcurrency, ExactlyMaxOfAThousandConcurrentRequestsGcra) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  const auto config = one_limit_config(
      "global", {.window = 3600s, .max_requests = 50, .algorithm = Algorithm::gcra});
  run_async([&](Executor ex) -> awaitable<void> {
    Fleet fleet = make_fleet(ex, client_config, config);
    const auto decisions = co_await fire(ex, fleet, refs(string_pairs("global", "all")));
    EXPECT_EQ(requests_allowed(decisions), 50);
  });
}

// user (distinct per client) + provider + global together: the provider's 30 bind, and no
// refused request was charged to the user or global limits.
TEST_F(RateLimitConcurrency, CheckManyUnderConcurrencyChargesOnlyAdmittedRequests) {
  auto& valkey = server();
  const auto client_config = client_config_for(valkey);
  const auto config = limits_config(
      {{"user", {.window = 60s, .max_requests = 1000}},
       {"provider", {.window = 60s, .max_requests = 30}},
       {"global", {.window = 3600s, .max_requests = 500, .algorithm = Algorithm::gcra}}});
  run_async([&](Executor ex) -> awaitable<void> {
    Fleet fleet = make_fleet(ex, client_config, config);
    const auto decisions =
        co_await fire(ex, fleet, refs(string_pairs("user", "u", "provider", "p", "global", "g")));
    EXPECT_EQ(requests_allowed(decisions), 30);
    const Decision after = co_await fleet.limiters.front()->peek("global", "g");
    EXPECT_EQ(after.remaining, 470u);
  });
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:user:u"}), "30");
  EXPECT_EQ(valkey.cli({"ZCARD", "opencode:ratelimit:provider:p"}), "30");
}

}  // namespace
}  // namespace opencode_cache::testing
