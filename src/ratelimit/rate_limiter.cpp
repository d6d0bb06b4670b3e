#include "opencode_cache/ratelimit/rate_limiter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <utility>

#include "decision_batcher.hpp"
#include "limit_script.hpp"
#include "opencode_cache/ratelimit/local_limiter.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "valkey/cluster_slot.hpp"

namespace opencode_cache::ratelimit {

namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using SystemTime = std::chrono::system_clock::time_point;

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

std::string key_for(std::string_view prefix, Algorithm algorithm, std::string_view type,
                    std::string_view id) {
  // The sliding log keeps the seed's key; GCRA's state is a string, so it must not share the
  // seed's (sorted set) key space, where a seed service would meet it with WRONGTYPE.
  const std::string_view space =
      algorithm == Algorithm::sliding_log ? ":ratelimit:" : ":ratelimit-gcra:";
  std::string key;
  key.reserve(prefix.size() + space.size() + type.size() + 1 + id.size());
  key.append(prefix).append(space).append(type).append(":").append(id);
  return key;
}

constexpr std::string_view base36_digits = "0123456789abcdefghijklmnopqrstuvwxyz";

void append_base36(std::string& out, std::uint64_t value) {
  char buffer[16];
  std::size_t length = 0;
  do {
    buffer[length++] = base36_digits[value % 36];
    value /= 36;
  } while (value != 0);
  while (length > 0) out += buffer[--length];
}

// Ten base-36 digits (about 52 bits) that tell this limiter's sorted-set members from every
// other instance's, whatever their clocks.
std::string random_instance_tag() {
  std::random_device entropy;
  std::uint64_t bits = (std::uint64_t{entropy()} << 32) ^ entropy();
  std::string tag;
  for (int i = 0; i < 10; ++i, bits /= 36) tag += base36_digits[bits % 36];
  return tag;
}

microseconds since_epoch(SystemTime time) {
  return std::chrono::duration_cast<microseconds>(time.time_since_epoch());
}

SystemTime system_time(microseconds since_epoch) {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(since_epoch));
}

// Outside the coroutines: g++ 12 rejects braced lists in coroutine bodies.
std::vector<LimitRef> one_limit(std::string type, std::string id) {
  std::vector<LimitRef> refs;
  refs.push_back({std::move(type), std::move(id)});
  return refs;
}

// The limits' indexes grouped by hash slot, each group in the order of its first limit: the
// limits one script call may decide together on a cluster.
std::vector<std::vector<std::size_t>> slot_groups(const std::vector<ResolvedLimit>& limits) {
  std::vector<int> slots;
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < limits.size(); ++i) {
    const int slot = valkey::detail::key_slot(limits[i].key);
    std::size_t group = 0;
    while (group < slots.size() && slots[group] != slot) ++group;
    if (group == slots.size()) {
      slots.push_back(slot);
      groups.emplace_back();
    }
    groups[group].push_back(i);
  }
  return groups;
}

std::vector<ResolvedLimit> subset(const std::vector<ResolvedLimit>& limits,
                                  const std::vector<std::size_t>& indexes) {
  std::vector<ResolvedLimit> out;
  out.reserve(indexes.size());
  for (const std::size_t i : indexes) out.push_back(limits[i]);
  return out;
}

void place(std::vector<Decision>& decisions, const std::vector<std::size_t>& indexes,
           std::vector<Decision>&& decided) {
  for (std::size_t i = 0; i < indexes.size(); ++i) decisions[indexes[i]] = std::move(decided[i]);
}

Decision decision_for(const ResolvedLimit& resolved, bool allowed) {
  Decision decision;
  decision.allowed = allowed;
  decision.limit = resolved.limit->max_requests;
  decision.window = resolved.limit->window;
  decision.type = resolved.type;
  return decision;
}

}  // namespace

// Shared with the coroutines that send batches, which may outlive the RateLimiter when every
// caller of a batch in flight has gone.
struct RateLimiter::Impl : std::enable_shared_from_this<RateLimiter::Impl> {
  Impl(valkey::Client& client, RateLimiterConfig config)
      : client(client),
        config(std::move(config)),
        instance_tag(random_instance_tag()),
        // On a cluster one script call may only touch one slot: each request is its own call.
        batcher(client.is_cluster() ? 1 : this->config.max_batch) {
    validate(this->config);
    if (this->config.local_fallback) local.emplace(*this->config.local_fallback);
    spare_timers.reserve(kept_timers);
  }

