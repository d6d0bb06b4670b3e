#include "server/gateway/token_usage.hpp"

#include <boost/json/object.hpp>
#include <cmath>

namespace opencode_cache::server::gateway {

namespace {

std::uint64_t count_of(const boost::json::value* value) {
  if (value == nullptr) return 0;
  switch (value->kind()) {
    case boost::json::kind::uint64: return value->get_uint64();
    case boost::json::kind::int64: return value->get_int64() < 0 ? 0 : value->get_int64();
    case boost::json::kind::double_: {
      const double number = value->get_double();
      if (!(number > 0)) return 0;  // negative, zero or NaN
      if (number >= 1.8e19) return UINT64_MAX;
      return static_cast<std::uint64_t>(number);
    }
    default: return 0;
  }
}

const boost::json::value* member(const boost::json::object& object, std::string_view name,
                                 std::string_view inner) {
  const auto* details = object.if_contains(name);
  if (details == nullptr || !details->is_object()) return nullptr;
  return details->get_object().if_contains(inner);
}

}  // namespace

std::optional<TokenUsage> read_chat_usage(const boost::json::value& usage) {
  const auto* object = usage.if_object();
  if (object == nullptr) return std::nullopt;
  TokenUsage counts;
  counts.prompt_tokens = count_of(object->if_contains("prompt_tokens"));
  counts.completion_tokens = count_of(object->if_contains("completion_tokens"));
  counts.total_tokens = count_of(object->if_contains("total_tokens"));
  counts.cached_tokens = count_of(member(*object, "prompt_tokens_details", "cached_tokens"));
  counts.reasoning_tokens =
      count_of(member(*object, "completion_tokens_details", "reasoning_tokens"));
  return counts;
}

std::optional<TokenUsage> read_responses_usage(const boost::json::value& usage) {
  const auto* object = usage.if_object();
  if (object == nullptr) return std::nullopt;
  TokenUsage counts;
  counts.prompt_tokens = count_of(object->if_contains("input_tokens"));
  counts.completion_tokens = count_of(object->if_contains("output_tokens"));
  counts.total_tokens = count_of(object->if_contains("total_tokens"));
  counts.cached_tokens = count_of(member(*object, "input_tokens_details", "cached_tokens"));
  counts.reasoning_tokens = count_of(member(*object, "output_tokens_details", "reasoning_tokens"));
  return counts;
}

std::optional<TokenUsage> read_messages_usage(const boost::json::value& usage) {
  const auto* object = usage.if_object();
  if (object == nullptr) return std::nullopt;
  TokenUsage counts;
  counts.cached_tokens = count_of(object->if_contains("cache_read_input_tokens"));
  counts.prompt_tokens = count_of(object->if_contains("input_tokens")) + counts.cached_tokens +
                         count_of(object->if_contains("cache_creation_input_tokens"));
  counts.completion_tokens = count_of(object->if_contains("output_tokens"));
  counts.total_tokens = counts.prompt_tokens + counts.completion_tokens;
  return counts;
}

}  // namespace opencode_cache::server::gateway
