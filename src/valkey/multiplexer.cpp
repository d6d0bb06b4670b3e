#include "opencode_cache/valkey/multiplexer.hpp"

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

const std::string& Multiplexer::prepare_write() {
  write_buffer_.clear();
  for (RequestPtr& request : queued_) {
    if (request->state == Request::State::abandoned) continue;
    request->state = Request::State::written;
    write_buffer_ += request->payload;
    in_flight_.push_back(std::move(request));
  }
  queued_.clear();
  live_queued_ = 0;
  return write_buffer_;
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
  std::deque<RequestPtr> resend;
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
  std::erase_if(queued_, [&](const RequestPtr& request) {
    if (request->state == Request::State::abandoned) return true;
    if (request->reconnects_left > 0) {
      --request->reconnects_left;
      return false;
    }
    fail(*request, error, detail);
    --live_queued_;
    return true;
  });
}

void Multiplexer::fail_queued(std::error_code error, const std::string& detail) {
  for (RequestPtr& request : queued_) {
    if (request->state != Request::State::abandoned) fail(*request, error, detail);
  }
  queued_.clear();
  live_queued_ = 0;
}

void Multiplexer::fail_all(std::error_code error, const std::string& detail) {
  // Steal the in-flight list first: a completion handler may enqueue new requests.
  auto in_flight = std::exchange(in_flight_, {});
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