  const LimitConfig& limit_for(std::string_view type) const {
    if (const auto found = config.limits.find(type); found != config.limits.end()) {
      return found->second;
    }
    if (config.strict_types) {
      throw std::invalid_argument("unknown rate limit type '" + std::string(type) +
                                  "' (strict_types is set)");
    }
    if (type.empty() || type.find(':') != std::string_view::npos) {
      throw std::invalid_argument("rate limit type '" + std::string(type) +
                                  "' must be non-empty and hold no ':'");
    }
    return config.limits.find(config.default_type)->second;
  }

  std::vector<ResolvedLimit> resolve(std::vector<LimitRef>&& refs) const {
    if (refs.empty()) throw std::invalid_argument("no rate limits to check");
    std::vector<ResolvedLimit> resolved;
    resolved.reserve(refs.size());
    for (LimitRef& ref : refs) {
      const LimitConfig& limit = limit_for(ref.type);
      std::string key = key_for(config.key_prefix, limit.algorithm, ref.type, ref.id);
      for (const ResolvedLimit& earlier : resolved) {
        // The script would judge both against the same state and then record twice.
        if (earlier.key == key) throw std::invalid_argument("rate limit listed twice: " + key);
      }
      resolved.push_back({std::move(ref.type), std::move(key), &limit});
    }
    return resolved;
  }

  // "<instance tag>.<sequence>": unique across instances and calls.
  std::string next_member_suffix() {
    std::string suffix = instance_tag;
    suffix += '.';
    append_base36(suffix, ++sequence);
    return suffix;
  }

  // ---- the I/O edge of the batcher ------------------------------------------------------

  PendingDecision pending_for(std::vector<ResolvedLimit> limits, ScriptMode mode,
                              std::string released = {}) const {
    PendingDecision pending;
    pending.limits = std::move(limits);
    pending.mode = mode;
    pending.released = std::move(released);
    if (config.timeout.count() > 0) pending.deadline = SteadyClock::now() + config.timeout;
    return pending;
  }

  // Sends every one of `pendings` with the next flush (on a cluster each is its own script
  // call, all sent at once) and waits until each is answered, unreachable or failed. Throws
  // cancelled() when the caller stops waiting first.
  Task<void> ask(std::span<PendingDecision> pendings) {
    if (pendings.empty()) co_return;
    // Whatever way the caller leaves, nothing of its requests is sent or woken afterwards.
    const LeaveUnlessAnswered leave{batcher, pendings};
    const Timer wake(*this);
    std::size_t waiting = pendings.size();
    for (PendingDecision& pending : pendings) {
      pending.wake = [&waiting, timer = &wake.get()] {
        if (--waiting == 0) timer->cancel();
      };
    }
    const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
    if (cancellation.cancelled() != asio::cancellation_type::none) throw cancelled();
    bool schedule = false;
    for (PendingDecision& pending : pendings) schedule = batcher.enqueue(pending) || schedule;
    if (schedule) {
      // Posted: every caller of this loop turn joins the batch before it is sent.
      asio::post(client.get_executor(), [self = shared_from_this()] { self->flush(); });
    }
    // The caller's cancellation leaves the batch at once, not when the caller next runs:
    // a caller cancelled in the loop turn it asked in is never sent.
    asio::cancellation_slot slot = cancellation.slot();
    if (slot.is_connected()) {
      slot.assign([this, pendings, timer = &wake.get()](asio::cancellation_type) {
        for (PendingDecision& pending : pendings) batcher.abandon(pending);
        timer->cancel();
      });
    }
    co_await wake.get().async_wait(asio::bind_cancellation_slot(
        asio::cancellation_slot(), asio::as_tuple(asio::use_awaitable)));
    if (slot.is_connected()) slot.clear();
    for (const PendingDecision& pending : pendings) {
      if (pending.state == PendingDecision::State::queued ||
          pending.state == PendingDecision::State::sent) {
        // The caller stopped waiting: it wants no decision, and Valkey did nothing wrong.
        throw cancelled();
      }
    }
  }

  // An answered request's decisions, or its limits' failure policies when Valkey could not be
  // reached; rethrows what refused the call.
  std::vector<Decision> decisions_of(const PendingDecision& pending) {
    if (pending.state == PendingDecision::State::failed) std::rethrow_exception(pending.failure);
    if (pending.reply.server_error) throw valkey::ServerError(*pending.reply.server_error);
    if (pending.state == PendingDecision::State::answered) {
      return from_reply(pending.limits, pending.reply);
    }
    return without_valkey(pending.limits, pending.mode == ScriptMode::consume);
  }

