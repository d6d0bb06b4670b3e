// A circuit breaker in front of Valkey: after repeated failures it opens and commands fail
// at once, without touching the network, until a cool-down has passed; then a probe decides
// whether it closes again. A plain state machine over outcomes and a clock.
//
//   closed --(N failures in a row, or failure rate over the window)--> open
//   open --(cool_down elapsed, next command)--> half_open (that command is the probe)
//   half_open --(probe succeeds)--> closed     half_open --(probe fails)--> open
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace opencode_cache::valkey {

struct CircuitBreakerPolicy {
  bool enabled = true;
  std::uint32_t consecutive_failures = 5;
  // Opens when at least min_requests ended in the window and this share of them failed.
  double failure_rate = 0.5;
  std::uint32_t min_requests = 20;
  std::chrono::milliseconds window{10000};
  std::chrono::milliseconds cool_down{1000};
  std::uint32_t half_open_probes = 1;
};

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State : std::uint8_t { closed, open, half_open };
  using TransitionHandler = std::function<void(State from, State to)>;

  explicit CircuitBreaker(CircuitBreakerPolicy policy) : policy_(policy) {}

  // May a command go out now? While half-open, each true uses up one probe.
  bool allow(Clock::time_point now);
  void record_success(Clock::time_point now);
  void record_failure(Clock::time_point now);
  // A command that ended without a verdict on the server (cancelled by its caller, refused
  // before it was sent, lost with its connection): counts for nothing, but a probe it was
  // frees its place, so that the next command probes instead.
  void record_neutral() noexcept;

  State state() const noexcept { return state_; }
  std::uint64_t transitions() const noexcept { return transitions_; }
  void on_transition(TransitionHandler handler) { on_transition_ = std::move(handler); }

 private:
  static constexpr std::size_t bucket_count = 10;
  struct Bucket {
    std::int64_t index = -1;  // which slice of time it counts
    std::uint32_t requests = 0;
    std::uint32_t failures = 0;
  };

  void move_to(State next, Clock::time_point now);
  void count(bool failed, Clock::time_point now);
  bool failure_rate_exceeded(Clock::time_point now) const;
  std::int64_t bucket_index(Clock::time_point now) const;

  CircuitBreakerPolicy policy_;
  State state_ = State::closed;
  std::uint32_t failures_in_a_row_ = 0;
  std::uint32_t probes_out_ = 0;
  Clock::time_point opened_at_{};
  std::uint64_t transitions_ = 0;
  std::array<Bucket, bucket_count> window_{};
  TransitionHandler on_transition_;
};

std::string_view to_string(CircuitBreaker::State state) noexcept;

}  // namespace opencode_cache::valkey
