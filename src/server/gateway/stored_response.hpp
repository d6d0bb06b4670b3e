// The stored form of a cached gateway response: one compact binary string, the Valkey value.
//
// An entry holds what a hit needs to answer without the upstream: the status, the
// content type, the few upstream headers worth replaying (kept_upstream_header()), when it
// was recorded (for `Age` and `max-age`), its usage (tokens saved, the replay's usage), and
// the body: either a JSON document or the recorded SSE events. Events are stored as one
// contiguous byte string plus each event's size, so a replay can write the stream in one
// piece or event by event, and the bytes are the upstream's, unchanged.
//
// Layout (version 1; integers are unsigned LEB128 varints, strings a varint size + bytes):
//   "OCGW" 0x01 | kind ('J' json, 'S' sse) | status | created_at_ms | content_type
//   | header count, (name, value)... | usage flag (0/1) [prompt, completion, total, cached,
//   reasoning] | body | for 'S': event count, event sizes... (they add up to the body size)
// The decoder checks every size against the bytes left, rejects trailing bytes, foreign
// values (wrong magic) and other versions with a clear message, and never reads out of
// bounds: a damaged value is a miss, never a crash. It does not copy the body: the view it
// returns points into the decoded string.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/gateway/token_usage.hpp"

namespace opencode_cache::server::gateway {

enum class StoredKind : char {
  json = 'J',  // body is one JSON document (a non-streamed answer)
  sse = 'S',   // body is the recorded events of a stream
};

// An entry to encode (owning).
struct StoredResponse {
  StoredKind kind = StoredKind::json;
  std::uint16_t status = 200;
  std::uint64_t created_at_ms = 0;  // Unix time of the recording
  std::string content_type;         // "application/json", "text/event-stream; charset=utf-8"
  std::vector<std::pair<std::string, std::string>> headers;  // kept upstream headers
  std::optional<TokenUsage> usage;
  std::string body;                        // the JSON body, or every event's bytes in order
  std::vector<std::uint32_t> event_sizes;  // kind sse: the size of each event in body

  // Appends one recorded event (kind sse).
  void append_event(std::string_view event);
};

// A decoded entry: views into the encoded string, which must outlive it.
struct StoredResponseView {
  StoredKind kind = StoredKind::json;
  std::uint16_t status = 0;
  std::uint64_t created_at_ms = 0;
  std::string_view content_type;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::optional<TokenUsage> usage;
  std::string_view body;
  std::vector<std::uint32_t> event_sizes;

  // The events' bytes, one view per event (kind sse; empty for json).
  std::vector<std::string_view> events() const;
  StoredResponse to_owned() const;
};

struct StoredResponseDecode {
  StoredResponseView entry;
  std::string error;  // empty on success, e.g. "not a gateway entry (foreign value)"
  bool ok() const { return error.empty(); }
};

// Encodes `response` (sizes must add up: body.size() == sum(event_sizes) for kind sse).
std::string encode_stored_response(const StoredResponse& response);

// Decodes a value written by encode_stored_response; any other input is an error.
StoredResponseDecode decode_stored_response(std::string_view bytes);

// The upstream response headers a replay repeats (case-insensitive names):
//   x-request-id, request-id   the upstream's id of the original answer (OpenAI, Anthropic),
//                              what a provider's support asks for about that answer;
//   openai-model, openai-version  which model and API version produced it.
// Not kept: per-hop and length headers (content-length, transfer-encoding, connection),
// dates and timings (stale on a hit), rate-limit headers (the gateway sends its own),
// set-cookie and organisation ids (caller identity).
bool kept_upstream_header(std::string_view name);

}  // namespace opencode_cache::server::gateway