  Task<std::vector<Decision>> decide(std::vector<LimitRef> refs, ScriptMode mode) {
    PendingDecision pending = pending_for(resolve(std::move(refs)), mode);
    co_await ask(std::span<PendingDecision>(&pending, 1));
    std::vector<Decision> decisions = decisions_of(pending);
    count(decisions, mode, pending.state != PendingDecision::State::answered);
    co_return decisions;
  }

  // ---- check_many and peek_many on a cluster ---------------------------------------------
  //
  // A request's limits live in several slots, which no one script may touch. The limits of
  // one slot are decided together, by one script call (all-or-nothing there); a check
  // reserves in each slot in turn, and when one refuses, releases what the earlier slots
  // reserved and peeks at the slots it did not reach, all at once: the request then counts
  // nowhere. A release that cannot be sent or answered (Valkey unreachable, the timeout) is
  // not retried: that reservation stays until it leaves its window (the sliding log) or its
  // debt drains (GCRA), and the decisions report it as reserved.

  struct Reservation {
    std::size_t group;
    std::string member;  // the sliding-log member the reservation recorded
  };

  Task<std::vector<Decision>> decide_by_slot(std::vector<LimitRef> refs, ScriptMode mode) {
    std::vector<ResolvedLimit> limits = resolve(std::move(refs));
    const std::vector<std::vector<std::size_t>> groups = slot_groups(limits);
    std::vector<Decision> decisions(limits.size());
    bool degraded = false;
    if (mode == ScriptMode::peek) {
      std::vector<PendingDecision> peeks;
      peeks.reserve(groups.size());
      for (const auto& group : groups) peeks.push_back(pending_for(subset(limits, group), mode));
      co_await ask(peeks);
      for (std::size_t g = 0; g < groups.size(); ++g) {
        place(decisions, groups[g], decisions_of(peeks[g]));
        degraded = degraded || peeks[g].state != PendingDecision::State::answered;
      }
      count(decisions, mode, degraded);
      co_return decisions;
    }

    std::vector<Reservation> reserved;
    std::size_t next = 0;
    bool refused = false;
    while (next < groups.size() && !refused) {
      const std::size_t g = next++;
      PendingDecision pending = pending_for(subset(limits, groups[g]), mode);
      std::exception_ptr failure;
      try {
        co_await ask(std::span<PendingDecision>(&pending, 1));
        place(decisions, groups[g], decisions_of(pending));
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) {
        // Cancelled or refused: the caller gets no decision, and nothing it reserved stays.
        release_later(limits, groups, std::move(reserved));
        std::rethrow_exception(failure);
      }
      const bool answered = pending.state == PendingDecision::State::answered;
      degraded = degraded || !answered;
      if (!pending.reply.member.empty()) {
        reserved.push_back({g, std::move(pending.reply.member)});
      } else if (!answered) {
        // Decided by the failure policies, without Valkey: nothing reserved there.
        for (const std::size_t i : groups[g]) refused = refused || !decisions[i].allowed;
      } else {
        refused = true;
      }
    }
    if (refused) co_await undo(limits, groups, reserved, next, decisions);
    count(decisions, mode, degraded);
    co_return decisions;
  }

  // After a refusal: releases `reserved` and peeks at the groups from `unreached` on, in one
  // round of calls. Their decisions replace the reservations'; a release that fails leaves
  // the reservation's decisions (and the reservation) as they were.
  Task<void> undo(const std::vector<ResolvedLimit>& limits,
                  const std::vector<std::vector<std::size_t>>& groups,
                  std::vector<Reservation>& reserved, std::size_t unreached,
                  std::vector<Decision>& decisions) {
    std::vector<PendingDecision> after;
    std::vector<std::size_t> group_of;
    after.reserve(reserved.size() + groups.size() - unreached);
    for (Reservation& reservation : reserved) {
      after.push_back(pending_for(subset(limits, groups[reservation.group]), ScriptMode::release,
                                  reservation.member));
      group_of.push_back(reservation.group);
    }
    for (std::size_t g = unreached; g < groups.size(); ++g) {
      after.push_back(pending_for(subset(limits, groups[g]), ScriptMode::peek));
      group_of.push_back(g);
    }
    std::exception_ptr failure;
    try {
      co_await ask(after);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // The caller stopped waiting: the releases not sent yet are sent without it.
      std::vector<Reservation> unsent;
      for (std::size_t i = 0; i < reserved.size(); ++i) {
        if (after[i].state == PendingDecision::State::queued) unsent.push_back(reserved[i]);
      }
      release_later(limits, groups, std::move(unsent));
      std::rethrow_exception(failure);
    }
    for (std::size_t i = 0; i < after.size(); ++i) {
      const PendingDecision& pending = after[i];
      const bool answered =
          pending.state == PendingDecision::State::answered && !pending.reply.server_error;
      if (answered) {
        place(decisions, groups[group_of[i]], from_reply(pending.limits, pending.reply));
      } else if (pending.mode == ScriptMode::peek) {
        place(decisions, groups[group_of[i]], without_valkey(pending.limits, false));
      }
      // A release not answered: its reservation ages out (see above); its decisions stay.
    }
  }

