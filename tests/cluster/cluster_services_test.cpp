// The layers above the client on a cluster, unchanged: CacheService (responses, sessions,
// get-or-fetch with its lease, namespace invalidation and key counts by SCAN over every
// primary) and RateLimiter (a limit kept on the node of its key).

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json/parse.hpp>

#include "cluster/valkey_cluster.hpp"
#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using cache::CacheService;
using cache::Json;
using cache::JsonObject;
using valkey::Client;
using valkey::ClientConfig;

class ClusterServicesTest : public ValkeyClusterTest {
 protected:
  ClientConfig config() const { return ClientConfig::from_url(cluster().url()); }
};

JsonObject object_of(std::string_view json) {
  return boost::json::parse(json).as_object();
}

TEST_F(ClusterServicesTest, ResponsesAndSessionsLiveOnTheNodesOfTheirKeys) {
  const auto client_config = config();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config);
    CacheService cache(client);
    for (int i = 0; i < 20; ++i) {
      co_await cache.cache_response("prompt " + std::to_string(i), "gpt-4", "answer");
    }
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(co_await cache.get_cached_response("prompt " + std::to_string(i), "gpt-4"),
                "answer");
    }
    co_await cache.set_session("s1", object_of(R"({"user":"alice","turns":1})"));
    EXPECT_TRUE(co_await cache.update_session("s1", object_of(R"({"turns":2})")));
    const auto session = co_await cache.get_session("s1");
    EXPECT_TRUE(session.has_value());
    if (session) {
      EXPECT_EQ(session->at("turns"), 2);
    }
  });
  const std::string key = "opencode:session:s1";
  ValkeyServer& owner = cluster().primary_of_slot(cluster().key_slot(key));
  EXPECT_EQ(object_of(owner.cli({"GET", key})).at("user"), "alice");
}

TEST_F(ClusterServicesTest, NamespaceInvalidationAndKeyCountsSpanEveryPrimary) {
  const auto client_config = config();
  std::map<std::string, std::uint64_t> counts;
  std::uint64_t removed = 0;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config);
    CacheService cache(client);
    for (int i = 0; i < 60; ++i) {
      co_await cache.set_metadata("m" + std::to_string(i), Json(i));
      co_await cache.cache_context("c" + std::to_string(i), Json("ctx"));
    }
    counts = co_await cache.key_counts();
    removed = co_await cache.invalidate_namespace("metadata");
    EXPECT_EQ(co_await cache.get_metadata("m7"), std::nullopt);
    EXPECT_TRUE((co_await cache.get_cached_context("c7")).has_value());
  });
  EXPECT_EQ(counts["metadata"], 60u);
  EXPECT_EQ(counts["context"], 60u);
  EXPECT_EQ(removed, 60u);
  std::size_t metadata_left = 0;
  for (ValkeyServer* primary : cluster().primaries()) {
    const std::string keys = primary->cli({"KEYS", "opencode:metadata:*"});
    metadata_left += keys.empty() ? 0 : 1;
  }
  EXPECT_EQ(metadata_left, 0u);
}

TEST_F(ClusterServicesTest, GetOrFetchCallsTheFetcherOnce) {
  const auto client_config = config();
  int fetches = 0;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config);
    CacheService cache(client);
    auto fetcher = [&]() -> cache::Task<Json> {
      ++fetches;
      co_return Json("fresh");
    };
    EXPECT_EQ(co_await cache.get_or_fetch("models", fetcher), Json("fresh"));
    EXPECT_EQ(co_await cache.get_or_fetch("models", fetcher), Json("fresh"));
  });
  EXPECT_EQ(fetches, 1);
}

TEST_F(ClusterServicesTest, RateLimitsHoldOnTheNodeOfTheirKey) {
  const auto client_config = config();
  ratelimit::RateLimiterConfig limiter_config;
  limiter_config.limits.clear();
  limiter_config.limits["user"] = ratelimit::LimitConfig{.window = 60'000ms, .max_requests = 3};
  limiter_config.default_type = "user";
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config);
    ratelimit::RateLimiter limiter(client, limiter_config);
    for (const std::string user : {"alice", "bob", "carol", "dave"}) {
      for (int i = 0; i < 3; ++i) EXPECT_TRUE((co_await limiter.check("user", user)).allowed);
      EXPECT_FALSE((co_await limiter.check("user", user)).allowed) << user;
    }
    EXPECT_EQ(limiter.stats().unavailable, 0u);  // decided by Valkey, not by a failure policy
  });
  const std::string key = "opencode:ratelimit:user:alice";
  EXPECT_EQ(cluster().primary_of_slot(cluster().key_slot(key)).cli({"ZCARD", key}), "3");
}

ratelimit::RateLimiterConfig user_and_global_limits() {
  ratelimit::RateLimiterConfig config;
  config.limits.clear();
  config.limits["user"] = ratelimit::LimitConfig{.window = 60'000ms, .max_requests = 2};
  config.limits["global"] = ratelimit::LimitConfig{.window = 60'000ms, .max_requests = 100};
  config.default_type = "user";
  return config;
}

std::vector<ratelimit::LimitRef> user_and_global(const std::string& user) {
  std::vector<ratelimit::LimitRef> limits;
  limits.push_back({"user", user});
  limits.push_back({"global", "all"});
  return limits;
}

// The gateway's check of a request: limits whose keys live in different slots, and callers of
// one loop turn for different users. Each is decided by Valkey (none by a failure policy).
TEST_F(ClusterServicesTest, ChecksOfSeveralLimitsAcrossSlotsAreDecidedByValkey) {
  const auto client_config = config();
  const auto limiter_config = user_and_global_limits();
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config);
    ratelimit::RateLimiter limiter(client, limiter_config);
    int allowed = 0;
    int refused = 0;
    int running = 0;
    for (const std::string user : {"alice", "bob", "carol"}) {
      for (int i = 0; i < 3; ++i) {
        ++running;
        boost::asio::co_spawn(
            ex,
            [&, user]() -> awaitable<void> {
              const auto decisions = co_await limiter.check_many(user_and_global(user));
              EXPECT_EQ(decisions.size(), 2u);
              (ratelimit::all_allowed(decisions) ? allowed : refused) += 1;
              --running;
            },
            boost::asio::detached);
      }
    }
    co_await wait_until([&] { return running == 0; });
    EXPECT_EQ(allowed, 6);  // two per user
    EXPECT_EQ(refused, 3);
    EXPECT_EQ(limiter.stats().unavailable, 0u);
  });
  const std::string key = "opencode:ratelimit:global:all";
  EXPECT_EQ(cluster().primary_of_slot(cluster().key_slot(key)).cli({"ZCARD", key}), "9");
}

}  // namespace
}  // namespace opencode_cache::testing
