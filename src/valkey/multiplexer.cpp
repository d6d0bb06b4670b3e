#include "multiplexer.hpp"

#include <algorithm>
#include <utility>

#include "opencode_cache/valkey/error.hpp"

namespace opencode_cache::valkey {

void Multiplexer::finish(Request& request) {
  request.state = Request::State::done;
  if (auto notify = std::exchange(request.on_done, nullptr)) notify();
}

void Multiplexer::fail(Request& request, std::error_code error, const std::string& detail) {
  request.error = error;
  request.error_detail = detail;
  request.replies.clear();
  finish(request);
}

bool Multiplexer::enqueue(RequestPtr request) {
  if (live_queued_ >= max_queued_) return false;
  if (queued_.size() >= max_queued_) drop_abandoned_queued();
  request->state = Request::State::queued;
  queued_.push_back(std::move(request));
  ++live_queued_;
  return true;
}

void Multiplexer::drop_abandoned_queued() {
  std::erase_if(queued_, [](const RequestPtr& r) { return r->state == Request::State::abandoned; });
}

std::size_t Multiplexer::next_write_size() const {
  std::size_t bytes = 0;
  std::size_t requests = in_flight_.size();
  for (const RequestPtr& request : queued_) {
    if (requests == max_in_flight_) break;
    if (request->state == Request::State::abandoned) continue;
    bytes += request->payload.size();
    ++requests;
  }
  return bytes;
}

const std::string& Multiplexer::prepare_write() {
  // A buffer grown by a burst is released once writes are small again, so that one burst does
  // not hold its memory for the connection's life; under steady large writes (pipelined SETs
  // of big values) it is kept, and each write fills it without growing.
  constexpr std::size_t keep_at_most = 64 * 1024;
  const std::size_t bytes = next_write_size();
  if (write_buffer_.capacity() > keep_at_most && bytes <= write_buffer_.capacity() / 4) {
    std::string().swap(write_buffer_);
  } else {
    write_buffer_.clear();
  }
  write_buffer_.reserve(bytes);
  // Taken out first: a failure handler below may enqueue, and that request must stay queued.
  // Swapped with a member, not moved out: a new std::deque allocates, and this runs for every
  // write.
  writing_.swap(queued_);
  live_queued_ = 0;
  auto next = writing_.begin();
  for (; next != writing_.end() && in_flight_.size() < max_in_flight_; ++next) {
    RequestPtr& request = *next;
    if (request->state == Request::State::abandoned) continue;
    if (request->required_epoch != 0 && request->required_epoch != epoch_) {
      fail(*request, make_error_code(errc::connection_changed),
           "the connection it depended on (WATCH) was replaced");
      continue;
    }
    request->state = Request::State::written;
    write_buffer_ += request->payload;
    in_flight_.push_back(std::move(request));
  }
  // What the cap kept back waits ahead of anything a handler enqueued meanwhile.
  for (auto it = next; it != writing_.end(); ++it) {
    if ((*it)->state != Request::State::abandoned) ++live_queued_;
  }
  queued_.insert(queued_.begin(), std::make_move_iterator(next),
                 std::make_move_iterator(writing_.end()));
  writing_.clear();
  return write_buffer_;
}

bool Multiplexer::on_role_refusal(resp::Value&& reply) {
  if (in_flight_.empty()) return false;
  Request& request = *in_flight_.front();
  const bool single = request.expected_replies == 1;
  if (!single || request.state == Request::State::abandoned || request.refusals_left == 0) {
    return on_reply(std::move(reply));
  }
  --request.refusals_left;
  // Out of flight (replies behind it belong to the requests behind it), kept for the coming
  // reset, which sends it again ahead of the others.
  refused_.push_back(std::move(in_flight_.front()));
  in_flight_.pop_front();
  return true;
}

bool Multiplexer::on_reply(resp::Value&& reply) {
  if (in_flight_.empty()) return false;
  Request& request = *in_flight_.front();
  ++request.received;
  if (request.state != Request::State::abandoned) request.replies.push_back(std::move(reply));
  if (request.received < request.expected_replies) return true;
  RequestPtr done = std::move(in_flight_.front());
  in_flight_.pop_front();
  if (done->state != Request::State::abandoned) finish(*done);
  return true;
}

void Multiplexer::on_connection_lost(const std::string& reason) {
  ++epoch_;
  std::deque<RequestPtr> resend;
  for (RequestPtr& request : refused_) {
    if (request->state == Request::State::abandoned) continue;
    request->replies.clear();
    request->received = 0;
    request->state = Request::State::queued;
    resend.push_back(std::move(request));
  }
  refused_.clear();
  for (RequestPtr& request : in_flight_) {
    if (request->state == Request::State::abandoned) continue;
    if (request->resendable && request->resends_left > 0) {
      --request->resends_left;
      request->replies.clear();
      request->received = 0;
      request->state = Request::State::queued;
      resend.push_back(std::move(request));
    } else {
      fail(*request, make_error_code(errc::connection_lost),
           "the connection dropped after the command was sent (" + reason +
               "); it may or may not have run");
    }
  }
  in_flight_.clear();
  live_queued_ += resend.size();
  queued_.insert(queued_.begin(), std::make_move_iterator(resend.begin()),
                 std::make_move_iterator(resend.end()));
}

void Multiplexer::on_connect_failed(std::error_code error, const std::string& detail) {
  // Walk a stolen queue: a completion handler may enqueue new requests (a caller retrying),
  // which must neither invalidate this walk nor be lost. They wait behind the survivors.
  std::deque<RequestPtr> waiting = std::exchange(queued_, {});
  std::deque<RequestPtr> survivors;
  for (RequestPtr& request : waiting) {
    if (request->state == Request::State::abandoned) continue;
    if (request->reconnects_left > 0) {
      --request->reconnects_left;
      survivors.push_back(std::move(request));
      continue;
    }
    --live_queued_;
    fail(*request, error, detail);
  }
  queued_.insert(queued_.begin(), std::make_move_iterator(survivors.begin()),
                 std::make_move_iterator(survivors.end()));
}

void Multiplexer::fail_queued(std::error_code error, const std::string& detail) {
  // As in on_connect_failed: what a handler enqueues meanwhile stays queued.
  std::deque<RequestPtr> waiting = std::exchange(queued_, {});
  for (RequestPtr& request : waiting) {
    if (request->state == Request::State::abandoned) continue;
    --live_queued_;
    fail(*request, error, detail);
  }
}

void Multiplexer::fail_all(std::error_code error, const std::string& detail) {
  // Steal the in-flight list first: a completion handler may enqueue new requests.
  auto in_flight = std::exchange(in_flight_, {});
  for (RequestPtr& request : std::exchange(refused_, {})) in_flight.push_front(std::move(request));
  for (RequestPtr& request : in_flight) {
    if (request->state != Request::State::abandoned) fail(*request, error, detail);
  }
  fail_queued(error, detail);
}

void Multiplexer::abandon(Request& request) {
  request.on_done = nullptr;
  if (request.state == Request::State::queued) --live_queued_;
  if (request.state == Request::State::queued || request.state == Request::State::written) {
    request.state = Request::State::abandoned;
    request.replies.clear();
  }
}

}  // namespace opencode_cache::valkey