  // Releases `reserved` in the background, for a caller that is not waiting any more.
  void release_later(const std::vector<ResolvedLimit>& limits,
                     const std::vector<std::vector<std::size_t>>& groups,
                     std::vector<Reservation> reserved) {
    if (reserved.empty()) return;
    auto releases = std::make_unique<std::vector<PendingDecision>>();
    releases->reserve(reserved.size());
    for (Reservation& reservation : reserved) {
      releases->push_back(pending_for(subset(limits, groups[reservation.group]),
                                      ScriptMode::release, std::move(reservation.member)));
    }
    asio::co_spawn(client.get_executor(), release_all(shared_from_this(), std::move(releases)),
                   asio::detached);
  }

  static Task<void> release_all(std::shared_ptr<Impl> self,
                                std::unique_ptr<std::vector<PendingDecision>> releases) {
    try {
      co_await self->ask(*releases);
    } catch (...) {
      // Not answered: the reservations age out.
    }
  }

  static valkey::Error cancelled() {
    return valkey::Error(valkey::errc::cancelled, "the caller stopped waiting");
  }

  struct LeaveUnlessAnswered {
    DecisionBatcher& batcher;
    std::span<PendingDecision> pendings;
    ~LeaveUnlessAnswered() {
      for (PendingDecision& pending : pendings) batcher.abandon(pending);
    }
  };

  void flush() {
    while (batcher.has_queued()) {
      std::optional<microseconds> now;
      if (config.server_clock_override) now = since_epoch(config.server_clock_override());
      asio::co_spawn(client.get_executor(),
                     send(shared_from_this(), batcher.take(now, next_member_suffix())),
                     asio::detached);
    }
    batcher.flushed();
  }

  // One script call for the batch; every outcome reaches its callers, none escapes.
  static Task<void> send(std::shared_ptr<Impl> self, std::unique_ptr<DecisionBatch> batch) {
    valkey::RequestOptions options{.wait_for_connection = false};
    if (batch->deadline != SteadyClock::time_point::max()) options.deadline = batch->deadline;
    try {
      const valkey::resp::Value reply = co_await self->client.eval(
          rate_limit_script(), batch->call.keys, batch->call.args, options);
      batch->settle(reply);
    } catch (const valkey::ServerError&) {
      // The server refused the script: a misconfiguration, not an outage.
      batch->fail(std::current_exception());
    } catch (const valkey::Error&) {
      // Unreachable, timed out, or lost mid-call: each caller's failure policy decides.
      batch->unreachable();
    } catch (...) {
      batch->fail(std::current_exception());
    }
  }

  // A caller sleeps on a timer that never expires, woken by cancel() or by its cancellation
  // slot. Timers are reused: making one looks its service up under a lock.
  static constexpr std::size_t kept_timers = 256;
  std::vector<std::unique_ptr<asio::steady_timer>> spare_timers;

  class Timer {
   public:
    explicit Timer(Impl& owner) : owner_(owner) {
      if (owner.spare_timers.empty()) {
        timer_ = std::make_unique<asio::steady_timer>(owner.client.get_executor());
      } else {
        timer_ = std::move(owner.spare_timers.back());
        owner.spare_timers.pop_back();
      }
      timer_->expires_at(asio::steady_timer::time_point::max());
    }
    ~Timer() {
      if (owner_.spare_timers.size() < kept_timers)
        owner_.spare_timers.push_back(std::move(timer_));
    }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    asio::steady_timer& get() const noexcept { return *timer_; }

   private:
    Impl& owner_;
    std::unique_ptr<asio::steady_timer> timer_;
  };

  static std::vector<Decision> from_reply(const std::vector<ResolvedLimit>& limits,
                                          const ScriptReply& reply) {
    std::vector<Decision> decisions;
    decisions.reserve(limits.size());
    for (std::size_t i = 0; i < limits.size(); ++i) {
      const ScriptOutcome& outcome = reply.outcomes[i];
      Decision decision = decision_for(limits[i], outcome.allowed);
      decision.remaining = outcome.remaining;
      decision.reset_after = outcome.reset_after;
      decision.retry_after = outcome.retry_after;
      decision.decided_at = system_time(reply.now);
      decisions.push_back(std::move(decision));
    }
    return decisions;
  }

