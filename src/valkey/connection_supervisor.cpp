#include "connection_supervisor.hpp"

#include <algorithm>

namespace opencode_cache::valkey::detail {

using Step = ConnectionSupervisor::Step;
using Action = ConnectionSupervisor::Action;

Step ConnectionSupervisor::start() {
  if (state_ == State::closed) return {Action::stop};
  if (state_ == State::gave_up) failed_attempts_ = 0;
  state_ = State::connecting;
  return {Action::connect};
}

Step ConnectionSupervisor::back_off(double jitter) {
  ++failed_attempts_;
  const auto delay = backoff_.delay(failed_attempts_, jitter);
  if (!delay) {
    state_ = State::gave_up;
    return {Action::give_up};
  }
  state_ = State::waiting;
  return {Action::wait, *delay};
}

Step ConnectionSupervisor::on_connect_failed(double jitter) {
  if (state_ == State::closed) return {Action::stop};
  return back_off(jitter);
}

Step ConnectionSupervisor::on_connected(Clock::time_point now) {
  if (state_ == State::closed) return {Action::stop};
  state_ = State::serving;
  connected_at_ = now;
  last_progress_ = now;
  last_ping_ = now;
  return {Action::serve};
}

Step ConnectionSupervisor::on_connection_lost(Clock::time_point now, double jitter) {
  if (state_ == State::closed) return {Action::stop};
  if (now - connected_at_ < policy_.stable_after) return back_off(jitter);
  failed_attempts_ = 0;
  state_ = State::connecting;
  return {Action::connect};
}

Step ConnectionSupervisor::on_wait_over() {
  if (state_ == State::closed) return {Action::stop};
  state_ = State::connecting;
  return {Action::connect};
}

Step ConnectionSupervisor::on_closed() {
  state_ = State::closed;
  return {Action::stop};
}

void ConnectionSupervisor::on_first_in_flight(Clock::time_point now) noexcept {
  last_progress_ = std::max(last_progress_, now);
}

ConnectionSupervisor::Health ConnectionSupervisor::check_health(Clock::time_point now,
                                                                bool awaiting_reply) {
  if (!health_checks_enabled() || state_ != State::serving) return Health::fine;
  const auto silent_for = now - last_progress_;
  if (awaiting_reply) {
    return silent_for >= dead_after() ? Health::dead : Health::fine;
  }
  if (silent_for >= policy_.health_check_interval &&
      now - last_ping_ >= policy_.health_check_interval) {
    last_ping_ = now;
    return Health::ping;
  }
  return Health::fine;
}

ConnectionSupervisor::Clock::time_point ConnectionSupervisor::next_health_check(
    bool awaiting_reply) const {
  if (!health_checks_enabled()) return Clock::time_point::max();
  // Progress only moves these moments later, so waking at them is never too late; waking
  // early just asks again.
  if (awaiting_reply) return last_progress_ + dead_after();
  return std::max(last_progress_, last_ping_) + policy_.health_check_interval;
}

}  // namespace opencode_cache::valkey::detail
