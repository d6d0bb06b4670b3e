// Cancellation is a normal event for a client under an HTTP server: a caller raced against a
// timer (operator||), a parallel_group that no longer needs an answer, an explicit
// cancellation_signal. A cancelled caller gets errc::cancelled, its request is abandoned, and
// neither the breaker nor the timeout count hears of it.

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <random>

#include "opencode_cache/valkey/client.hpp"
#include "support/async_test.hpp"
#include "support/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
using valkey::CircuitBreaker;
using valkey::Client;
using valkey::ClientConfig;
using valkey::errc;

// What a caller saw: the value, or the error code of what it threw. Anything thrown that is
// not a valkey::Error fails the test.
struct Outcome {
  std::optional<std::string> value;
  std::error_code error;
};

Outcome outcome_of(std::exception_ptr failure, std::optional<std::string> value) {
  if (!failure) return {std::move(value), {}};
  try {
    std::rethrow_exception(failure);
  } catch (const valkey::Error& e) {
    return {std::nullopt, e.code()};
  } catch (const std::exception& e) {
    ADD_FAILURE() << "a cancelled call threw something other than valkey::Error: " << e.what();
  }
  return {};
}

class ClientCancellation : public ValkeyTest {};

TEST_F(ClientCancellation, GetRacedAgainstShortTimersLeavesTheClientHealthy) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("k", "v");
    std::minstd_rand random(7);
    std::uniform_int_distribution<int> delay_us(0, 400);
    asio::steady_timer timer(ex);
    int timer_won = 0;
    for (int i = 0; i < 20000; ++i) {
      timer.expires_after(std::chrono::microseconds(delay_us(random)));
      auto winner = co_await (client.get("k") || timer.async_wait(asio::use_awaitable));
      if (winner.index() == 1) ++timer_won;
    }
    const valkey::ClientStats stats = client.stats();
    EXPECT_GT(timer_won, 0) << "the race never cancelled a get; the test shows nothing";
    EXPECT_EQ(stats.timeouts, 0u);
    EXPECT_EQ(stats.breaker_transitions, 0u);
    EXPECT_EQ(client.breaker_state(), CircuitBreaker::State::closed);
    EXPECT_EQ(co_await client.get("k"), "v");
  });
}

TEST_F(ClientCancellation, ParallelGroupLoserGetsCancelledAndNothingElse) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    // A value that takes a while to arrive, so that the timer often ends the race while the
    // reply is on its way; a small one is answered before a timer of a few microseconds fires.
    const std::string large(256 * 1024, 'v');
    co_await client.set("k", large);
    asio::steady_timer timer(ex);
    int cancelled = 0;
    for (int i = 0; i < 2000; ++i) {
      timer.expires_after(std::chrono::microseconds(i % 200));
      auto [order, failure, value, timer_error] =
          co_await asio::experimental::make_parallel_group(
              asio::co_spawn(ex, client.get("k"), asio::deferred), timer.async_wait(asio::deferred))
              .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
      const Outcome seen = outcome_of(failure, value);
      if (seen.error) {
        EXPECT_EQ(seen.error, errc::cancelled) << seen.error.message();
        ++cancelled;
      } else {
        EXPECT_EQ(seen.value, large);
      }
    }
    EXPECT_GT(cancelled, 0);
    EXPECT_EQ(client.stats().timeouts, 0u);
    EXPECT_EQ(client.stats().cancellations, static_cast<std::uint64_t>(cancelled));
    EXPECT_EQ(client.breaker_state(), CircuitBreaker::State::closed);
    EXPECT_EQ(co_await client.get("k"), large);
  });
}

