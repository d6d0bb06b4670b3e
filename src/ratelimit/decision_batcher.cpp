#include "decision_batcher.hpp"

#include <algorithm>
#include <utility>

namespace opencode_cache::ratelimit {

DecisionBatch::~DecisionBatch() {
  // A batch dropped unanswered (its sender gone) leaves no caller pointing at it.
  for (PendingDecision* pending : callers_) {
    if (pending != nullptr) pending->batch = nullptr;
  }
}

std::size_t DecisionBatch::waiting() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(callers_.begin(), callers_.end(), [](auto* p) { return p != nullptr; }));
}

void DecisionBatch::forget(PendingDecision& pending) noexcept {
  callers_[pending.slot] = nullptr;
  pending.batch = nullptr;
}

void DecisionBatch::settle(const valkey::resp::Value& reply) noexcept {
  std::vector<ScriptReply> replies;
  try {
    replies = script_.parse(reply);
  } catch (...) {
    fail(std::current_exception());
    return;
  }
  wake_all(PendingDecision::State::answered, &replies, nullptr);
}

void DecisionBatch::unreachable() noexcept {
  wake_all(PendingDecision::State::unreachable, nullptr, nullptr);
}

void DecisionBatch::fail(std::exception_ptr failure) noexcept {
  wake_all(PendingDecision::State::failed, nullptr, std::move(failure));
}

void DecisionBatch::wake_all(PendingDecision::State state, std::vector<ScriptReply>* replies,
                             std::exception_ptr failure) noexcept {
  for (std::size_t i = 0; i < callers_.size(); ++i) {
    PendingDecision* pending = std::exchange(callers_[i], nullptr);
    if (pending == nullptr) continue;  // abandoned
    pending->batch = nullptr;
    pending->state = state;
    if (replies != nullptr) pending->reply = std::move((*replies)[i]);
    pending->failure = failure;
    if (pending->wake) pending->wake();
  }
}

DecisionBatcher::DecisionBatcher(std::size_t max_batch)
    : max_batch_(std::max<std::size_t>(1, max_batch)) {}

bool DecisionBatcher::enqueue(PendingDecision& pending) {
  pending.state = PendingDecision::State::queued;
  queue_.push_back(&pending);
  return !std::exchange(flush_scheduled_, true);
}

void DecisionBatcher::abandon(PendingDecision& pending) noexcept {
  switch (pending.state) {
    case PendingDecision::State::queued:
      // Not sent yet: it leaves the queue and takes no slot on the server.
      std::erase(queue_, &pending);
      break;
    case PendingDecision::State::sent:
      if (pending.batch != nullptr) pending.batch->forget(pending);
      break;
    default: break;  // already answered: nothing refers to it any more
  }
  pending.wake = nullptr;
}

std::unique_ptr<DecisionBatch> DecisionBatcher::take(std::optional<std::chrono::microseconds> now,
                                                     std::string member_suffix) {
  auto batch = std::make_unique<DecisionBatch>();
  const std::size_t count = std::min(max_batch_, queue_.size());
  batch->callers_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    PendingDecision& pending = *queue_[i];
    pending.state = PendingDecision::State::sent;
    pending.batch = batch.get();
    pending.slot = i;
    batch->callers_.push_back(&pending);
    batch->deadline = std::min(batch->deadline, pending.deadline);
    batch->script_.add(pending.limits, pending.mode, pending.released);
  }
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(count));
  batch->call = batch->script_.finish(now, std::move(member_suffix));
  return batch;
}

}  // namespace opencode_cache::ratelimit
