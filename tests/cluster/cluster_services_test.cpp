// The layers above the client on a cluster, unchanged: CacheService (responses, sessions,
// get-or-fetch with its lease, namespace invalidation and key counts by SCAN over every
// primary) and RateLimiter (a limit kept on the node of its key; check_many across slots
// all-or-nothing by reserving slot by slot and releasing on a refusal).

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

  // A command on the primary that holds its key, the command's second word.
  std::string on_owner(const std::vector<std::string>& command) {
    return cluster().primary_of_slot(cluster().key_slot(command.at(1))).cli(command);
  }
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
  EXPECT_EQ(on_owner({"ZCARD", key}), "3");
}

ratelimit::RateLimiterConfig user_and_global_limits() {
  ratelimit::RateLimiterConfig config;
  config.limits.clear();
  config.limits["user"] = ratelimit::LimitConfig{.window = 60'000ms, .max_requests = 2};
  config.limits["global"] = ratelimit::LimitConfig{.window = 60'000ms, .max_requests = 100};
  config.default_type = "user";
  return config;
}

// Global first: a user's refusal comes from the later slot, after global reserved.
std::vector<ratelimit::LimitRef> global_and_user(const std::string& user) {
  std::vector<ratelimit::LimitRef> limits;
  limits.push_back({"global", "all"});
  limits.push_back({"user", user});
  return limits;
}

// The gateway's check of a request: limits whose keys live in different slots, and callers of
// one loop turn for different users. Each is decided by Valkey (none by a failure policy), and
// a refused request counts nowhere: what global reserved for it is released, so the global
// limit holds only the admitted ones.
TEST_F(ClusterServicesTest, ChecksOfSeveralLimitsAcrossSlotsAreAllOrNothing) {
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
              const auto decisions = co_await limiter.check_many(global_and_user(user));
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
    EXPECT_EQ(limiter.stats().allowed, 6u);
    EXPECT_EQ(limiter.stats().rejected, 3u);
    EXPECT_EQ(limiter.stats().unavailable, 0u);
  });
  const std::string key = "opencode:ratelimit:global:all";
  EXPECT_EQ(on_owner({"ZCARD", key}), "6");
}

// user (sliding log), provider (GCRA) and global (sliding log), each in its own slot; global
// is the tight one, and it is asked last.
ratelimit::RateLimiterConfig three_limits(std::uint64_t global_max) {
  ratelimit::RateLimiterConfig config;
  config.limits.clear();
  config.limits["user"] = ratelimit::LimitConfig{.window = 60'000ms, .max_requests = 5};
  config.limits["provider"] = ratelimit::LimitConfig{
      .window = 60'000ms, .max_requests = 5, .algorithm = ratelimit::Algorithm::gcra};
  config.limits["global"] = ratelimit::LimitConfig{.window = 60'000ms, .max_requests = global_max};
  config.default_type = "user";
  return config;
}

std::vector<ratelimit::LimitRef> user_provider_global(const std::string& user) {
  std::vector<ratelimit::LimitRef> limits;
  limits.push_back({"user", user});
  limits.push_back({"provider", "openai"});
  limits.push_back({"global", "all"});
  return limits;
}

std::vector<std::uint64_t> remaining_of(const std::vector<ratelimit::Decision>& decisions) {
  std::vector<std::uint64_t> remaining;
  for (const auto& decision : decisions) remaining.push_back(decision.remaining);
  return remaining;
}

std::vector<std::uint64_t> numbers(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  return std::vector<std::uint64_t>{a, b, c};
}

void expect_three_slots(ValkeyCluster& cluster) {
  const int user = cluster.key_slot("opencode:ratelimit:user:alice");
  const int provider = cluster.key_slot("opencode:ratelimit-gcra:provider:openai");
  const int global = cluster.key_slot("opencode:ratelimit:global:all");
  ASSERT_NE(user, provider);
  ASSERT_NE(user, global);
  ASSERT_NE(provider, global);
}

// The last limit refuses: what the first two reserved is released, so their remaining counts
// are as before the request, and the refused request is in no key.
TEST_F(ClusterServicesTest, ALaterSlotsRefusalReleasesTheEarlierSlotsReservations) {
  expect_three_slots(cluster());
  const auto client_config = config();
  const auto limiter_config = three_limits(2);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config);
    ratelimit::RateLimiter limiter(client, limiter_config);
    for (int i = 0; i < 2; ++i) {
      EXPECT_TRUE(
          ratelimit::all_allowed(co_await limiter.check_many(user_provider_global("alice"))));
    }
    const auto before = co_await limiter.peek_many(user_provider_global("alice"));
    EXPECT_EQ(remaining_of(before), numbers(3, 3, 0));

    const auto refused = co_await limiter.check_many(user_provider_global("alice"));
    EXPECT_FALSE(ratelimit::all_allowed(refused));
    EXPECT_TRUE(refused[0].allowed);  // each limit's own view, as on one node
    EXPECT_TRUE(refused[1].allowed);
    EXPECT_FALSE(refused[2].allowed);
    EXPECT_EQ(remaining_of(refused), numbers(3, 3, 0));  // as after the release
    EXPECT_GT(refused[2].retry_after.count(), 0);
    const auto after = co_await limiter.peek_many(user_provider_global("alice"));
    EXPECT_EQ(remaining_of(after), numbers(3, 3, 0));

    // A user never admitted: after the release, nothing of it is stored.
    const auto bob = co_await limiter.check_many(user_provider_global("bob"));
    EXPECT_FALSE(ratelimit::all_allowed(bob));
    EXPECT_EQ(remaining_of(bob), numbers(5, 3, 0));
    EXPECT_EQ(limiter.stats().allowed, 2u);
    EXPECT_EQ(limiter.stats().rejected, 2u);
    EXPECT_EQ(limiter.stats().unavailable, 0u);
  });
  const std::string alice = "opencode:ratelimit:user:alice";
  EXPECT_EQ(on_owner({"ZCARD", alice}), "2");
  const std::string bob = "opencode:ratelimit:user:bob";
  EXPECT_EQ(on_owner({"EXISTS", bob}), "0");
  const std::string global = "opencode:ratelimit:global:all";
  EXPECT_EQ(on_owner({"ZCARD", global}), "2");
}

