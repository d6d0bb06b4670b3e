// Token counts of one completion, as the OpenAI Chat Completions `usage` object reports them:
//   {"prompt_tokens", "completion_tokens", "total_tokens",
//    "prompt_tokens_details": {"cached_tokens"},
//    "completion_tokens_details": {"reasoning_tokens"}}
// Kept with a stored entry for metrics (tokens saved by a hit) and for the replay's usage.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>

namespace opencode_cache::server::gateway {

struct TokenUsage {
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  std::uint64_t total_tokens = 0;
  std::uint64_t cached_tokens = 0;     // prompt_tokens_details.cached_tokens
  std::uint64_t reasoning_tokens = 0;  // completion_tokens_details.reasoning_tokens

  friend bool operator==(const TokenUsage&, const TokenUsage&) = default;
};

// The counts of a `usage` object; std::nullopt when `usage` is not an object. Missing or
// non-numeric counts read as 0; negative or fractional ones are clamped to whole tokens >= 0.
std::optional<TokenUsage> read_chat_usage(const boost::json::value& usage);

}  // namespace opencode_cache::server::gateway
