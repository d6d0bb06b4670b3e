// The decisions of a follower: a process that found an identical request's lease held by
// another gateway process and replays that leader's Valkey stream into its own local flight
// (docs/single-flight.md). Sans-I/O: fed the entries read and, when a read found nothing new,
// who holds the lease now; it says what to hand the local flight and what to do next.
//
// The rule that keeps answers whole: a follower whose clients may have received bytes of the
// leader's answer (it has published the head of an event stream) never switches to another
// answer; when the leader's answer cannot be finished it aborts (its clients' connections
// are reset, as after an upstream abort, and they retry). One that has published nothing
// takes over (a new lease, its own upstream call) or goes upstream without a lease.
//
// A JSON answer (any head that is not an event stream) is held back until its end: its
// clients receive nothing before it is whole, so a follower of one can always still take
// over.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "server/flow/flight_entry.hpp"

namespace opencode_cache::server::flow {

class FlightFollower {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Verdict {
    follow,       // keep reading the leader's stream
    restart,      // another leader holds the lease now: read its stream from the start
    take_over,    // nobody leads any more: try to take the lease and call upstream
    go_upstream,  // stop waiting: call upstream without a lease
    abort,        // the clients got part of an answer that cannot be finished: reset them
    finished,     // `outcome` ended the answer: done or failed, as the leader's
  };

  struct Step {
    Step() = default;
    Verdict verdict = Verdict::follow;
    std::optional<FlightHead> head;  // the head to publish now
    std::string bytes;               // body bytes to append, after the head
    std::optional<FlightOutcome> outcome;
  };

  // Follows the holder of `token`; gives up waiting for an answer's head at `give_up_at`.
  FlightFollower(std::string token, Clock::time_point give_up_at);

  Step on_entry(const FlightEntry& entry);
  // A read found no entry; `holder` holds the lease now (nullopt: nobody).
  Step on_quiet(const std::optional<std::string>& holder, Clock::time_point now);

  const std::string& token() const { return token_; }
  // Whether the local flight's clients may have received part of the answer.
  bool published() const { return published_; }
  bool head_seen() const { return head_ != nullptr || published_; }

 private:
  Step verdict(Verdict verdict) const;
  // The leader's answer cannot be finished: abort if it was published, else `otherwise`.
  Step lost(Verdict otherwise) const;

  std::string token_;
  Clock::time_point give_up_at_;
  std::uint64_t next_seq_ = 0;
  bool published_ = false;
  std::unique_ptr<FlightHead> head_;  // a JSON answer's head, held back
  std::string held_body_;
};

}  // namespace opencode_cache::server::flow
