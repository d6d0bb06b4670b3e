// The recorder of an upstream Chat Completions stream (`data: {chunk}` ... `data: [DONE]`).
//
// Fed the upstream's SSE events in order (sse_parser.hpp), it keeps their raw bytes, one
// string per event so that a replay has the same bytes and the same boundaries, and decides
// whether the stream may be stored:
//  - clean: a chunk with a non-null `finish_reason` was seen, and after it `data: [DONE]`;
//  - failed: a data payload that is an `{"error": ...}` object, an `event: error`, or a data
//    payload that is not JSON (a client's parser would throw on it);
//  - anything else (no [DONE] yet, [DONE] without a finish_reason, a truncated stream) is
//    not storable.
// Recording is bounded: past `max_recorded_bytes` the events are dropped (the stream is still
// forwarded by the caller, and the outcome still tracked) and the stream is not storable.
// The `usage` of the usage chunk (stream_options.include_usage) is captured for metrics.
// Events after [DONE] are recorded but change nothing.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "server/gateway/recorded_events.hpp"
#include "server/gateway/sse_parser.hpp"
#include "server/gateway/token_usage.hpp"

namespace opencode_cache::server::gateway {

class ChatCompletionsRecorder {
 public:
  static constexpr std::size_t default_max_recorded_bytes = RecordedEvents::default_max_bytes;

  explicit ChatCompletionsRecorder(std::size_t max_recorded_bytes = default_max_recorded_bytes)
      : recording_(max_recorded_bytes) {}

  // The next upstream event; its raw bytes are moved into the recording.
  void observe(SseEvent event);

  // A finish_reason, then [DONE], and no failure.
  bool clean() const { return done_after_finish_ && !failed(); }
  // Clean and recorded whole: the entry may be stored.
  bool storable() const { return clean() && !over_cap(); }

  bool failed() const { return !failure_.empty(); }
  // Why the stream failed, e.g. "upstream error in stream: Rate limit reached".
  const std::string& failure() const { return failure_; }
  bool done_seen() const { return done_seen_; }
  bool over_cap() const { return recording_.over_cap(); }
  // The last non-null finish_reason ("stop", "length", "tool_calls", ...), empty if none yet.
  const std::string& finish_reason() const { return finish_reason_; }
  const std::optional<TokenUsage>& usage() const { return usage_; }

  // The recorded events' raw bytes, in order (empty once over the cap).
  const std::vector<std::string>& events() const { return recording_.events(); }
  std::vector<std::string> take_events() { return recording_.take(); }
  std::size_t recorded_bytes() const { return recording_.bytes(); }

 private:
  void inspect_data(const SseEvent& event);

  RecordedEvents recording_;
  bool done_seen_ = false;
  bool done_after_finish_ = false;
  std::string finish_reason_;
  std::string failure_;
  std::optional<TokenUsage> usage_;
};

}  // namespace opencode_cache::server::gateway
