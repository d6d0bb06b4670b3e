// Internal: sans-I/O core of one multiplexed connection: the queue of commands waiting to be
// written, the commands in flight in the order they were written, and what happens to each when
// replies arrive, when the connection drops, and when reconnecting fails. No sockets,
// no clocks: the client drives it and does the I/O.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "opencode_cache/valkey/resp_value.hpp"

namespace opencode_cache::valkey {

// One caller's unit of work: a command or a pipeline, written contiguously.
struct Request {
  enum class State : std::uint8_t { queued, written, done, abandoned };

  std::string payload;  // encoded commands
  std::size_t expected_replies = 1;
  std::vector<resp::Value> replies;
  std::size_t received = 0;  // replies read, kept or (once abandoned) discarded
  // Safe to write again if the connection drops before all replies came (read-only).
  bool resendable = false;
  std::uint32_t resends_left = 0;
  // Failed connection attempts this request may wait through before it fails.
  std::uint32_t reconnects_left = 0;
  // Times a refusal by the server's role (READONLY, LOADING, MASTERDOWN) may send it again.
  std::uint32_t refusals_left = 0;
  // Non-zero: write only on the connection of this epoch (see Multiplexer::epoch()), else
  // fail with connection_changed. WATCH state lives and dies with one connection.
  std::uint64_t required_epoch = 0;

  State state = State::queued;
  std::error_code error;
  std::string error_detail;
  // Called once when the request is done (replies or error); not after abandon().
  std::function<void()> on_done;

  bool finished() const noexcept { return state == State::done; }
};

class Multiplexer {
 public:
  using RequestPtr = std::shared_ptr<Request>;

  // At most `max_in_flight` requests are written and unanswered at once; beyond, they wait
  // in the queue (bounded by `max_queued`) as they do for a connection.
  explicit Multiplexer(std::size_t max_queued,
                       std::size_t max_in_flight = std::numeric_limits<std::size_t>::max())
      : max_queued_(max_queued), max_in_flight_(max_in_flight) {}

  // Queues a request; false when max_queued requests already wait to be written.
  bool enqueue(RequestPtr request);
  bool has_queued() const noexcept { return live_queued_ > 0; }
  // Something queued may be written now: the in-flight cap leaves room.
  bool can_write() const noexcept { return has_queued() && in_flight_.size() < max_in_flight_; }
  std::size_t queued() const noexcept { return live_queued_; }
  std::size_t in_flight() const noexcept { return in_flight_.size(); }
  // Refused for the server's role and waiting for the reset that sends them again.
  std::size_t refused() const noexcept { return refused_.size(); }
  // Which connection is current: starts at 1 and grows by one at every connection lost.
  std::uint64_t epoch() const noexcept { return epoch_; }

  // Moves queued requests in flight, as many as the cap allows, and returns their bytes as one
  // buffer, valid until the next call. A buffer grown beyond 64 KiB is released at the first
  // call whose bytes need a quarter of it or less, so that one burst does not hold its memory
  // for the connection's life.
  const std::string& prepare_write();
  std::size_t write_buffer_capacity() const noexcept { return write_buffer_.capacity(); }

  // A reply from the server for the oldest request in flight. False when nothing is in
  // flight: the stream is out of step and the connection must be reset.
  bool on_reply(resp::Value&& reply);
  // The oldest request's command was refused for the server's role or state (READONLY from a
  // demoted primary, LOADING, MASTERDOWN): the connection is about to be reset. A single
  // command refused that way did not run, so it is marked to be sent again on the next
  // connection while its refusals_left last; otherwise the reply is delivered as any other.
  // False when nothing is in flight.
  bool on_role_refusal(resp::Value&& reply);

  // The connection dropped (`reason` says why): requests in flight are queued again ahead of
  // the others if they are resendable and have resends left; the rest fail with
  // connection_lost.
  void on_connection_lost(const std::string& reason = "connection closed");
  // A connection attempt failed: waiting requests use up one reconnect; those with none
  // left fail with `error`.
  void on_connect_failed(std::error_code error, const std::string& detail);
  // Fails every request, queued and in flight (closing, giving up).
  void fail_all(std::error_code error, const std::string& detail);
  void fail_queued(std::error_code error, const std::string& detail);

  // The caller stopped waiting (deadline, cancellation): the request is never written if it
  // was still queued, and its replies are discarded if it was in flight.
  void abandon(Request& request);

 private:
  static void finish(Request& request);
  static void fail(Request& request, std::error_code error, const std::string& detail);
  void drop_abandoned_queued();
  // The bytes the next prepare_write() will take, for one allocation of its buffer.
  std::size_t next_write_size() const;

  std::size_t max_queued_;
  std::size_t max_in_flight_;
  std::uint64_t epoch_ = 1;
  std::size_t live_queued_ = 0;  // queued_ minus the abandoned ones still in it
  std::deque<RequestPtr> queued_;
  std::deque<RequestPtr> writing_;  // prepare_write's working list, kept for its storage
  std::deque<RequestPtr> in_flight_;
  std::deque<RequestPtr> refused_;  // refused for the server's role; resent after the reset
  std::string write_buffer_;
};

}  // namespace opencode_cache::valkey
