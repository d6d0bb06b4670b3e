// The circuit breaker as a state machine over outcomes and a clock, then in the client.

#include "opencode_cache/valkey/circuit_breaker.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "support/async_test.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::CircuitBreaker;
using valkey::CircuitBreakerPolicy;
using State = CircuitBreaker::State;
using BreakerClock = CircuitBreaker::Clock;

const BreakerClock::time_point t0 = BreakerClock::time_point(100s);

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresAndRefusesUntilTheCoolDown) {
  CircuitBreaker breaker({.consecutive_failures = 3, .cool_down = 1s});
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(breaker.allow(t0));
    breaker.record_failure(t0);
  }
  EXPECT_EQ(breaker.state(), State::closed);
  breaker.record_success(t0);  // a success breaks the run
  for (int i = 0; i < 2; ++i) breaker.record_failure(t0);
  EXPECT_EQ(breaker.state(), State::closed);
  breaker.record_failure(t0);
  EXPECT_EQ(breaker.state(), State::open);
  EXPECT_FALSE(breaker.allow(t0 + 999ms));
}

TEST(CircuitBreaker, HalfOpenAdmitsOneProbeWhoseOutcomeDecides) {
  CircuitBreaker breaker({.consecutive_failures = 1, .cool_down = 1s});
  breaker.record_failure(t0);
  EXPECT_TRUE(breaker.allow(t0 + 1s));
  EXPECT_EQ(breaker.state(), State::half_open);
  EXPECT_FALSE(breaker.allow(t0 + 1s)) << "only one probe at a time";
  breaker.record_failure(t0 + 1100ms);
  EXPECT_EQ(breaker.state(), State::open);
  EXPECT_FALSE(breaker.allow(t0 + 2s));  // the cool-down starts again
  EXPECT_TRUE(breaker.allow(t0 + 2100ms));
  breaker.record_success(t0 + 2200ms);
  EXPECT_EQ(breaker.state(), State::closed);
  EXPECT_TRUE(breaker.allow(t0 + 2200ms));
  EXPECT_TRUE(breaker.allow(t0 + 2200ms));
}

TEST(CircuitBreaker, NeutralOutcomesNeitherCloseNorOpenButFreeTheProbe) {
  CircuitBreaker breaker({.consecutive_failures = 2, .cool_down = 1s});
  breaker.record_failure(t0);
  breaker.record_neutral();  // a cancelled command does not break the run of failures
  breaker.record_failure(t0);
  EXPECT_EQ(breaker.state(), State::open);
  EXPECT_TRUE(breaker.allow(t0 + 1s));
  EXPECT_FALSE(breaker.allow(t0 + 1s));
  breaker.record_neutral();  // the probe's caller gave up: no verdict
  EXPECT_EQ(breaker.state(), State::half_open);
  EXPECT_TRUE(breaker.allow(t0 + 1s)) << "the next command probes instead";
  breaker.record_success(t0 + 1s);
  EXPECT_EQ(breaker.state(), State::closed);
}

TEST(CircuitBreaker, OpensOnTheFailureRateOverTheWindow) {
  CircuitBreaker breaker(
      {.consecutive_failures = 1000, .failure_rate = 0.5, .min_requests = 10, .window = 10s});
  // Alternating outcomes: never 1000 in a row, but half of them fail.
  for (int i = 0; i < 9; ++i) {
    (i % 2 == 0 ? breaker.record_failure(t0) : breaker.record_success(t0));
  }
  EXPECT_EQ(breaker.state(), State::closed) << "fewer than min_requests";
  breaker.record_success(t0);
  breaker.record_failure(t0);
  EXPECT_EQ(breaker.state(), State::open);
}

TEST(CircuitBreaker, OldFailuresLeaveTheWindow) {
  CircuitBreaker breaker(
      {.consecutive_failures = 1000, .failure_rate = 0.5, .min_requests = 10, .window = 10s});
  for (int i = 0; i < 9; ++i) breaker.record_failure(t0);
  breaker.record_success(t0);
  // Eleven seconds later the nine failures are out of the window.
  for (int i = 0; i < 9; ++i) breaker.record_success(t0 + 11s);
  breaker.record_failure(t0 + 11s);
  EXPECT_EQ(breaker.state(), State::closed);
}

TEST(CircuitBreaker, DisabledAlwaysAllows) {
  CircuitBreaker breaker({.enabled = false, .consecutive_failures = 1});
  for (int i = 0; i < 10; ++i) breaker.record_failure(t0);
  EXPECT_TRUE(breaker.allow(t0));
  EXPECT_EQ(breaker.state(), State::closed);
}

TEST(CircuitBreaker, ReportsEachTransition) {
  CircuitBreaker breaker({.consecutive_failures = 1, .cool_down = 1s});
  std::vector<std::string> seen;
  breaker.on_transition([&](State from, State to) {
    seen.push_back(std::string(to_string(from)) + "->" + std::string(to_string(to)));
  });
  breaker.record_failure(t0);
  breaker.allow(t0 + 1s);
  breaker.record_success(t0 + 1s);
  EXPECT_THAT(seen, ::testing::ElementsAre("closed->open", "open->half_open", "half_open->closed"));
  EXPECT_EQ(breaker.transitions(), 3u);
}

class ClientBreaker : public ValkeyTest {};

