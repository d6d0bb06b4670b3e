// The recorder of an upstream OpenAI Responses stream (`event: <type>` + `data: {"type":
// "<type>", "sequence_number": n, ...}` events, no [DONE]).
//
// Fed the upstream's SSE events in order (sse_parser.hpp), it keeps their raw bytes, one
// string per event, so that a replay has the same bytes (encrypted reasoning included) and the
// same boundaries, and decides whether the stream may be stored. The JSON `type` decides, as
// it does for the AI SDK (the `event:` name only when a payload has no type):
//  - clean: `response.completed` was seen;
//  - failed: `response.failed`, `response.incomplete` (an answer cut short by a limit is not
//    the answer), an `error` event, or a data payload that is not a JSON object;
//  - anything else (no terminal event yet, a truncated stream) is not storable.
// `data: [DONE]`, which some compatible providers append, is ignored. Events after the
// terminal one are recorded but change nothing. Recording is bounded (recorded_events.hpp).
// The usage of `response.completed` is captured for metrics.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "server/gateway/recorded_events.hpp"
#include "server/gateway/sse_parser.hpp"
#include "server/gateway/token_usage.hpp"

namespace opencode_cache::server::gateway {

class ResponsesRecorder {
 public:
  explicit ResponsesRecorder(std::size_t max_recorded_bytes = RecordedEvents::default_max_bytes)
      : recording_(max_recorded_bytes) {}

  // The next upstream event; its raw bytes are moved into the recording.
  void observe(SseEvent event);

  // response.completed and no failure before it.
  bool clean() const { return completed_ && !failed(); }
  // Clean and recorded whole: the entry may be stored.
  bool storable() const { return clean() && !over_cap(); }

  bool completed() const { return completed_; }
  bool failed() const { return !failure_.empty(); }
  // Why the stream failed, e.g. "response incomplete: max_output_tokens".
  const std::string& failure() const { return failure_; }
  bool over_cap() const { return recording_.over_cap(); }
  const std::optional<TokenUsage>& usage() const { return usage_; }

  const std::vector<std::string>& events() const { return recording_.events(); }
  std::vector<std::string> take_events() { return recording_.take(); }
  std::size_t recorded_bytes() const { return recording_.bytes(); }

 private:
  void inspect_data(const SseEvent& event);

  RecordedEvents recording_;
  bool completed_ = false;
  std::string failure_;
  std::optional<TokenUsage> usage_;
};

}  // namespace opencode_cache::server::gateway
