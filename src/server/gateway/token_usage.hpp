// Token counts of one completion, in the terms of the OpenAI Chat Completions `usage` object:
//   {"prompt_tokens", "completion_tokens", "total_tokens",
//    "prompt_tokens_details": {"cached_tokens"},
//    "completion_tokens_details": {"reasoning_tokens"}}
// The Responses and Anthropic Messages usage objects are read into the same terms.
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

// A Responses `usage`: {"input_tokens", "input_tokens_details": {"cached_tokens"},
// "output_tokens", "output_tokens_details": {"reasoning_tokens"}, "total_tokens"}.
std::optional<TokenUsage> read_responses_usage(const boost::json::value& usage);

// An Anthropic `usage`: {"input_tokens", "cache_creation_input_tokens",
// "cache_read_input_tokens", "output_tokens"}. Anthropic's input_tokens excludes the cached
// parts, so the prompt is the sum of the three input counts and the cached tokens are the
// cache reads; the total is prompt + output (Anthropic reports none).
std::optional<TokenUsage> read_messages_usage(const boost::json::value& usage);

}  // namespace opencode_cache::server::gateway
