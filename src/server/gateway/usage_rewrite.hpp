// The usage a replayed Chat Completions answer reports, a documented choice
// (gateway-notes.md: opencode prices the usage it is shown and compacts by it):
//   original  the recorded counts, unchanged: the bytes stay the upstream's;
//   cached    the recorded counts with prompt_tokens_details.cached_tokens = prompt_tokens,
//             so the AI SDK (which reads cached_tokens as cache-read tokens) prices the prompt
//             as a cache read while compaction still sees the real context size;
//   zero      every count 0: the replay cost nothing (and compaction sees no context).
// Only the event (or body) holding a `usage` object changes; it is re-serialised as compact
// JSON, so it is no longer byte-identical to the recording. Everything else stays verbatim.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace opencode_cache::server::gateway {

enum class ReplayUsage { original, cached, zero };

// "original", "cached", "zero"; std::nullopt otherwise.
std::optional<ReplayUsage> parse_replay_usage(std::string_view text);

// For one recorded SSE event: when `mode` changes its usage, writes the rewritten event
// (`data: <chunk>\n\n`) to `out` and returns true; returns false when the event is to be
// replayed as it is (original mode, no usage object, not a JSON chunk).
bool rewrite_chunk_usage(std::string_view event, ReplayUsage mode, std::string& out);

// The same for a non-streamed chat.completion body.
bool rewrite_completion_usage(std::string_view body, ReplayUsage mode, std::string& out);

}  // namespace opencode_cache::server::gateway
