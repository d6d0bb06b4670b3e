// GCRA, the generic cell rate algorithm (ITU-T I.371, virtual scheduling form), as plain
// arithmetic over microsecond counts: the definition the server-side script implements too,
// and the local fallback's limiter.
//
// A limit of `max` requests per `window` emits one request every T = window / max (the
// emission interval) and tolerates bursts of up to `max` at once: τ = T * (max - 1). The only
// state is the theoretical arrival time TAT of the next request. A request at `now` conforms
// when TAT - now <= τ (with TAT no earlier than now), and moves TAT on by T.
//
// Unlike the sliding log it can admit up to 2 * max - 1 requests within one window (a burst at
// the end of an idle period, then one per T); its long-run rate is exactly max per window.
#pragma once

#include <chrono>
#include <cstdint>

namespace opencode_cache::ratelimit {

struct GcraOutcome {
  bool allowed = false;
  // Requests that would still conform at `now` after this one (0 when rejected).
  std::uint64_t remaining = 0;
  // Until `remaining` next grows; zero when the whole burst is available.
  std::chrono::microseconds reset_after{0};
  // Until a request would conform; zero when allowed.
  std::chrono::microseconds retry_after{0};
  // The TAT to store: moved on by one interval when a request was consumed.
  std::chrono::microseconds tat{0};
};

class Gcra {
 public:
  // Times are microseconds since any fixed epoch (the server's Unix time in the script).
  using Time = std::chrono::microseconds;

  // Requires max_requests >= 1 and a window of at least max_requests microseconds
  // (validate(LimitConfig) checks both).
  Gcra(std::chrono::milliseconds window, std::uint64_t max_requests);

  // T, rounded down to the microsecond (so a limit never admits less than configured).
  Time interval() const noexcept { return interval_; }
  // τ = T * (max - 1).
  Time tolerance() const noexcept { return interval_ * static_cast<std::int64_t>(max_ - 1); }
  std::uint64_t max_requests() const noexcept { return max_; }

  // What a request at `now` would get, given the stored TAT (zero for a new key); changes
  // nothing: the outcome's tat is the stored one, brought up to `now`.
  GcraOutcome inspect(Time tat, Time now) const noexcept;
  // The same, consuming: when allowed, the outcome's tat is one interval later.
  GcraOutcome consume(Time tat, Time now) const noexcept;

 private:
  GcraOutcome decide(Time tat, Time now, bool consume) const noexcept;
  std::uint64_t remaining_for(Time debt) const noexcept;
  Time until_next_slot(Time debt) const noexcept;

  Time interval_;
  std::uint64_t max_;
};

}  // namespace opencode_cache::ratelimit
