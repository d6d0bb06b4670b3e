// The recorder of an upstream Anthropic Messages stream: `message_start`, per content block
// `content_block_start` / `content_block_delta` / `content_block_stop`, `message_delta`,
// `message_stop`, with `ping` anywhere.
//
// Fed the upstream's SSE events in order (sse_parser.hpp), it keeps their raw bytes, one
// string per event, so that a replay has the same bytes (thinking signatures included) and the
// same boundaries, and decides whether the stream may be stored. The JSON `type` decides (the
// `event:` name only when a payload has no type):
//  - clean: `message_start`, then `message_stop`;
//  - failed: an `error` event, or a data payload that is not a JSON object;
//  - anything else (no message_stop yet, a truncated stream) is not storable.
// Events after message_stop are recorded but change nothing. Recording is bounded
// (recorded_events.hpp). The usage is message_start's, updated by message_delta's counts.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "server/gateway/recorded_events.hpp"
#include "server/gateway/sse_parser.hpp"
#include "server/gateway/token_usage.hpp"

namespace opencode_cache::server::gateway {

class MessagesRecorder {
 public:
  explicit MessagesRecorder(std::size_t max_recorded_bytes = RecordedEvents::default_max_bytes)
      : recording_(max_recorded_bytes) {}

  // The next upstream event; its raw bytes are moved into the recording.
  void observe(SseEvent event);

  // message_start, message_stop, and no failure.
  bool clean() const { return started_ && stopped_ && !failed(); }
  // Clean and recorded whole: the entry may be stored.
  bool storable() const { return clean() && !over_cap(); }

  bool stopped() const { return stopped_; }
  bool failed() const { return !failure_.empty(); }
  // Why the stream failed, e.g. "upstream error in stream: Overloaded".
  const std::string& failure() const { return failure_; }
  bool over_cap() const { return recording_.over_cap(); }
  // The stop_reason of message_delta ("end_turn", "tool_use", ...), empty if none yet.
  const std::string& stop_reason() const { return stop_reason_; }
  std::optional<TokenUsage> usage() const;

  const std::vector<std::string>& events() const { return recording_.events(); }
  std::vector<std::string> take_events() { return recording_.take(); }
  std::size_t recorded_bytes() const { return recording_.bytes(); }

 private:
  void inspect_data(const SseEvent& event);
  void merge_usage(const boost::json::value* usage);

  RecordedEvents recording_;
  bool started_ = false;
  bool stopped_ = false;
  std::string failure_;
  std::string stop_reason_;
  bool has_usage_ = false;
  boost::json::object usage_;  // the counts seen so far, later ones replacing earlier ones
};

}  // namespace opencode_cache::server::gateway
