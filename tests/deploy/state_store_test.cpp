// State apart from cache, as deployed: sessions and rate limits in the state Valkey
// (config/valkey-state.conf: noeviction, AOF) survive the cache Valkey evicting under memory
// pressure and a crash of the state Valkey itself.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "deploy/project_valkey.hpp"
#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "support/async_test.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using cache::CacheService;
using cache::JsonObject;
using ratelimit::RateLimiter;
using ratelimit::RateLimiterConfig;
using valkey::Client;

constexpr std::uint64_t kUserLimit = 1000;
constexpr std::size_t kSessions = 300;
constexpr std::size_t kLimitedUsers = 20;

RateLimiterConfig user_limit() {
  RateLimiterConfig config;
  config.limits["user"].max_requests = kUserLimit;
  config.limits["user"].window = 10min;
  return config;
}

JsonObject session_data(std::size_t i) {
  JsonObject data;
  data["user"] = "user-" + std::to_string(i);
  data["turn"] = static_cast<std::int64_t>(i);
  return data;
}

std::string session_id(std::size_t i) {
  return "session-" + std::to_string(i);
}
std::string limited_user(std::size_t i) {
  return "user-" + std::to_string(i % kLimitedUsers);
}

std::uint64_t info_field(const std::string& info, const std::string& name) {
  const auto at = info.find(name + ":");
  return at == std::string::npos ? 0 : std::stoull(info.substr(at + name.size() + 1));
}

class StateStoreTest : public ValkeyTest {};

TEST_F(StateStoreTest, CacheFilledToTwiceItsMemoryLosesNoSessionAndNoRateLimit) {
  // Small enough to fill quickly; set through the launcher as .env would set it.
  constexpr std::uint64_t kCacheMemory = 8 * 1024 * 1024;
  auto& cache_valkey =
      start_server(project_valkey("cache", string_pairs("VALKEY_MAXMEMORY", "8mb")));
  auto& state_valkey = start_server(project_valkey("state"));
  ASSERT_EQ(cache_valkey.cli({"CONFIG", "GET", "maxmemory"}), "maxmemory\n8388608");
  ASSERT_EQ(cache_valkey.cli({"CONFIG", "GET", "maxmemory-policy"}),
            "maxmemory-policy\nallkeys-lru");

  const auto cache_config = app_config(cache_valkey);
  const auto state_config = app_config(state_valkey);
  std::map<std::string, std::uint64_t> counted;
  run_async(
      [&](Executor ex) -> awaitable<void> {
        Client cache_client(ex, cache_config);
        Client state_client(ex, state_config);
        CacheService cache(cache_client, state_client);
        RateLimiter limiter(state_client, user_limit());

        // Sessions and limits written first (the oldest keys, LRU's first victims) and then
        // on, while the cache takes twice its memory in responses.
        const std::string response(4096, 'r');
        std::uint64_t written = 0;
        std::size_t i = 0;
        while (written < 2 * kCacheMemory) {
          if (i < kSessions) {
            co_await cache.set_session(session_id(i), session_data(i));
            const auto decision = co_await limiter.check("user", limited_user(i));
            EXPECT_TRUE(decision.allowed);
            ++counted[limited_user(i)];
          }
          co_await cache.cache_response("prompt " + std::to_string(i), "model", response);
          written += response.size();
          ++i;
        }
        EXPECT_GE(i, kSessions);

        const auto info = co_await cache.server_info();
        EXPECT_GT(info.evicted_keys, 0u) << "the cache never had to evict: the test proves nothing";
        EXPECT_LE(info.used_memory, kCacheMemory + kCacheMemory / 4);

        for (std::size_t s = 0; s < kSessions; ++s) {
          const auto session = co_await cache.get_session(session_id(s));
          EXPECT_EQ(session, session_data(s)) << session_id(s);
        }
        for (const auto& [user, count] : counted) {
          const auto decision = co_await limiter.peek("user", user);
          EXPECT_EQ(decision.remaining, kUserLimit - count) << user;
        }
      },
      120s);
  EXPECT_EQ(info_field(state_valkey.cli({"INFO", "stats"}), "evicted_keys"), 0u);
}

