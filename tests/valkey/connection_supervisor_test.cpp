// The connection supervisor driven by scripted events and a hand-moved clock: every decision
// of a connection's life, with no socket and no timer.

#include "valkey/connection_supervisor.hpp"

#include <gtest/gtest.h>

namespace opencode_cache::testing {
namespace {

using namespace std::chrono_literals;
using valkey::detail::ConnectionSupervisor;
using valkey::detail::SupervisorPolicy;
using Action = ConnectionSupervisor::Action;
using Health = ConnectionSupervisor::Health;
using State = ConnectionSupervisor::State;

const ConnectionSupervisor::Clock::time_point t0 = ConnectionSupervisor::Clock::time_point(1000s);

SupervisorPolicy policy(std::uint32_t max_attempts = 3) {
  SupervisorPolicy p;
  p.backoff = {.base_delay = 100ms,
               .max_delay = 1000ms,
               .multiplier = 2.0,
               .jitter = 0.0,
               .max_attempts = max_attempts};
  p.health_check_interval = 2s;
  p.stable_after = 1s;
  return p;
}

TEST(ConnectionSupervisor, ConnectsThenServes) {
  ConnectionSupervisor supervisor(policy());
  EXPECT_EQ(supervisor.start().action, Action::connect);
  EXPECT_EQ(supervisor.state(), State::connecting);
  EXPECT_EQ(supervisor.on_connected(t0).action, Action::serve);
  EXPECT_EQ(supervisor.state(), State::serving);
}

TEST(ConnectionSupervisor, FailedAttemptsBackOffThenGiveUpAndStartAfresh) {
  ConnectionSupervisor supervisor(policy(3));
  supervisor.start();
  auto step = supervisor.on_connect_failed(0.0);
  EXPECT_EQ(step.action, Action::wait);
  EXPECT_EQ(step.delay, 100ms);
  EXPECT_EQ(supervisor.on_wait_over().action, Action::connect);
  EXPECT_EQ(supervisor.on_connect_failed(0.0).delay, 200ms);
  supervisor.on_wait_over();
  EXPECT_EQ(supervisor.on_connect_failed(0.0).delay, 400ms);
  supervisor.on_wait_over();
  EXPECT_EQ(supervisor.on_connect_failed(0.0).action, Action::give_up);
  EXPECT_EQ(supervisor.state(), State::gave_up);
  // The next command starts again with a fresh budget.
  EXPECT_EQ(supervisor.start().action, Action::connect);
  EXPECT_EQ(supervisor.on_connect_failed(0.0).delay, 100ms);
}

TEST(ConnectionSupervisor, AStableConnectionLostReconnectsAtOnce) {
  ConnectionSupervisor supervisor(policy());
  supervisor.start();
  supervisor.on_connect_failed(0.0);
  supervisor.on_wait_over();
  supervisor.on_connected(t0);
  EXPECT_EQ(supervisor.on_connection_lost(t0 + 5s, 0.0).action, Action::connect);
  EXPECT_EQ(supervisor.failed_attempts(), 0u) << "a stable connection resets the backoff";
}

TEST(ConnectionSupervisor, AServerThatAcceptsThenDropsIsBackedOffLikeOneThatRefuses) {
  ConnectionSupervisor supervisor(policy(3));
  supervisor.start();
  auto when = t0;
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 3; ++i) {
    supervisor.on_connected(when);
    const auto step = supervisor.on_connection_lost(when + 10ms, 0.0);
    ASSERT_EQ(step.action, Action::wait);
    delays.push_back(step.delay);
    supervisor.on_wait_over();
    when += 1s;
  }
  EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{100ms, 200ms, 400ms}));
  supervisor.on_connected(when);
  EXPECT_EQ(supervisor.on_connection_lost(when + 10ms, 0.0).action, Action::give_up);
}

TEST(ConnectionSupervisor, CloseWinsFromEveryState) {
  ConnectionSupervisor supervisor(policy());
  supervisor.start();
  supervisor.on_closed();
  EXPECT_EQ(supervisor.on_connected(t0).action, Action::stop);
  EXPECT_EQ(supervisor.on_connect_failed(0.0).action, Action::stop);
  EXPECT_EQ(supervisor.on_wait_over().action, Action::stop);
  EXPECT_EQ(supervisor.on_connection_lost(t0, 0.0).action, Action::stop);
  EXPECT_EQ(supervisor.start().action, Action::stop);
}

TEST(ConnectionSupervisor, IdleConnectionPingsOncePerInterval) {
  ConnectionSupervisor supervisor(policy());
  supervisor.start();
  supervisor.on_connected(t0);
  EXPECT_EQ(supervisor.next_health_check(false), t0 + 2s);
  EXPECT_EQ(supervisor.check_health(t0 + 1999ms, false), Health::fine);
  EXPECT_EQ(supervisor.check_health(t0 + 2s, false), Health::ping);
  EXPECT_EQ(supervisor.check_health(t0 + 2500ms, false), Health::fine) << "one ping per interval";
  supervisor.on_bytes_read(t0 + 2100ms);  // the PONG
  EXPECT_EQ(supervisor.next_health_check(false), t0 + 4100ms);
  EXPECT_EQ(supervisor.check_health(t0 + 4100ms, false), Health::ping);
}

TEST(ConnectionSupervisor, SilenceForTwoIntervalsWhileAReplyIsDueIsDeath) {
  ConnectionSupervisor supervisor(policy());
  supervisor.start();
  supervisor.on_connected(t0);
  // Idle for a minute, then a command goes out: the silence before it proves nothing.
  supervisor.on_first_in_flight(t0 + 60s);
  EXPECT_EQ(supervisor.next_health_check(true), t0 + 64s);
  EXPECT_EQ(supervisor.check_health(t0 + 63999ms, true), Health::fine);
  EXPECT_EQ(supervisor.check_health(t0 + 64s, true), Health::dead);
}

TEST(ConnectionSupervisor, BytesArrivingKeepABusyConnectionAlive) {
  ConnectionSupervisor supervisor(policy());
  supervisor.start();
  supervisor.on_connected(t0);
  supervisor.on_first_in_flight(t0);
  for (auto at = t0 + 1s; at < t0 + 20s; at += 1s) {
    supervisor.on_bytes_read(at);
    EXPECT_EQ(supervisor.check_health(at + 1s, true), Health::fine);
  }
}

TEST(ConnectionSupervisor, ZeroIntervalTurnsTheHealthCheckOff) {
  auto p = policy();
  p.health_check_interval = 0ms;
  ConnectionSupervisor supervisor(p);
  supervisor.start();
  supervisor.on_connected(t0);
  EXPECT_FALSE(supervisor.health_checks_enabled());
  EXPECT_EQ(supervisor.next_health_check(true), ConnectionSupervisor::Clock::time_point::max());
  EXPECT_EQ(supervisor.check_health(t0 + 1h, true), Health::fine);
}

}  // namespace
}  // namespace opencode_cache::testing