TEST_F(ClientBreaker, FailsFastWhileOpenAndClosesAfterRecovery) {
  auto& valkey = server();
  valkey::ClientConfig config;
  config.host = valkey.host();
  config.port = valkey.port();
  config.command_timeout = 200ms;
  config.reconnect = {.base_delay = 20ms, .max_delay = 50ms, .max_attempts = 0};
  config.breaker = {.consecutive_failures = 3, .cool_down = 300ms};
  std::vector<std::string> lines;
  config.log = [&](std::string_view line) { lines.emplace_back(line); };
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, config);
    co_await client.set("k", "v");
    valkey.kill();
    // Failed reconnects and commands past their deadline open the breaker.
    int failures = 0;
    while (client.breaker_state() == State::closed) {
      try {
        co_await client.get("k");
      } catch (const valkey::Error&) {
        ++failures;
      }
    }
    EXPECT_GE(failures, 1);
    const auto opened = Clock::now();
    const auto start = Clock::now();
    for (int i = 0; i < 100; ++i) {
      try {
        co_await client.get("k");
        ADD_FAILURE() << "the breaker is open";
      } catch (const valkey::Error& e) {
        EXPECT_EQ(e.code(), valkey::errc::circuit_open);
      }
    }
    EXPECT_LT(elapsed_since(start), 50ms) << "an open breaker answers without waiting";
    EXPECT_EQ(client.stats().breaker_rejections, 100u);
    valkey.start();
    co_await wait_until([&] { return client.state() == valkey::ConnectionState::ready; });
    // After the cool-down the next command is the probe; it succeeds and closes the breaker.
    co_await wait_until([&] { return elapsed_since(opened) > config.breaker.cool_down; });
    const auto value = co_await client.get("k");
    EXPECT_EQ(value, std::nullopt);  // the restarted server is empty
    EXPECT_EQ(client.breaker_state(), State::closed);
  });
  EXPECT_THAT(lines, ::testing::Contains(::testing::HasSubstr("event=breaker_open")));
  EXPECT_THAT(lines, ::testing::Contains(::testing::HasSubstr("event=breaker_half_open")));
  EXPECT_THAT(lines, ::testing::Contains(::testing::HasSubstr("event=breaker_closed")));
}

valkey::Command get_command(std::string_view key) {
  valkey::Command command("GET");
  command.arg(key);
  return command;
}

// Rate-limit decisions carry a deadline far shorter than the command timeout; when Valkey
// stalls, every one in flight passes it together. That is one failure, not one each: the
// breaker stays closed, and cache reads go on when Valkey answers again. Commands sent one
// after another that each time out still open it.
TEST_F(ClientBreaker, CommandsTimingOutTogetherAreOneFailure) {
  auto& valkey = server();
  valkey::ClientConfig config;
  config.host = valkey.host();
  config.port = valkey.port();
  config.command_timeout = 300ms;
  config.breaker = {.consecutive_failures = 3, .cool_down = 10s};
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, config);
    co_await client.set("k", "v");
    valkey.pause();
    valkey::RequestOptions impatient;
    impatient.timeout = 20ms;
    int timeouts = 0;
    int done = 0;
    for (int i = 0; i < 10; ++i) {
      boost::asio::co_spawn(
          ex,
          [&]() -> awaitable<void> {
            try {
              co_await client.command(get_command("k"), impatient);
            } catch (const valkey::Error& e) {
              if (e.code() == valkey::errc::timeout) ++timeouts;
            }
            ++done;
          },
          boost::asio::detached);
    }
    co_await wait_until([&] { return done == 10; });
    EXPECT_EQ(timeouts, 10);
    EXPECT_EQ(client.breaker_state(), State::closed);
    // Two timeouts one after another make three failures with the burst's one: the server is
    // failing.
    for (int i = 0; i < 2; ++i) {
      try {
        co_await client.get("k");
        ADD_FAILURE() << "the server is paused";
      } catch (const valkey::Error& e) {
        EXPECT_EQ(e.code(), valkey::errc::timeout);
      }
    }
    EXPECT_EQ(client.breaker_state(), State::open);
    valkey.resume();
  });
}

// A dropped connection under load is one failure, however many commands it touched: cache
// reads that fail fast while reconnecting must not open the breaker (found by the fault suite).
TEST_F(ClientBreaker, OneDroppedConnectionUnderLoadDoesNotOpenIt) {
  auto& valkey = server();
  valkey::ClientConfig config;
  config.host = valkey.host();
  config.port = valkey.port();
  config.reconnect = {.base_delay = 20ms, .max_delay = 200ms, .max_attempts = 0};
  run_async([&](Executor ex) -> awaitable<void> {
    valkey::Client client(ex, config);
    cache::CacheService cache(client);
    co_await cache.set_session("s", cache::JsonObject());
    bool stop = false;
    int running = 64;
    for (int i = 0; i < 64; ++i) {
      boost::asio::co_spawn(
          ex,
          [&]() -> awaitable<void> {
            boost::asio::steady_timer pace(ex);
            while (!stop) {
              co_await cache.get_cached_response("p", "m");
              pace.expires_after(1ms);
              co_await pace.async_wait(boost::asio::use_awaitable);
            }
            --running;
          },
          boost::asio::detached);
    }
    co_await wait_until([&] { return cache.stats().total().misses > 500; });
    valkey.cli({"CLIENT", "KILL", "TYPE", "normal"});
    co_await wait_until([&] { return client.stats().connects >= 2; });
    EXPECT_TRUE((co_await cache.get_session("s")).has_value());
    const auto misses = cache.stats().total().misses;
    co_await wait_until([&] { return cache.stats().total().misses > misses + 500; });
    stop = true;
    co_await wait_until([&] { return running == 0; });
    EXPECT_EQ(client.stats().breaker_transitions, 0u);
    EXPECT_EQ(client.stats().breaker_rejections, 0u);
  });
}

}  // namespace
}  // namespace opencode_cache::testing
