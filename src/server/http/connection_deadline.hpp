// The deadline of a connection's current read or write. Moving it costs a clock read: its one
// timer is re-armed only when it fires early (the deadline moved later meanwhile) or when the
// deadline moves earlier than the timer, so a busy keep-alive connection re-arms about once per
// timeout period instead of on every read and write.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace opencode_cache::server::http {

class ConnectionDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  // `on_expiry` runs once, on the connection's executor, when a deadline passes (it closes the
  // socket, which ends the pending operation).
  ConnectionDeadline(boost::asio::any_io_executor executor, std::function<void()> on_expiry);
  ~ConnectionDeadline();
  ConnectionDeadline(const ConnectionDeadline&) = delete;
  ConnectionDeadline& operator=(const ConnectionDeadline&) = delete;

  void expires_after(Clock::duration timeout);
  // No deadline until the next expires_after (while a handler computes its answer).
  void clear();
  bool expired() const;

 private:
  struct State;
  static void watch(const std::shared_ptr<State>& state, Clock::time_point at);
  std::shared_ptr<State> state_;
};

}  // namespace opencode_cache::server::http
