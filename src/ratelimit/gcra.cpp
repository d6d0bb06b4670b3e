#include "opencode_cache/ratelimit/gcra.hpp"

#include <algorithm>

namespace opencode_cache::ratelimit {

namespace {

using Time = Gcra::Time;

// ceil(a / b) for a >= 0, b > 0, as the script computes it.
std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return a / b + (a % b != 0 ? 1 : 0);
}

}  // namespace

Gcra::Gcra(std::chrono::milliseconds window, std::uint64_t max_requests)
    : interval_(Time(window).count() / static_cast<std::int64_t>(max_requests)),
      max_(max_requests) {}

GcraOutcome Gcra::inspect(Time tat, Time now) const noexcept {
  return decide(tat, now, false);
}

GcraOutcome Gcra::consume(Time tat, Time now) const noexcept {
  return decide(tat, now, true);
}

GcraOutcome Gcra::decide(Time tat, Time now, bool consume) const noexcept {
  // A TAT in the past means the bucket has fully drained: it counts from now.
  tat = std::max(tat, now);
  Time debt = tat - now;
  if (debt > tolerance()) {
    const Time wait = debt - tolerance();
    return {.allowed = false, .remaining = 0, .reset_after = wait, .retry_after = wait, .tat = tat};
  }
  if (consume) {
    tat += interval_;
    debt += interval_;
  }
  return {.allowed = true,
          .remaining = remaining_for(debt),
          .reset_after = until_next_slot(debt),
          .retry_after = Time(0),
          .tat = tat};
}

// Each interval of debt holds one slot of the burst, a partial interval a whole one.
std::uint64_t Gcra::remaining_for(Time debt) const noexcept {
  return max_ - static_cast<std::uint64_t>(ceil_div(debt.count(), interval_.count()));
}

// The slot the last partial (or whole) interval of debt holds frees when that part drains.
Gcra::Time Gcra::until_next_slot(Time debt) const noexcept {
  if (debt.count() == 0) return Time(0);
  const std::int64_t slots = ceil_div(debt.count(), interval_.count());
  return debt - interval_ * (slots - 1);
}

}  // namespace opencode_cache::ratelimit
