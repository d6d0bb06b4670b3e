// Internal: the decisions of one connection's life, as a plain state machine over events and
// a clock. When to connect, how long to wait after a failure, when to give up, and when a
// connection that still looks open is dead. No sockets, no timers: the Client and the
// Subscriber feed it what happened and do what it says (see supervised_loop.hpp).
//
//   start ──> connecting ──connected──> serving ──lost──> connecting (at once, if it served
//                 │  ▲                                                  for stable_after)
//          failed │  │ waited                                 └──lost early──> waiting
//                 ▼  │
//               waiting ──(backoff spent)──> gave_up ──start──> connecting
//   close, from anywhere ──> closed
//
// While serving, the health check: with nothing read for one interval, ping; with something
// awaiting a reply and no byte read for two intervals, the connection is dead (a peer gone
// without a FIN or RST, a black-holed route) and must be reset. As Boost.Redis does.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <system_error>

#include "opencode_cache/valkey/backoff.hpp"

namespace opencode_cache::valkey::detail {

struct SupervisorPolicy {
  BackoffPolicy backoff;
  // Zero turns the health check off.
  std::chrono::milliseconds health_check_interval{2000};
  // A connection lost sooner than this after it was made counts as a failed attempt: a
  // server that accepts and then drops us is backed off like one that refuses us.
  std::chrono::milliseconds stable_after{1000};
};

class ConnectionSupervisor {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State : std::uint8_t { idle, connecting, serving, waiting, gave_up, closed };
  enum class Action : std::uint8_t {
    connect,  // open a connection now
    serve,    // run it until it fails
    wait,     // sleep `delay`, then report on_wait_over()
    give_up,  // stop trying until start() again; fail what waits for a connection
    stop,     // closed: end the loop
  };
  struct Step {
    Action action;
    std::chrono::milliseconds delay{0};
  };
  enum class Health : std::uint8_t { fine, ping, dead };

  explicit ConnectionSupervisor(SupervisorPolicy policy)
      : policy_(policy), backoff_(policy.backoff) {}

  Step start();
  // `jitter` is a number in [0, 1) for the backoff.
  Step on_connect_failed(double jitter);
  Step on_connected(Clock::time_point now);
  Step on_connection_lost(Clock::time_point now, double jitter);
  Step on_wait_over();
  Step on_closed();

  // While serving: every read that brought bytes, and every write that put something in
  // flight on a connection where nothing was (the silence before it proves nothing).
  void on_bytes_read(Clock::time_point now) noexcept { last_progress_ = now; }
  void on_first_in_flight(Clock::time_point now) noexcept;
  // Asked at next_health_check(); `awaiting_reply`: something sent has no answer yet.
  Health check_health(Clock::time_point now, bool awaiting_reply);
  // When to ask again: the moment a ping would be due, or the connection declared dead.
  Clock::time_point next_health_check(bool awaiting_reply) const;
  bool health_checks_enabled() const noexcept { return policy_.health_check_interval.count() > 0; }
  std::chrono::milliseconds dead_after() const noexcept {
    return 2 * policy_.health_check_interval;
  }

  State state() const noexcept { return state_; }
  // Failed attempts since the last stable connection: the number the backoff was given.
  std::uint32_t failed_attempts() const noexcept { return failed_attempts_; }

 private:
  Step back_off(double jitter);

  SupervisorPolicy policy_;
  Backoff backoff_;
  State state_ = State::idle;
  std::uint32_t failed_attempts_ = 0;
  Clock::time_point connected_at_{};
  Clock::time_point last_progress_{};
  Clock::time_point last_ping_{};
};

}  // namespace opencode_cache::valkey::detail
