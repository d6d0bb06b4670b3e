#include "deadline_queue.hpp"

#include <algorithm>
#include <utility>

namespace opencode_cache::valkey {

void DeadlineQueue::watch(std::shared_ptr<Request> request, Clock::time_point at) {
  drop_settled_front();
  entries_.push_back(Entry{at, std::move(request)});
  std::push_heap(entries_.begin(), entries_.end(), later);
}

DeadlineQueue::Clock::time_point DeadlineQueue::next_deadline() {
  drop_settled_front();
  return entries_.empty() ? Clock::time_point::max() : entries_.front().at;
}

std::vector<std::shared_ptr<Request>> DeadlineQueue::expired(Clock::time_point now) {
  std::vector<std::shared_ptr<Request>> due;
  while (true) {
    drop_settled_front();
    if (entries_.empty() || entries_.front().at > now) break;
    due.push_back(std::move(entries_.front().request));
    pop_front();
  }
  return due;
}

void DeadlineQueue::drop_settled_front() {
  while (!entries_.empty() && settled(*entries_.front().request)) pop_front();
}

void DeadlineQueue::pop_front() {
  std::pop_heap(entries_.begin(), entries_.end(), later);
  entries_.pop_back();
}

}  // namespace opencode_cache::valkey
