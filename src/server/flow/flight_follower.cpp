#include "server/flow/flight_follower.hpp"

namespace opencode_cache::server::flow {
namespace {

bool is_event_stream(const FlightHead& head) {
  const std::string* type = http::find_header(head.headers, "content-type");
  return type != nullptr && type->find("text/event-stream") != std::string::npos;
}

}  // namespace

FlightFollower::FlightFollower(std::string token, Clock::time_point give_up_at)
    : token_(std::move(token)), give_up_at_(give_up_at) {}

FlightFollower::Step FlightFollower::verdict(Verdict verdict) const {
  Step step;
  step.verdict = verdict;
  return step;
}

FlightFollower::Step FlightFollower::lost(Verdict otherwise) const {
  return verdict(published_ ? Verdict::abort : otherwise);
}

FlightFollower::Step FlightFollower::on_entry(const FlightEntry& entry) {
  // A missing entry (trimmed by MAXLEN before it was read) would make the replay differ.
  if (entry.seq != next_seq_) return lost(Verdict::go_upstream);
  ++next_seq_;
  Step step;
  switch (entry.kind) {
    case FlightEntry::Kind::head: {
      auto head = decode_head(entry.value);
      if (!head || head_seen()) return lost(Verdict::go_upstream);
      if (is_event_stream(*head)) {
        published_ = true;
        step.head = std::move(*head);
      } else {
        head_ = std::make_unique<FlightHead>(std::move(*head));
      }
      return step;
    }
    case FlightEntry::Kind::data:
      if (published_) {
        step.bytes = entry.value;
      } else if (head_) {
        held_body_ += entry.value;
      } else {
        return lost(Verdict::go_upstream);
      }
      return step;
    case FlightEntry::Kind::end: break;
  }
  auto outcome = decode_outcome(entry.value);
  if (!outcome) return lost(Verdict::go_upstream);
  switch (outcome->end) {
    case FlightEnd::done:
      if (!head_seen()) return lost(Verdict::go_upstream);
      break;
    case FlightEnd::failed: break;
    case FlightEnd::abandoned: return lost(Verdict::take_over);
    case FlightEnd::overflow: return lost(Verdict::go_upstream);
  }
  step.verdict = Verdict::finished;
  if (!published_ && head_ && outcome->end == FlightEnd::done) {
    step.head = std::move(*head_);
    step.bytes = std::move(held_body_);
    head_.reset();
  }
  step.outcome = std::move(outcome);
  return step;
}

FlightFollower::Step FlightFollower::on_quiet(const std::optional<std::string>& holder,
                                              Clock::time_point now) {
  if (holder == token_) {
    if (!head_seen() && now >= give_up_at_) return verdict(Verdict::go_upstream);
    return verdict(Verdict::follow);
  }
  // The leader is gone without an end: dead, or its lease expired while it stalled.
  if (published_) return verdict(Verdict::abort);
  if (!holder) return verdict(Verdict::take_over);
  if (now >= give_up_at_) return verdict(Verdict::go_upstream);
  token_ = *holder;
  next_seq_ = 0;
  head_.reset();
  held_body_.clear();
  return verdict(Verdict::restart);
}

}  // namespace opencode_cache::server::flow