// Cleanup code after a cancellation may still issue commands. While its coroutine's state says
// "cancelled" (Asio's throwing turned off), each is refused as cancelled, after it was written
// to the shared connection, which stays in step; once the state is reset, they run.
TEST_F(ClientCancellation, CleanupAfterACancellationLeavesTheConnectionInStep) {
  auto config = client_config(server());
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("a", "value of a");
    co_await client.set("b", "value of b");
    asio::cancellation_signal signal;
    std::optional<Outcome> while_cancelled;
    std::optional<std::string> after_reset;
    bool done = false;
    auto cleanup = [&]() -> awaitable<void> {
      asio::steady_timer forever(co_await asio::this_coro::executor,
                                 asio::steady_timer::time_point::max());
      co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
      co_await asio::this_coro::throw_if_cancelled(false);
      try {
        co_await client.get("a");
        while_cancelled = Outcome{};
      } catch (const valkey::Error& e) {
        while_cancelled = Outcome{std::nullopt, e.code()};
      }
      co_await asio::this_coro::reset_cancellation_state();
      after_reset = co_await client.get("a");
      done = true;
    };
    asio::co_spawn(ex, cleanup(), asio::bind_cancellation_slot(signal.slot(), asio::detached));
    co_await asio::post(ex, asio::use_awaitable);
    signal.emit(asio::cancellation_type::terminal);
    co_await wait_until([&] { return done; });
    EXPECT_EQ(while_cancelled->error, errc::cancelled);
    EXPECT_EQ(after_reset, "value of a");
    EXPECT_EQ(co_await client.get("b"), "value of b");
    EXPECT_EQ(client.breaker_state(), CircuitBreaker::State::closed);
  });
}

TEST_F(ClientCancellation, SignalEndsAWaitOnAStalledServerAtOnce) {
  auto config = client_config(server());
  config.command_timeout = 30s;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("k", "v");
    server().pause();
    asio::cancellation_signal signal;
    std::optional<Outcome> seen;
    asio::co_spawn(ex, client.get("k"),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr failure,
                                                                   std::optional<std::string> v) {
                     seen = outcome_of(failure, std::move(v));
                   }));
    co_await wait_until([&] { return client.stats().writes >= 2; });
    const auto start = Clock::now();
    signal.emit(asio::cancellation_type::terminal);
    co_await wait_until([&] { return seen.has_value(); });
    EXPECT_LT(elapsed_since(start), 1s);
    EXPECT_EQ(seen->error, errc::cancelled);
    server().resume();
    // The abandoned GET's reply arrives and is discarded: the next caller gets its own.
    co_await client.set("k", "w");
    EXPECT_EQ(co_await client.get("k"), "w");
    EXPECT_EQ(client.stats().timeouts, 0u);
    EXPECT_EQ(client.stats().disconnects, 0u);
  });
}

TEST_F(ClientCancellation, CancelledHalfOpenProbeDoesNotWedgeTheBreaker) {
  auto config = client_config(server());
  config.command_timeout = 200ms;
  config.breaker.consecutive_failures = 2;
  config.breaker.cool_down = 50ms;
  run_async([&](Executor ex) -> awaitable<void> {
    Client client(ex, config);
    co_await client.set("k", "v");
    server().pause();
    for (int i = 0; i < 2; ++i) {
      try {
        co_await client.get("k");
      } catch (const valkey::Error& e) {
        EXPECT_EQ(e.code(), errc::timeout);
      }
    }
    EXPECT_EQ(client.breaker_state(), CircuitBreaker::State::open);
    // The cool-down passes with the server still stopped, so that the probe's reply waits.
    asio::steady_timer cool_down(ex, 60ms);
    co_await cool_down.async_wait(asio::use_awaitable);
    // The probe goes out and its caller gives up before the answer.
    const auto writes_before = client.stats().writes;
    asio::cancellation_signal signal;
    std::optional<Outcome> probe;
    asio::co_spawn(ex, client.get("k"),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr failure,
                                                                   std::optional<std::string> v) {
                     probe = outcome_of(failure, std::move(v));
                   }));
    co_await wait_until([&] { return client.stats().writes > writes_before; });
    signal.emit(asio::cancellation_type::terminal);
    co_await wait_until([&] { return probe.has_value(); });
    EXPECT_EQ(probe->error, errc::cancelled);
    server().resume();
    // The next command probes in its place and closes the breaker.
    EXPECT_EQ(co_await client.get("k"), "v");
    EXPECT_EQ(client.breaker_state(), CircuitBreaker::State::closed);
  });
}

}  // namespace
}  // namespace opencode_cache::testing
