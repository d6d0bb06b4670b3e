// get_or_fetch: single flight in a process, a lease across processes, stale-while-
// revalidate, and what happens when the fetcher or Valkey fails.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "opencode_cache/cache/cache_service.hpp"
#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using cache::CacheConfig;
using cache::CacheService;
using cache::Json;
using valkey::Client;
using valkey::ClientConfig;

// A stand-in for a slow upstream: fetches block until released.
struct GatedUpstream {
  int calls = 0;
  bool open = false;
  cache::Fetcher fetcher(Json answer) {
    return [this, answer]() -> cache::Task<Json> {
      ++calls;
      co_await wait_until([this] { return open; });
      co_return answer;
    };
  }
};

void spawn_callers(Executor ex, CacheService& cache, int count, const cache::Fetcher& fetcher,
                   std::vector<Json>& results) {
  for (int i = 0; i < count; ++i) {
    boost::asio::co_spawn(
        ex,
        [&cache, &results, fetcher]() -> awaitable<void> {
          results.push_back(co_await cache.get_or_fetch("models", fetcher));
        },
        boost::asio::detached);
  }
}

// Retries PING until the client is back (reconnected, breaker closed again); bounded.
awaitable<void> ping_until_answered(Client& client) {
  boost::asio::steady_timer pause(client.get_executor());
  for (int attempt = 0; attempt < 500; ++attempt) {
    try {
      if (co_await client.ping()) co_return;
    } catch (const valkey::Error&) {
    }
    pause.expires_after(10ms);
    co_await pause.async_wait(boost::asio::use_awaitable);
  }
  throw std::runtime_error("Valkey did not answer again within 5 s");
}

class GetOrFetchTest : public ValkeyTest {};

TEST_F(GetOrFetchTest, HundredConcurrentCallersShareOneFetch) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    GatedUpstream upstream;
    std::vector<Json> results;
    spawn_callers(ex, cache, 100, upstream.fetcher(Json("gpt-4,claude")), results);
    co_await wait_until([&] { return cache.stats().total().coalesced == 99; });
    upstream.open = true;
    co_await wait_until([&] { return results.size() == 100; });
    EXPECT_EQ(upstream.calls, 1);
    for (const auto& result : results) EXPECT_EQ(result, Json("gpt-4,claude"));
    // Now cached: no further fetch.
    EXPECT_EQ(co_await cache.get_or_fetch("models", upstream.fetcher(Json("other"))),
              Json("gpt-4,claude"));
    EXPECT_EQ(upstream.calls, 1);
  });
}

TEST_F(GetOrFetchTest, TwoInstancesShareOneFetchThroughTheLease) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client first_client(ex, config);
    Client second_client(ex, config);
    CacheService first(first_client);
    CacheService second(second_client);
    GatedUpstream upstream;
    std::vector<Json> results;
    spawn_callers(ex, first, 50, upstream.fetcher(Json(1)), results);
    co_await wait_until([&] { return upstream.calls == 1; });  // first holds the lease
    spawn_callers(ex, second, 50, upstream.fetcher(Json(2)), results);
    co_await wait_until([&] {
      return first.stats().total().coalesced == 49 && second.stats().total().coalesced == 49;
    });
    upstream.open = true;
    co_await wait_until([&] { return results.size() == 100; });
    EXPECT_EQ(upstream.calls, 1);
    for (const auto& result : results) EXPECT_EQ(result, Json(1));
    EXPECT_EQ(second.stats().total().fetches, 0u);
    // The lease is released once the value is stored.
    EXPECT_FALSE(co_await first_client.exists("opencode:lease:fetch:models"));
  });
}

TEST_F(GetOrFetchTest, AbandonedLeaseIsWaitedOutThenFetched) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  // Another process took the lease and died without storing anything.
  valkey.cli({"SET", "opencode:lease:fetch:models", "dead-process", "PX", "300"});
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    int calls = 0;
    const auto start = Clock::now();
    const Json value = co_await cache.get_or_fetch("models", [&]() -> cache::Task<Json> {
      ++calls;
      co_return Json("fresh");
    });
    EXPECT_EQ(value, Json("fresh"));
    EXPECT_EQ(calls, 1);
    EXPECT_GE(elapsed_since(start), 250ms);  // it waited for the lease holder first
    EXPECT_LT(elapsed_since(start), cache.config().lease_wait);
  });
}