TEST_F(StateStoreTest, SessionsAndLimitsSurviveACrashOfTheStateStore) {
  auto& cache_valkey = start_server(project_valkey("cache"));
  auto& state_valkey = start_server(project_valkey("state"));
  const auto cache_config = app_config(cache_valkey);
  const auto state_config = app_config(state_valkey);
  JsonObject changes;
  changes["title"] = "renamed";

  run_async([&](Executor ex) -> awaitable<void> {
    Client cache_client(ex, cache_config);
    Client state_client(ex, state_config);
    CacheService cache(cache_client, state_client);
    RateLimiter limiter(state_client, user_limit());
    for (std::size_t i = 0; i < 50; ++i) co_await cache.set_session(session_id(i), session_data(i));
    EXPECT_TRUE(co_await cache.update_session(session_id(7), changes));
    for (int i = 0; i < 5; ++i) co_await limiter.check("user", "alice");
  });

  // SIGKILL right after the last acknowledged write: with appendfsync everysec the AOF is
  // written before the reply goes out, so only a machine crash could lose that second.
  state_valkey.kill();
  state_valkey.start();

  run_async([&](Executor ex) -> awaitable<void> {
    Client cache_client(ex, cache_config);
    Client state_client(ex, state_config);
    CacheService cache(cache_client, state_client);
    RateLimiter limiter(state_client, user_limit());
    for (std::size_t i = 0; i < 50; ++i) {
      auto expected = session_data(i);
      if (i == 7) expected["title"] = "renamed";
      EXPECT_EQ(co_await cache.get_session(session_id(i)), expected) << session_id(i);
    }
    EXPECT_EQ((co_await limiter.peek("user", "alice")).remaining, kUserLimit - 5);
  });
  // The sessions' expiry came back with them.
  const int ttl = std::stoi(state_valkey.cli({"TTL", "opencode:session:session-1"}));
  EXPECT_GT(ttl, 86000);
}

TEST_F(StateStoreTest, SessionsGoToTheStateStoreAndEverythingElseToTheCache) {
  auto& cache_valkey = start_server(project_valkey("cache"));
  auto& state_valkey = start_server(project_valkey("state"));
  const auto cache_config = app_config(cache_valkey);
  const auto state_config = app_config(state_valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client cache_client(ex, cache_config);
    Client state_client(ex, state_config);
    CacheService cache(cache_client, state_client);
    co_await cache.set_session("s1", session_data(1));
    co_await cache.cache_response("hello", "gpt-4", "hi");
    co_await cache.cache_context("c1", cache::Json("context"));
    EXPECT_EQ(state_valkey.cli(strings("DBSIZE")), "1");
    EXPECT_EQ(state_valkey.cli(strings("EXISTS", "opencode:session:s1")), "1");
    EXPECT_EQ(cache_valkey.cli(strings("DBSIZE")), "2");
    EXPECT_EQ(cache_valkey.cli(strings("EXISTS", "opencode:session:s1")), "0");

    const auto counts = co_await cache.key_counts();
    EXPECT_EQ(counts.at("session"), 1u);
    EXPECT_EQ(counts.at("response"), 1u);
    EXPECT_EQ(counts.at("context"), 1u);
    // A namespace is removed from its own store, a pattern from both.
    EXPECT_TRUE(co_await cache.invalidate("session", "s1"));
    co_await cache.set_session("s2", session_data(2));
    EXPECT_EQ(co_await cache.invalidate_namespace("session"), 1u);
    co_await cache.set_session("s3", session_data(3));
    EXPECT_EQ(co_await cache.invalidate_pattern("*"), 3u);
  });
  EXPECT_EQ(state_valkey.cli({"DBSIZE"}), "0");
  EXPECT_EQ(cache_valkey.cli({"DBSIZE"}), "0");
}

}  // namespace
}  // namespace opencode_cache::testing
