// Cancellation above the client: a cancelled cache caller gets errc::cancelled (soft paths
// included, never a miss), a cancelled single-flight leader hands over to its followers, a
// fetch deadline holds, and background refreshes survive their CacheService.

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using cache::CacheService;
using cache::Json;
using valkey::Client;
using valkey::ClientConfig;
using valkey::errc;

// The error code a call ended with (none: it returned), failing the test on anything that is
// not a valkey::Error.
std::optional<std::error_code> error_of(const std::exception_ptr& failure) {
  if (!failure) return std::nullopt;
  try {
    std::rethrow_exception(failure);
  } catch (const valkey::Error& e) {
    return e.code();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a valkey::Error: " << e.what();
  }
  return std::error_code{};
}

// An upstream that answers when told to, or never; it records being cancelled.
struct Upstream {
  int calls = 0;
  bool open = false;
  int cancelled = 0;
};

cache::Fetcher gated_fetcher(std::shared_ptr<Upstream> upstream, Json answer) {
  return [upstream, answer]() -> cache::Task<Json> {
    ++upstream->calls;
    asio::steady_timer poll(co_await asio::this_coro::executor);
    while (!upstream->open) {
      poll.expires_after(1ms);
      co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
      // Asio marks the coroutine cancelled even when the timer had fired already.
      const auto& state = co_await asio::this_coro::cancellation_state;
      if (state.cancelled() != asio::cancellation_type::none) {
        ++upstream->cancelled;
        throw std::runtime_error("the fetch was cancelled");
      }
    }
    co_return answer;
  };
}

class CacheCancellation : public ValkeyTest {};

TEST_F(CacheCancellation, ACancelledSoftReadIsCancelledNotAMiss) {
  auto config = client_config(server());
  config.command_timeout = 10s;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    cache::CacheConfig cache_config;
    cache_config.operation_timeout = 10s;
    CacheService cache(client, cache_config);
    co_await cache.set_metadata("m", Json("v"));
    server().pause();
    const auto writes = client.stats().writes;
    asio::cancellation_signal signal;
    std::optional<std::optional<std::error_code>> seen;
    asio::co_spawn(ex, cache.get_metadata("m"),
                   asio::bind_cancellation_slot(
                       signal.slot(), [&](std::exception_ptr failure, std::optional<Json>) {
                         seen = error_of(failure);
                       }));
    co_await wait_until([&] { return client.stats().writes > writes; });
    signal.emit(asio::cancellation_type::terminal);
    co_await wait_until([&] { return seen.has_value(); });
    server().resume();
    EXPECT_EQ(*seen, std::optional<std::error_code>(errc::cancelled));
    const auto stats = cache.stats().by_namespace().find(cache::ns::metadata)->second;
    EXPECT_EQ(stats.errors, 0u);
    EXPECT_EQ(stats.misses, 0u) << "a cancelled read is not a miss";
    EXPECT_EQ(co_await cache.get_metadata("m"), Json("v"));
  });
}

TEST_F(CacheCancellation, ACancelledLeaderHandsTheFetchToAFollower) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    auto upstream = std::make_shared<Upstream>();
    const cache::Fetcher fetcher = gated_fetcher(upstream, Json("value"));
    asio::cancellation_signal leader_signal;
    std::optional<std::optional<std::error_code>> leader;
    asio::co_spawn(
        ex, cache.get_or_fetch("models", fetcher),
        asio::bind_cancellation_slot(leader_signal.slot(), [&](std::exception_ptr failure, Json) {
          leader = error_of(failure);
        }));
    co_await wait_until([&] { return upstream->calls == 1; });
    std::vector<Json> followers;
    for (int i = 0; i < 2; ++i) {
      asio::co_spawn(
          ex,
          [&]() -> awaitable<void> {
            followers.push_back(co_await cache.get_or_fetch("models", fetcher));
          },
          asio::detached);
    }
    co_await wait_until([&] { return cache.stats().total().coalesced == 2; });
    leader_signal.emit(asio::cancellation_type::terminal);
    co_await wait_until([&] { return leader.has_value(); });
    EXPECT_EQ(*leader, std::optional<std::error_code>(errc::cancelled));
    EXPECT_EQ(upstream->cancelled, 1) << "the leader's own fetch stopped with it";
    co_await wait_until([&] { return upstream->calls == 2; });  // a follower took over
    upstream->open = true;
    co_await wait_until([&] { return followers.size() == 2; });
    EXPECT_EQ(followers[0], Json("value"));
    EXPECT_EQ(followers[1], Json("value"));
    EXPECT_EQ(upstream->calls, 2) << "one fetch for both followers";
    EXPECT_EQ(co_await cache.get_or_fetch("models", fetcher), Json("value"));
  });
}