TEST_F(GetOrFetchTest, FetcherErrorsReachEveryWaiterAndAreNeverCached) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    bool open = false;
    int calls = 0;
    int errors = 0;
    int finished = 0;
    const cache::Fetcher failing = [&]() -> cache::Task<Json> {
      ++calls;
      co_await wait_until([&] { return open; });
      throw std::runtime_error("upstream down");
    };
    for (int i = 0; i < 10; ++i) {
      boost::asio::co_spawn(
          ex,
          [&]() -> awaitable<void> {
            try {
              co_await cache.get_or_fetch("flaky", failing);
            } catch (const std::runtime_error& e) {
              if (std::string_view(e.what()) == "upstream down") ++errors;
            }
            ++finished;
          },
          boost::asio::detached);
    }
    co_await wait_until([&] { return cache.stats().total().coalesced == 9; });
    open = true;
    co_await wait_until([&] { return finished == 10; });
    EXPECT_EQ(errors, 10);
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(co_await client.exists("opencode:fetch:flaky"));
    EXPECT_EQ(co_await cache.get_or_fetch("flaky",
                                          [&]() -> cache::Task<Json> {
                                            ++calls;
                                            co_return Json("recovered");
                                          }),
              Json("recovered"));
    EXPECT_EQ(calls, 2);
  });
}

TEST_F(GetOrFetchTest, ShouldCacheVetoesStoring) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    int calls = 0;
    const cache::Fetcher fetcher = [&]() -> cache::Task<Json> {
      ++calls;
      co_return Json(boost::json::object{{"partial", true}});
    };
    cache::FetchOptions options;
    options.should_cache = [](const Json& value) { return !value.as_object().contains("partial"); };
    co_await cache.get_or_fetch("v", fetcher, options);
    co_await cache.get_or_fetch("v", fetcher, options);
    EXPECT_EQ(calls, 2);
    EXPECT_FALSE(co_await client.exists("opencode:fetch:v"));
  });
}

TEST_F(GetOrFetchTest, StaleValueIsServedAndRefreshedInTheBackground) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  // A value stored a while ago whose freshness ended, still within its grace.
  valkey.cli({"SET", "opencode:fetch:models",
              R"({"value":"old","stored_at":1000,"fresh_until":2000})", "EX", "60"});
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    // The fetcher owns what it captures: it runs after this caller has returned.
    auto calls = std::make_shared<int>(0);
    const cache::Fetcher fetcher = [calls]() -> cache::Task<Json> {
      ++*calls;
      co_return Json("new");
    };
    cache::FetchOptions options;
    options.ttl = 30s;
    options.stale_grace = 60s;
    EXPECT_EQ(co_await cache.get_or_fetch("models", fetcher, options), Json("old"));
    co_await cache.drain();
    EXPECT_EQ(*calls, 1);
    EXPECT_EQ(cache.stats().total().stale_served, 1u);
    EXPECT_EQ(co_await cache.get_or_fetch("models", fetcher, options), Json("new"));
    EXPECT_EQ(*calls, 1);
    // Hard TTL = fresh + grace.
    EXPECT_EQ(co_await client.ttl("opencode:fetch:models"), 90);
  });
}

TEST_F(GetOrFetchTest, TypedValuesRoundTrip) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    const auto fetch = [&]() -> cache::Task<std::vector<std::string>> {
      co_return strings("a", "b");
    };
    EXPECT_EQ(co_await cache.get_or_fetch_as<std::vector<std::string>>("list", fetch),
              strings("a", "b"));
    EXPECT_EQ(co_await cache.get_or_fetch_as<std::vector<std::string>>("list", fetch),
              strings("a", "b"));
    EXPECT_EQ(cache.stats().total().fetches, 1u);
  });
}

TEST_F(GetOrFetchTest, ValkeyGoneReadsAreQuickMissesAndFetchesStillAnswer) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    co_await cache.cache_response("p", "m", "r");
    valkey.kill();
    // The first failure is met on the dead connection; later ones know at once.
    for (int i = 0; i < 3; ++i) {
      const auto start = Clock::now();
      EXPECT_EQ(co_await cache.get_cached_response("p", "m"), std::nullopt);
      EXPECT_LT(elapsed_since(start), cache.config().operation_timeout + 100ms);
    }
    co_await cache.cache_response("p2", "m", "r");  // dropped, not thrown
    EXPECT_EQ(co_await cache.get_cached_context("c"), std::nullopt);
    int calls = 0;
    const auto start = Clock::now();
    EXPECT_EQ(co_await cache.get_or_fetch("models",
                                          [&]() -> cache::Task<Json> {
                                            ++calls;
                                            co_return Json("from upstream");
                                          }),
              Json("from upstream"));
    EXPECT_EQ(calls, 1);
    EXPECT_LT(elapsed_since(start), 1s);
    const auto& responses = cache.stats().by_namespace().at("response");
    EXPECT_EQ(responses.writes_dropped, 1u);
    EXPECT_GE(responses.errors, 3u);
    try {
      co_await cache.get_session("s");
      ADD_FAILURE() << "sessions are state: their failures surface";
    } catch (const valkey::Error&) {
    }
    valkey.start();
    // The breaker opened during the outage and lets a probe through after its cool-down.
    co_await ping_until_answered(client);
    co_await cache.cache_response("p", "m", "again");
    EXPECT_EQ(co_await cache.get_cached_response("p", "m"), "again");
  });
}

}  // namespace
}  // namespace opencode_cache::testing
