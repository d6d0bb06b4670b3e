// Between a finished flight and a stored entry (gateway/stored_response.hpp), and between a
// stored entry and what a hit sends: verbatim, converted (stream <-> JSON), and with the
// configured replay usage.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/flow/flight.hpp"
#include "server/gateway/llm_api.hpp"
#include "server/gateway/usage_rewrite.hpp"
#include "server/http/exchange.hpp"

namespace opencode_cache::server::flow {

struct Recording {
  Recording() = default;
  std::optional<std::string> entry;  // the encoded entry; nullopt: not to be stored
  std::string why_not;               // when not: "status 500", "stream ended without [DONE]"...
};

// The entry for a finished flight of `api`: an event stream is stored only when its API's
// recorder finds it complete (llm_api.hpp; other APIs' streams never are), a JSON answer
// unless its API marks it unfinished.
Recording record(const Flight& flight, gateway::LlmApi api, std::int64_t now_ms);

struct Replay {
  Replay() = default;
  int status = 200;
  http::Headers headers;  // content-type, age, the kept upstream headers, x-cache-converted
  bool stream = false;    // send as a chunked event stream
  std::string body;
  std::uint64_t tokens = 0;  // the entry's total_tokens, for the tokens-saved figure
  std::int64_t stored_at_ms = 0;
};

// The answer a stored entry gives a request that wants `stream` (converted when the entry has
// the other shape and `api` streams), or nullopt when the value is not an entry or cannot
// answer.
std::optional<Replay> replay_of(std::string_view stored, bool stream, gateway::LlmApi api,
                                gateway::ReplayUsage usage, std::int64_t now_ms);

// The events of a stream synthesised from a JSON answer of `api`; nullopt if it is not one.
std::optional<std::string> stream_from_completion(gateway::LlmApi api, std::string_view completion,
                                                  gateway::ReplayUsage usage);
// The JSON answer assembled from a recorded stream of `api`; nullopt if it cannot be.
std::optional<std::string> completion_from_stream(gateway::LlmApi api, std::string_view stream,
                                                  gateway::ReplayUsage usage);

inline constexpr std::string_view converted_header = "x-cache-converted";

}  // namespace opencode_cache::server::flow
