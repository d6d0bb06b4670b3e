// Internal: the deadlines of the commands that wait for replies, kept for one client-wide timer
// instead of a timer per command. No clocks, no I/O: the client arms its timer at
// next_deadline() and, when it fires, wakes the callers that expired() returns.
//
// Why not a timer per command: arming a timer that becomes the earliest one costs a
// timerfd_settime system call, and a command issued alone always does; with one timer armed
// at the earliest deadline, commands issued one after another arm nothing.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "multiplexer.hpp"

namespace opencode_cache::valkey {

class DeadlineQueue {
 public:
  using Clock = std::chrono::steady_clock;

  // `request` is waited for until `at`. Entries whose request is settled (done, or abandoned by
  // its caller) are dropped as they come to the front, so that the queue holds about as many
  // entries as there are commands waiting.
  void watch(std::shared_ptr<Request> request, Clock::time_point at);

  // The earliest deadline of a request still waited for; time_point::max() when none is.
  Clock::time_point next_deadline();

  // Removes and returns the requests still waited for whose deadline is at or before `now`.
  std::vector<std::shared_ptr<Request>> expired(Clock::time_point now);

  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    Clock::time_point at;
    std::shared_ptr<Request> request;
  };
  static bool later(const Entry& a, const Entry& b) noexcept { return a.at > b.at; }
  static bool settled(const Request& request) noexcept {
    return request.state == Request::State::done || request.state == Request::State::abandoned;
  }
  void drop_settled_front();
  void pop_front();

  std::vector<Entry> entries_;  // a min-heap on `at`
};

}  // namespace opencode_cache::valkey
