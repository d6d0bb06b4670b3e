// The gateway's value for one cached answer: a one-line JSON head (status, content type,
// whether the body is an SSE stream, when it was stored, the usage it cost), a newline, then
// the body bytes exactly as the provider sent them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace opencode_cache::server::flow {

struct StoredEntry {
  StoredEntry() = default;
  int status = 200;
  std::string content_type;
  bool streamed = false;
  std::int64_t stored_at_ms = 0;
  std::uint64_t total_tokens = 0;
  std::string body;

  std::string encode() const;
  // nullopt for anything this gateway did not write.
  static std::optional<StoredEntry> decode(std::string_view bytes);
};

// usage.total_tokens of a Chat Completions answer (the JSON, or the last usage chunk of a
// stream); 0 when absent.
std::uint64_t total_tokens_of(std::string_view body, bool streamed);

// Chat Completions' clean finish: a chunk with a finish_reason, then `data: [DONE]`.
bool chat_stream_finished_cleanly(std::string_view body);

}  // namespace opencode_cache::server::flow
