#include "opencode_cache/valkey/circuit_breaker.hpp"

#include <algorithm>

namespace opencode_cache::valkey {

std::string_view to_string(CircuitBreaker::State state) noexcept {
  switch (state) {
    case CircuitBreaker::State::closed: return "closed";
    case CircuitBreaker::State::open: return "open";
    case CircuitBreaker::State::half_open: return "half_open";
  }
  return "unknown";
}

bool CircuitBreaker::allow(Clock::time_point now) {
  if (!policy_.enabled) return true;
  if (state_ == State::open) {
    if (now - opened_at_ < policy_.cool_down) return false;
    move_to(State::half_open, now);
  }
  if (state_ == State::half_open) {
    if (probes_out_ >= policy_.half_open_probes) return false;
    ++probes_out_;
  }
  return true;
}

void CircuitBreaker::record_success(Clock::time_point now) {
  if (!policy_.enabled) return;
  failures_in_a_row_ = 0;
  count(false, now);
  if (state_ == State::half_open) move_to(State::closed, now);
}

void CircuitBreaker::record_failure(Clock::time_point now) {
  if (!policy_.enabled) return;
  ++failures_in_a_row_;
  count(true, now);
  // A failed probe reopens at once; a closed breaker opens on a run or a rate of failures.
  const bool trips =
      state_ == State::half_open ||
      (state_ == State::closed &&
       (failures_in_a_row_ >= policy_.consecutive_failures || failure_rate_exceeded(now)));
  if (trips) move_to(State::open, now);
}

void CircuitBreaker::record_neutral() noexcept {
  if (state_ == State::half_open && probes_out_ > 0) --probes_out_;
}

void CircuitBreaker::move_to(State next, Clock::time_point now) {
  const State previous = state_;
  state_ = next;
  ++transitions_;
  probes_out_ = 0;
  if (next == State::open) opened_at_ = now;
  if (next == State::closed) {
    failures_in_a_row_ = 0;
    window_ = {};  // a recovered server starts with a clean record
  }
  if (on_transition_) on_transition_(previous, next);
}

std::int64_t CircuitBreaker::bucket_index(Clock::time_point now) const {
  const auto slice =
      std::max<std::int64_t>(1, policy_.window.count() / static_cast<std::int64_t>(bucket_count));
  return std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() /
         slice;
}

void CircuitBreaker::count(bool failed, Clock::time_point now) {
  const std::int64_t index = bucket_index(now);
  Bucket& bucket = window_[static_cast<std::size_t>(index) % bucket_count];
  if (bucket.index != index) bucket = Bucket{index, 0, 0};
  ++bucket.requests;
  if (failed) ++bucket.failures;
}

bool CircuitBreaker::failure_rate_exceeded(Clock::time_point now) const {
  const std::int64_t newest = bucket_index(now);
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  for (const Bucket& bucket : window_) {
    if (bucket.index <= newest - static_cast<std::int64_t>(bucket_count)) continue;  // too old
    requests += bucket.requests;
    failures += bucket.failures;
  }
  return requests >= policy_.min_requests &&
         static_cast<double>(failures) >= policy_.failure_rate * static_cast<double>(requests);
}

}  // namespace opencode_cache::valkey
