// Which model API an answer belongs to, and the rules that differ between them: when a
// recorded stream or a JSON answer may be stored, what usage it reports, how it converts to
// the other shape, and the heartbeat a waiting streaming client of that API tolerates.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/gateway/conversion.hpp"
#include "server/gateway/token_usage.hpp"

namespace opencode_cache::server::gateway {

enum class LlmApi {
  other,             // embeddings, models: JSON only, no stream rules, no conversion
  chat_completions,  // OpenAI Chat Completions
  responses,         // OpenAI Responses
  messages,          // Anthropic Messages
};

// The APIs that stream, and whose answers convert between a stream and a JSON body.
constexpr bool streams(LlmApi api) {
  return api != LlmApi::other;
}

// A recorded stream judged by its API's recorder (chat_completions_stream.hpp,
// responses_stream.hpp, messages_stream.hpp).
struct StreamVerdict {
  bool storable = false;
  std::string why_not;              // when not storable
  std::optional<TokenUsage> usage;  // the usage the stream reported
  std::vector<std::string> events;  // the events' raw bytes, when storable
};

// `bytes` is the whole stream as received; a stream ending inside an event is truncated.
// For LlmApi::other no stream is storable.
StreamVerdict judge_stream(LlmApi api, std::string_view bytes);

// Why a status-200 JSON answer must not be stored (empty: it may be): a Responses answer whose
// status is not "completed" (failed, incomplete, still in progress), a Messages body that is
// not a message. Others are always stored, as the other APIs have no such state.
std::string json_not_storable(LlmApi api, std::string_view body);

// The usage of a JSON answer in its API's terms (token_usage.hpp).
std::optional<TokenUsage> json_usage(LlmApi api, std::string_view body);

// The JSON body assembled from a recorded stream, and the stream synthesised from a JSON body
// (chat_completions_convert.hpp, responses_convert.hpp, messages_convert.hpp).
AssembledCompletion assemble(LlmApi api, std::string_view stream);
SynthesisedStream synthesise(LlmApi api, std::string_view body);

// What a streaming client waiting for its first event is sent now and then: an SSE comment,
// or for Anthropic, whose SDKs accept only known events, `event: ping` (a known one).
std::string_view heartbeat(LlmApi api);

}  // namespace opencode_cache::server::gateway
