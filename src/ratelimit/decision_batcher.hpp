// Gathers the decisions callers ask for during one turn of the event loop into batches of one
// script call each, and hands each caller its own answer. Sans-I/O: the caller's coroutine
// waits, the limiter sends; this is only the bookkeeping between them.
//
//   enqueue()   a caller arrives; true when a flush must be scheduled (posted, so that every
//               caller of this loop turn joins the batch)
//   take()      the flush: the next batch of queued callers, with its script call;
//               flushed() when the queue is empty
//   settle() / fail()   the reply (or its absence) reaches each caller still waiting, through
//               its wake callback
//   abandon()   a caller stopped waiting (cancelled): it leaves the queue before it is sent;
//               once sent, its answer is dropped when it comes. It never holds up the others.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "limit_script.hpp"
#include "resolved_limit.hpp"

namespace opencode_cache::ratelimit {

class DecisionBatch;

// One caller's request, owned by the caller (its coroutine frame) while it waits.
struct PendingDecision {
  enum class State : std::uint8_t { queued, sent, answered, unreachable, failed };

  std::vector<ResolvedLimit> limits;
  ScriptMode mode = ScriptMode::consume;
  std::string released;  // a release: the member of the request it undoes
  // When this caller wants its decision by at the latest; max() for the client's timeout.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Called once when the state leaves queued/sent. Must not throw.
  std::function<void()> wake;

  State state = State::queued;
  ScriptReply reply;           // when answered
  std::exception_ptr failure;  // when failed: what the caller rethrows

  // Where the batcher keeps it once sent.
  DecisionBatch* batch = nullptr;
  std::size_t slot = 0;
};

// Callers sent together in one script call.
class DecisionBatch {
 public:
  DecisionBatch() = default;
  DecisionBatch(const DecisionBatch&) = delete;
  DecisionBatch& operator=(const DecisionBatch&) = delete;
  ~DecisionBatch();

  ScriptCall call;
  // The earliest deadline of its callers: the call's own.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();

  std::size_t size() const noexcept { return callers_.size(); }
  // Callers still waiting for this batch's reply.
  std::size_t waiting() const noexcept;

  // The reply reaches each caller still waiting; a reply that does not fit the call fails
  // them all with what ScriptBatch::parse throws.
  void settle(const valkey::resp::Value& reply) noexcept;
  // No reply (unreachable, timed out, lost): each caller still waiting decides by its limits'
  // failure policies.
  void unreachable() noexcept;
  // The call was refused as a whole (valkey::ServerError: NOPERM, OOM...): each caller still
  // waiting rethrows `failure`.
  void fail(std::exception_ptr failure) noexcept;

 private:
  friend class DecisionBatcher;
  void forget(PendingDecision& pending) noexcept;
  void wake_all(PendingDecision::State state, std::vector<ScriptReply>* replies,
                std::exception_ptr failure) noexcept;

  std::vector<PendingDecision*> callers_;
  ScriptBatch script_;
};

class DecisionBatcher {
 public:
  // `max_batch`: callers per script call at most (a long queue goes out in several calls).
  explicit DecisionBatcher(std::size_t max_batch);

  // True when no flush is scheduled yet: the caller must schedule one.
  bool enqueue(PendingDecision& pending);
  // The caller stopped waiting: nothing of it is sent any more, and nothing wakes it.
  void abandon(PendingDecision& pending) noexcept;

  // The flush: while has_queued(), take() the next batch of at most max_batch queued
  // callers, oldest first (`now` and `member_suffix` as in ScriptBatch::finish); then
  // flushed(), after which the next caller schedules a flush again.
  bool has_queued() const noexcept { return !queue_.empty(); }
  std::unique_ptr<DecisionBatch> take(std::optional<std::chrono::microseconds> now,
                                      std::string member_suffix);
  void flushed() noexcept { flush_scheduled_ = false; }

 private:
  std::size_t max_batch_;
  std::vector<PendingDecision*> queue_;
  bool flush_scheduled_ = false;
};

}  // namespace opencode_cache::ratelimit
