// The usage a replayed answer reports, a documented choice (gateway-notes.md: opencode prices
// the usage it is shown and compacts by it):
//   original  the recorded counts, unchanged: the bytes stay the upstream's;
//   cached    the recorded counts with the whole prompt reported as read from the provider's
//             prompt cache, so the AI SDK prices it at the cache-read rate while compaction
//             still sees the real context size:
//               Chat Completions  prompt_tokens_details.cached_tokens = prompt_tokens
//               Responses         input_tokens_details.cached_tokens = input_tokens
//               Messages          cache_read_input_tokens = input_tokens +
//                                 cache_creation_input_tokens + cache_read_input_tokens, the
//                                 other two 0 (Anthropic's input_tokens exclude cached tokens)
//   zero      every count 0: the replay cost nothing (and compaction sees no context).
// Only an event (or body) holding a usage object changes: Chat Completions' usage chunk,
// Responses' `response.completed` (usage inside `response`), Anthropic's message_start
// (inside `message`) and message_delta. Its data is re-serialised as compact JSON behind its
// `event:` line, so that one event is no longer byte-identical to the recording; everything
// else stays verbatim.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "server/gateway/llm_api.hpp"

namespace opencode_cache::server::gateway {

enum class ReplayUsage { original, cached, zero };

// "original", "cached", "zero"; std::nullopt otherwise.
std::optional<ReplayUsage> parse_replay_usage(std::string_view text);

// For one recorded SSE event of `api`: when `mode` changes its usage, writes the rewritten
// event (`event: <name>\n` when it had one, `data: <payload>\n\n`) to `out` and returns true;
// returns false when the event is to be replayed as it is (original mode, no usage object,
// nothing the mode changes, not a JSON payload).
bool rewrite_event_usage(LlmApi api, std::string_view event, ReplayUsage mode, std::string& out);

// The same for a non-streamed JSON body of `api`.
bool rewrite_body_usage(LlmApi api, std::string_view body, ReplayUsage mode, std::string& out);

}  // namespace opencode_cache::server::gateway
