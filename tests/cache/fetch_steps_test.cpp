// get_or_fetch one step at a time (read_fetched, acquire_fetch_lease, store_fetched,
// release_fetch_lease, wait_for_fetched): a caller that fetches elsewhere coordinates with
// get_or_fetch callers through the same keys.

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
using cache::CacheService;
using cache::Json;
using valkey::Client;
using valkey::ClientConfig;

constexpr std::string_view fetch_ns = cache::ns::fetch;

// The figures of namespace "fetch" (none yet: zeros).
cache::NamespaceStats fetch_figures(const CacheService& cache) {
  const auto& all = cache.stats().by_namespace();
  const auto it = all.find(fetch_ns);
  return it == all.end() ? cache::NamespaceStats() : it->second;
}

class FetchStepsTest : public ValkeyTest {};

TEST_F(FetchStepsTest, AStepwiseCallerHoldsTheLeaseAndGetOrFetchWaitsForItsValue) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService stepwise(client);
    Client other_client(ex, config);
    CacheService other(other_client);

    EXPECT_EQ(co_await stepwise.read_fetched("models", fetch_ns), std::nullopt);
    const auto token = co_await stepwise.acquire_fetch_lease("models", fetch_ns);
    EXPECT_TRUE(token.has_value());
    EXPECT_EQ(co_await other.acquire_fetch_lease("models", fetch_ns), std::nullopt);

    int calls = 0;
    std::optional<Json> result;
    boost::asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          result = co_await other.get_or_fetch("models", [&]() -> cache::Task<Json> {
            ++calls;
            co_return Json("fetched by get_or_fetch");
          });
        },
        boost::asio::detached);
    // get_or_fetch found the lease taken and polls for the value.
    co_await wait_until([&] { return fetch_figures(other).misses == 1; });
    cache::FetchOptions options;
    options.ttl = 60s;
    co_await stepwise.store_fetched("models", Json("fetched elsewhere"), options);
    EXPECT_TRUE(co_await stepwise.release_fetch_lease("models", token.value_or(""), fetch_ns));
    co_await wait_until([&] { return result.has_value(); });
    EXPECT_EQ(*result, Json("fetched elsewhere"));
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(co_await stepwise.read_fetched("models", fetch_ns), Json("fetched elsewhere"));
    EXPECT_FALSE(co_await client.exists("opencode:lease:fetch:models"));
    const auto ttl = co_await client.ttl("opencode:fetch:models");
    EXPECT_GT(ttl, 50);
    EXPECT_LE(ttl, 60);
  });
}

TEST_F(FetchStepsTest, GetOrFetchHoldsTheLeaseAndAStepwiseCallerWaitsForItsValue) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    Client stepwise_client(ex, config);
    CacheService stepwise(stepwise_client);
    bool open = false;
    boost::asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          co_await cache.get_or_fetch("slow", [&]() -> cache::Task<Json> {
            co_await wait_until([&] { return open; });
            co_return Json(42);
          });
        },
        boost::asio::detached);
    co_await wait_until([&] { return fetch_figures(cache).fetches == 1; });
    EXPECT_EQ(co_await stepwise.acquire_fetch_lease("slow", fetch_ns), std::nullopt);
    std::optional<std::optional<Json>> waited;
    boost::asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          waited = co_await stepwise.wait_for_fetched("slow", fetch_ns, 5000ms);
        },
        boost::asio::detached);
    open = true;
    co_await wait_until([&] { return waited.has_value(); });
    EXPECT_EQ(*waited, Json(42));
    EXPECT_EQ(fetch_figures(stepwise).coalesced, 1u);
  });
}

TEST_F(FetchStepsTest, WaitingEndsAtOnceWhenNobodyHoldsTheLease) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    const auto start = Clock::now();
    EXPECT_EQ(co_await cache.wait_for_fetched("nobody", fetch_ns, 5000ms), std::nullopt);
    EXPECT_LT(elapsed_since(start), 1000ms);
  });
}

TEST_F(FetchStepsTest, WaitingEndsAtItsLimitWhileTheHolderKeepsFetching) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    EXPECT_TRUE((co_await cache.acquire_fetch_lease("held", fetch_ns)).has_value());
    const auto start = Clock::now();
    EXPECT_EQ(co_await cache.wait_for_fetched("held", fetch_ns, 200ms), std::nullopt);
    EXPECT_GE(elapsed_since(start), 200ms);
    EXPECT_LT(elapsed_since(start), 2000ms);
  });
}

TEST_F(FetchStepsTest, ALeaseIsReleasedOnlyByItsOwner) {
  auto config = quick_reconnect_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    const auto token = co_await cache.acquire_fetch_lease("k", fetch_ns);
    EXPECT_FALSE(co_await cache.release_fetch_lease("k", "someone else", fetch_ns));
    EXPECT_TRUE(co_await client.exists("opencode:lease:fetch:k"));
    const auto pttl = co_await client.command(valkey::Command("PTTL", "opencode:lease:fetch:k"));
    EXPECT_GT(pttl.integer, 0);
    EXPECT_LE(pttl.integer, cache.config().lease_ttl.count());
    EXPECT_TRUE(co_await cache.release_fetch_lease("k", token.value_or(""), fetch_ns));
    EXPECT_FALSE(co_await cache.release_fetch_lease("k", token.value_or(""), fetch_ns));
    EXPECT_TRUE((co_await cache.acquire_fetch_lease("k", fetch_ns)).has_value());
  });
}

TEST_F(FetchStepsTest, StepsThrowWhenValkeyCannotBeAsked) {
  auto& valkey = server();
  auto config = quick_reconnect_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    EXPECT_TRUE(co_await client.ping());
    valkey.kill();
    int failures = 0;
    try {
      co_await cache.read_fetched("k", fetch_ns);
    } catch (const valkey::Error&) {
      ++failures;
    }
    try {
      co_await cache.acquire_fetch_lease("k", fetch_ns);
    } catch (const valkey::Error&) {
      ++failures;
    }
    try {
      co_await cache.store_fetched("k", Json(1), cache::FetchOptions());
    } catch (const valkey::Error&) {
      ++failures;
    }
    EXPECT_EQ(failures, 3);
    EXPECT_GE(fetch_figures(cache).errors, 3u);
  });
}

}  // namespace
}  // namespace opencode_cache::testing
