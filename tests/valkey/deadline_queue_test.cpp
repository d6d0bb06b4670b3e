// The deadline queue behind the client's one deadline timer, driven without a clock.
#include "valkey/deadline_queue.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace {

using opencode_cache::valkey::DeadlineQueue;
using opencode_cache::valkey::Request;
using namespace std::chrono_literals;

const DeadlineQueue::Clock::time_point t0{};

std::shared_ptr<Request> waiting() {
  return std::make_shared<Request>();
}

TEST(DeadlineQueue, EmptyHasNoDeadline) {
  DeadlineQueue queue;
  EXPECT_EQ(queue.next_deadline(), DeadlineQueue::Clock::time_point::max());
  EXPECT_TRUE(queue.expired(t0 + 1h).empty());
}

TEST(DeadlineQueue, ExpiresInDeadlineOrderWhateverTheOrderOfWatching) {
  DeadlineQueue queue;
  auto late = waiting();
  auto early = waiting();
  auto middle = waiting();
  queue.watch(late, t0 + 30ms);
  queue.watch(early, t0 + 10ms);
  queue.watch(middle, t0 + 20ms);
  EXPECT_EQ(queue.next_deadline(), t0 + 10ms);
  EXPECT_TRUE(queue.expired(t0 + 9ms).empty());
  const auto due = queue.expired(t0 + 20ms);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0], early);
  EXPECT_EQ(due[1], middle);
  EXPECT_EQ(queue.next_deadline(), t0 + 30ms);
}

TEST(DeadlineQueue, AnsweredAndAbandonedRequestsNeverExpireAndLeaveTheFront) {
  DeadlineQueue queue;
  auto answered = waiting();
  auto abandoned = waiting();
  auto still_waiting = waiting();
  queue.watch(answered, t0 + 10ms);
  queue.watch(abandoned, t0 + 20ms);
  queue.watch(still_waiting, t0 + 30ms);
  answered->state = Request::State::done;
  abandoned->state = Request::State::abandoned;
  EXPECT_EQ(queue.next_deadline(), t0 + 30ms);
  EXPECT_EQ(queue.size(), 1u);
  const auto due = queue.expired(t0 + 1h);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0], still_waiting);
  EXPECT_EQ(queue.size(), 0u);
}

// Commands answered in the order they were sent, with one timeout for all: the queue holds
// only the ones still waiting, however many went through.
TEST(DeadlineQueue, StaysAsSmallAsTheCommandsWaiting) {
  DeadlineQueue queue;
  std::shared_ptr<Request> previous;
  for (int i = 0; i < 10000; ++i) {
    auto request = waiting();
    queue.watch(request, t0 + std::chrono::milliseconds(1000 + i));
    if (previous) previous->state = Request::State::done;
    previous = request;
  }
  EXPECT_LE(queue.size(), 2u);
}

}  // namespace
