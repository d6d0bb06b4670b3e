#include "server/http/connection_deadline.hpp"

#include <cstdint>

namespace opencode_cache::server::http {

// Shared with the pending wait's handler, which may run after the connection has gone.
struct ConnectionDeadline::State {
  explicit State(boost::asio::any_io_executor executor) : timer(std::move(executor)) {}
  boost::asio::steady_timer timer;
  std::function<void()> on_expiry;
  Clock::time_point deadline = Clock::time_point::max();
  Clock::time_point timer_at = Clock::time_point::max();
  std::uint64_t generation = 0;  // of the current wait; earlier waits' handlers do nothing
  bool waiting = false;
  bool expired = false;
  bool closed = false;
};

ConnectionDeadline::ConnectionDeadline(boost::asio::any_io_executor executor,
                                       std::function<void()> on_expiry)
    : state_(std::make_shared<State>(std::move(executor))) {
  state_->on_expiry = std::move(on_expiry);
}

ConnectionDeadline::~ConnectionDeadline() {
  state_->closed = true;
  state_->on_expiry = nullptr;
  state_->timer.cancel();
}

void ConnectionDeadline::expires_after(Clock::duration timeout) {
  State& state = *state_;
  if (state.expired) return;
  state.deadline = Clock::now() + timeout;
  if (!state.waiting || state.deadline < state.timer_at) watch(state_, state.deadline);
}

void ConnectionDeadline::clear() {
  state_->deadline = Clock::time_point::max();
}

bool ConnectionDeadline::expired() const {
  return state_->expired;
}

void ConnectionDeadline::watch(const std::shared_ptr<State>& state, Clock::time_point at) {
  const std::uint64_t generation = ++state->generation;
  state->waiting = true;
  state->timer_at = at;
  state->timer.expires_at(at);
  state->timer.async_wait([state, generation](const boost::system::error_code&) {
    if (state->closed || generation != state->generation) return;
    state->waiting = false;
    if (state->deadline == Clock::time_point::max()) return;
    if (Clock::now() < state->deadline) {
      watch(state, state->deadline);
      return;
    }
    state->expired = true;
    if (auto expire = std::move(state->on_expiry)) expire();
  });
}

}  // namespace opencode_cache::server::http
