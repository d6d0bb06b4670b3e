// An incremental Server-Sent Events splitter over raw bytes, for upstream streams.
//
// Feed it chunks as they arrive, cut anywhere; it returns every complete event once its
// terminating blank line is in. Each event keeps its exact bytes (`raw`: every line and line
// ending, the blank line included) so a recording replays byte-identical with the same event
// boundaries, plus its parsed fields as the SSE format defines them (html.spec.whatwg.org,
// "Server-sent events", interpreting an event stream):
//  - lines end with CRLF, LF or CR; a line `field:value` loses one space after the colon
//    (`data:x` and `data: x` are the same); a line without a colon is a field with no value;
//  - `data` lines are joined with "\n"; `event`, `id`, `retry` are kept; unknown fields are
//    ignored; lines starting with ':' are comments (kept, for heartbeats and metadata).
// A blank line with nothing before it is returned as an event too (raw "\n", no fields), so
// that the events' raw bytes always add up to the whole stream.
//
// A CR at the very end of a chunk may be the first half of a CRLF; if it ends an event, the
// event waits for the next byte (or finish()) so that any chunking yields the same events.
//
// Bounded: an event larger than `max_event_bytes` puts the parser in a sticky error state
// (the stream can no longer be recorded; the caller decides whether to keep forwarding).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace opencode_cache::server::gateway {

struct SseEvent {
  std::string raw;             // exact bytes, terminating blank line included
  std::string event;           // the `event:` value, empty when absent
  std::string data;            // `data:` values joined with '\n'
  std::size_t data_lines = 0;  // how many `data:` lines (0: no data at all)
  std::string id;              // the last `id:` value
  bool has_id = false;
  std::vector<std::string> comments;  // text after each ':' comment marker, one space dropped

  bool has_data() const { return data_lines != 0; }
  // Nothing but comments and blank lines: a heartbeat.
  bool is_comment_only() const { return data_lines == 0 && event.empty() && !has_id; }
};

struct SseLimits {
  std::size_t max_event_bytes = 4 * 1024 * 1024;
};

class SseParser {
 public:
  explicit SseParser(SseLimits limits = {}) : limits_(limits) {}

  // Parses `bytes`, appending every event it completes to `out`. False once the parser has
  // failed (this call or before); `out` then holds the events completed before the failure.
  bool feed(std::string_view bytes, std::vector<SseEvent>& out);

  // The end of the stream: completes an event held back for a possible CRLF. Returns false
  // when bytes of an unterminated event remain (a truncated stream; they are dropped) or the
  // parser had failed.
  bool finish(std::vector<SseEvent>& out);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // Bytes of the event in progress (received, not yet returned).
  std::size_t pending_bytes() const { return current_.raw.size(); }

 private:
  void take_line(std::size_t content_end);
  void complete_event(std::vector<SseEvent>& out);
  bool over_limit(std::size_t more);

  SseLimits limits_;
  SseEvent current_;
  std::size_t line_start_ = 0;  // offset of the line in progress within current_.raw
  bool after_cr_ = false;       // the last byte was a CR: a following LF belongs to it
  bool held_back_ = false;      // that CR ended an event, not yet returned
  std::string error_;
};

}  // namespace opencode_cache::server::gateway