TEST_F(CacheCancellation, AFetchDeadlineEndsAHungFetchForEveryCaller) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    CacheService cache(client);
    auto upstream = std::make_shared<Upstream>();  // never opens
    cache::FetchOptions options;
    options.fetch_timeout = 100ms;
    const cache::Fetcher fetcher = gated_fetcher(upstream, Json("never"));
    std::vector<std::optional<std::error_code>> outcomes;
    for (int i = 0; i < 3; ++i) {
      asio::co_spawn(
          ex, cache.get_or_fetch("slow", fetcher, options),
          [&](std::exception_ptr failure, Json) { outcomes.push_back(error_of(failure)); });
    }
    const auto start = Clock::now();
    co_await wait_until([&] { return outcomes.size() == 3; });
    EXPECT_LT(elapsed_since(start), 2s);
    for (const auto& outcome : outcomes) {
      EXPECT_EQ(outcome, std::optional<std::error_code>(errc::timeout));
    }
    EXPECT_EQ(upstream->calls, 1);
    co_await wait_until([&] { return upstream->cancelled == 1; });
    EXPECT_FALSE(co_await client.exists("opencode:fetch:slow")) << "nothing stored";
  });
}

TEST_F(CacheCancellation, DestroyingTheServiceWithARefreshInFlightIsSafe) {
  auto& valkey = server();
  valkey.cli({"SET", "opencode:fetch:models",
              R"({"value":"old","stored_at":1000,"fresh_until":2000})", "EX", "60"});
  auto config = client_config(valkey);
  run_async([&](Executor ex) -> awaitable<void> {
    auto upstream = std::make_shared<Upstream>();  // the refresh hangs until cancelled
    {
      Client client(ex, config);
      {
        CacheService cache(client);
        cache::FetchOptions options;
        options.ttl = 30s;
        options.stale_grace = 60s;
        EXPECT_EQ(
            co_await cache.get_or_fetch("models", gated_fetcher(upstream, Json("new")), options),
            Json("old"));
        co_await wait_until([&] { return upstream->calls == 1; });
      }  // the service goes, its refresh still in the fetcher
      co_await wait_until([&] { return upstream->cancelled == 1; });
    }  // and the client too
    Client reader(ex, config);
    EXPECT_EQ(co_await reader.ttl("opencode:fetch:models") > 0, true);
    EXPECT_EQ((co_await reader.get("opencode:fetch:models")).value_or("").find("\"old\"") !=
                  std::string::npos,
              true)
        << "the cancelled refresh stored nothing";
  });
}

TEST_F(CacheCancellation, ACancelledDecisionIsCancelledNotAPolicyDecision) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    ratelimit::RateLimiterConfig limits;
    limits.timeout = 10s;
    ratelimit::RateLimiter limiter(client, limits);
    co_await limiter.check("user", "warm-up");
    server().pause();
    const auto writes = client.stats().writes;
    asio::cancellation_signal signal;
    std::optional<std::optional<std::error_code>> seen;
    asio::co_spawn(ex, limiter.check("user", "alice"),
                   asio::bind_cancellation_slot(
                       signal.slot(), [&](std::exception_ptr failure, ratelimit::Decision) {
                         seen = error_of(failure);
                       }));
    co_await wait_until([&] { return client.stats().writes > writes; });
    signal.emit(asio::cancellation_type::terminal);
    co_await wait_until([&] { return seen.has_value(); });
    server().resume();
    EXPECT_EQ(*seen, std::optional<std::error_code>(errc::cancelled));
    EXPECT_EQ(limiter.stats().unavailable, 0u);
  });
}

TEST_F(CacheCancellation, DecisionsFailFastWhileTheConnectionIsDown) {
  auto& valkey = server();
  auto config = client_config(valkey);
  config.reconnect.base_delay = 500ms;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    ratelimit::RateLimiter limiter(client, ratelimit::RateLimiterConfig{});
    EXPECT_FALSE((co_await limiter.check("user", "alice")).degraded);
    valkey.kill();
    co_await wait_until([&] { return client.state() != valkey::ConnectionState::ready; });
    const auto start = Clock::now();
    const ratelimit::Decision decision = co_await limiter.check("user", "alice");
    EXPECT_TRUE(decision.degraded);
    EXPECT_LT(elapsed_since(start), 100ms + 250ms) << "within the 100 ms default deadline";
  });
}

}  // namespace
}  // namespace opencode_cache::testing