// The first limit refuses: nothing is reserved anywhere, and the limits not reached are
// reported as a peek would.
TEST_F(ClusterServicesTest, AFirstSlotsRefusalReservesNothing) {
  expect_three_slots(cluster());
  const auto client_config = config();
  const auto limiter_config = three_limits(100);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config);
    ratelimit::RateLimiter limiter(client, limiter_config);
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(
          ratelimit::all_allowed(co_await limiter.check_many(user_provider_global("alice"))));
    }
    const auto refused = co_await limiter.check_many(user_provider_global("alice"));
    EXPECT_FALSE(refused[0].allowed);
    EXPECT_EQ(remaining_of(refused), numbers(0, 0, 95));
    const auto after = co_await limiter.peek_many(user_provider_global("alice"));
    EXPECT_EQ(remaining_of(after), numbers(0, 0, 95));
  });
  const std::string global = "opencode:ratelimit:global:all";
  EXPECT_EQ(on_owner({"ZCARD", global}), "5");
}

// An admitted request counts in every limit, on every slot's node.
TEST_F(ClusterServicesTest, AdmittedRequestsCountInEveryLimit) {
  expect_three_slots(cluster());
  const auto client_config = config();
  const auto limiter_config = three_limits(100);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config);
    ratelimit::RateLimiter limiter(client, limiter_config);
    for (std::uint64_t i = 1; i <= 3; ++i) {
      const auto decisions = co_await limiter.check_many(user_provider_global("alice"));
      EXPECT_TRUE(ratelimit::all_allowed(decisions));
      EXPECT_EQ(remaining_of(decisions), numbers(5 - i, 5 - i, 100 - i));
    }
    const auto after = co_await limiter.peek_many(user_provider_global("alice"));
    EXPECT_EQ(remaining_of(after), numbers(2, 2, 97));
    EXPECT_EQ(limiter.stats().allowed, 3u);
    EXPECT_EQ(limiter.stats().peeks, 1u);
  });
  const std::string user = "opencode:ratelimit:user:alice";
  EXPECT_EQ(on_owner({"ZCARD", user}), "3");
  const std::string provider = "opencode:ratelimit-gcra:provider:openai";
  EXPECT_EQ(on_owner({"EXISTS", provider}), "1");
  const std::string global = "opencode:ratelimit:global:all";
  EXPECT_EQ(on_owner({"ZCARD", global}), "3");
}

// Many callers at once, each reserving and maybe releasing on three nodes: no limit admits more
// than its maximum, and when it is over every key holds exactly the admitted requests (no
// reservation of a refused request is left behind).
TEST_F(ClusterServicesTest, ConcurrentChecksAcrossSlotsNeverAdmitMoreThanAnyLimit) {
  expect_three_slots(cluster());
  const auto client_config = config();
  const auto limiter_config = three_limits(3);
  const std::vector<std::string> users = strings("alice", "bob", "carol", "dave");
  constexpr int per_user = 10;
  std::map<std::string, int> admitted;
  int total = 0;
  std::vector<std::uint64_t> remaining;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, client_config);
    // Two limiters (two app servers) on one client: their decisions are not batched together.
    ratelimit::RateLimiter first(client, limiter_config);
    ratelimit::RateLimiter second(client, limiter_config);
    int running = 0;
    for (int i = 0; i < per_user; ++i) {
      for (const std::string& user : users) {
        ++running;
        ratelimit::RateLimiter& limiter = i % 2 == 0 ? first : second;
        boost::asio::co_spawn(
            ex,
            [&, user]() -> awaitable<void> {
              const auto decisions = co_await limiter.check_many(user_provider_global(user));
              if (ratelimit::all_allowed(decisions)) {
                ++admitted[user];
                ++total;
              }
              --running;
            },
            boost::asio::detached);
      }
    }
    co_await wait_until([&] { return running == 0; });
    EXPECT_EQ(first.stats().unavailable + second.stats().unavailable, 0u);
    remaining = remaining_of(co_await first.peek_many(user_provider_global("nobody")));
  });
  EXPECT_GE(total, 1);
  EXPECT_LE(total, 3);  // the global maximum, asked last
  const auto admitted_total = static_cast<std::uint64_t>(total);
  EXPECT_EQ(remaining, numbers(5, 5 - admitted_total, 3 - admitted_total));
  const std::string global = "opencode:ratelimit:global:all";
  EXPECT_EQ(on_owner({"ZCARD", global}), std::to_string(total));
  for (const std::string& user : users) {
    EXPECT_LE(admitted[user], 5) << user;
    const std::string key = "opencode:ratelimit:user:" + user;
    EXPECT_EQ(on_owner({"ZCARD", key}), std::to_string(admitted[user])) << user;
  }
}

}  // namespace
}  // namespace opencode_cache::testing