  // Each limit's failure policy: fail_closed rejects; fail_open admits, or asks the local
  // fallback when there is one. The fallback records the request only if no fail_closed limit
  // refuses it, keeping check_many all-or-nothing.
  std::vector<Decision> without_valkey(const std::vector<ResolvedLimit>& limits, bool consume) {
    const SystemTime now = config.local_clock();
    std::vector<Decision> decisions;
    std::vector<LocalLimit> local_limits;
    std::vector<std::size_t> local_indexes;
    bool any_closed = false;
    for (const ResolvedLimit& resolved : limits) {
      const bool open = resolved.limit->on_unavailable == FailurePolicy::fail_open;
      Decision decision = decision_for(resolved, open);
      decision.degraded = true;
      decision.decided_at = now;
      if (!open) {
        decision.reset_after = decision.retry_after = config.unavailable_retry_after;
        any_closed = true;
        ++stats.failed_closed;
      } else if (local) {
        local_indexes.push_back(decisions.size());
        local_limits.push_back(
            {resolved.key, resolved.limit->window, resolved.limit->max_requests});
        ++stats.local_decisions;
      } else {
        decision.remaining = resolved.limit->max_requests;
        ++stats.failed_open;
      }
      decisions.push_back(std::move(decision));
    }
    if (!local_limits.empty()) {
      apply_local(decisions, local_indexes,
                  local->decide(local_limits, since_epoch(now), consume && !any_closed));
    }
    return decisions;
  }

  void apply_local(std::vector<Decision>& decisions, const std::vector<std::size_t>& indexes,
                   const std::vector<GcraOutcome>& outcomes) const {
    for (std::size_t i = 0; i < indexes.size(); ++i) {
      Decision& decision = decisions[indexes[i]];
      const GcraOutcome& outcome = outcomes[i];
      decision.allowed = outcome.allowed;
      decision.limit = local->local_max(decision.limit);
      decision.remaining = outcome.remaining;
      decision.reset_after = std::chrono::ceil<milliseconds>(outcome.reset_after);
      decision.retry_after = std::chrono::ceil<milliseconds>(outcome.retry_after);
    }
  }

  void count(const std::vector<Decision>& decisions, ScriptMode mode, bool degraded) {
    if (degraded) ++stats.unavailable;
    if (mode == ScriptMode::peek) {
      ++stats.peeks;
    } else if (all_allowed(decisions)) {
      ++stats.allowed;
    } else {
      ++stats.rejected;
    }
  }

  valkey::Client& client;
  RateLimiterConfig config;
  std::string instance_tag;
  std::uint64_t sequence = 0;
  std::optional<LocalLimiter> local;
  RateLimiterStats stats;
  DecisionBatcher batcher;
};

RateLimiter::RateLimiter(valkey::Client& client, RateLimiterConfig config)
    : impl_(std::make_shared<Impl>(client, std::move(config))) {}

RateLimiter::~RateLimiter() = default;

Task<Decision> RateLimiter::check(std::string type, std::string id) {
  std::vector<Decision> decisions =
      co_await impl_->decide(one_limit(std::move(type), std::move(id)), ScriptMode::consume);
  co_return std::move(decisions.front());
}

Task<std::vector<Decision>> RateLimiter::check_many(std::vector<LimitRef> limits) {
  if (impl_->client.is_cluster()) {
    return impl_->decide_by_slot(std::move(limits), ScriptMode::consume);
  }
  return impl_->decide(std::move(limits), ScriptMode::consume);
}

Task<Decision> RateLimiter::peek(std::string type, std::string id) {
  std::vector<Decision> decisions =
      co_await impl_->decide(one_limit(std::move(type), std::move(id)), ScriptMode::peek);
  co_return std::move(decisions.front());
}

Task<std::vector<Decision>> RateLimiter::peek_many(std::vector<LimitRef> limits) {
  if (impl_->client.is_cluster()) return impl_->decide_by_slot(std::move(limits), ScriptMode::peek);
  return impl_->decide(std::move(limits), ScriptMode::peek);
}

const LimitConfig& RateLimiter::limit_for(std::string_view type) const {
  return impl_->limit_for(type);
}

const RateLimiterConfig& RateLimiter::config() const noexcept {
  return impl_->config;
}

RateLimiterStats RateLimiter::stats() const noexcept {
  return impl_->stats;
}

const valkey::Script& RateLimiter::script() {
  return rate_limit_script();
}

}  // namespace opencode_cache::ratelimit
