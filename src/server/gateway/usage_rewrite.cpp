#include "server/gateway/usage_rewrite.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <vector>

#include "server/gateway/sse_parser.hpp"

namespace opencode_cache::server::gateway {

namespace {

namespace json = boost::json;

void zero_counts(json::object& counts) {
  for (auto& member : counts) {
    if (member.value().is_number()) {
      member.value() = 0;
    } else if (member.value().is_object()) {
      zero_counts(member.value().get_object());
    }
  }
}

json::object* object_member(json::object& object, std::string_view name) {
  auto* member = object.if_contains(name);
  return member != nullptr ? member->if_object() : nullptr;
}

// The usage object of a document of `api`: at the top (bodies, chat chunks, message_delta),
// inside `response` (Responses events) or inside `message` (message_start).
json::object* usage_of(LlmApi api, json::value& document) {
  auto* object = document.if_object();
  if (object == nullptr) return nullptr;
  if (auto* usage = object_member(*object, "usage")) return usage;
  const std::string_view holder = api == LlmApi::responses  ? "response"
                                  : api == LlmApi::messages ? "message"
                                                            : "";
  if (holder.empty()) return nullptr;
  auto* inner = object_member(*object, holder);
  return inner != nullptr ? object_member(*inner, "usage") : nullptr;
}

std::uint64_t count(const json::object& usage, std::string_view name) {
  const auto* value = usage.if_contains(name);
  if (value == nullptr) return 0;
  if (value->is_uint64()) return value->get_uint64();
  if (value->is_int64() && value->get_int64() > 0) return value->get_int64();
  return 0;
}

// Reports `total_name` (or 0) as `cached_name` inside `details_name`.
bool cache_all_openai(json::object& usage, std::string_view total_name,
                      std::string_view details_name) {
  const auto* total = usage.if_contains(total_name);
  const json::value prompt = total != nullptr && total->is_number() ? *total : json::value(0);
  auto& details = usage[details_name];
  if (!details.is_object()) details = json::object();
  details.get_object()["cached_tokens"] = prompt;
  return true;
}

bool cache_all_anthropic(json::object& usage) {
  // message_delta often has only output_tokens: nothing to move, the event stays verbatim.
  if (!usage.contains("input_tokens")) return false;
  const std::uint64_t prompt = count(usage, "input_tokens") +
                               count(usage, "cache_read_input_tokens") +
                               count(usage, "cache_creation_input_tokens");
  usage["input_tokens"] = 0;
  if (usage.contains("cache_creation_input_tokens")) usage["cache_creation_input_tokens"] = 0;
  usage["cache_read_input_tokens"] = prompt;
  return true;
}

// Rewrites the usage of `document`; false when there is none the mode changes.
bool rewrite_usage(LlmApi api, json::value& document, ReplayUsage mode) {
  auto* usage = usage_of(api, document);
  if (usage == nullptr) return false;
  if (mode == ReplayUsage::zero) {
    zero_counts(*usage);
    return true;
  }
  switch (api) {
    case LlmApi::responses: return cache_all_openai(*usage, "input_tokens", "input_tokens_details");
    case LlmApi::messages: return cache_all_anthropic(*usage);
    default: return cache_all_openai(*usage, "prompt_tokens", "prompt_tokens_details");
  }
}

bool may_hold_usage(std::string_view text) {
  return text.find("\"usage\"") != std::string_view::npos;
}

}  // namespace

std::optional<ReplayUsage> parse_replay_usage(std::string_view text) {
  if (text == "original") return ReplayUsage::original;
  if (text == "cached") return ReplayUsage::cached;
  if (text == "zero") return ReplayUsage::zero;
  return std::nullopt;
}

bool rewrite_event_usage(LlmApi api, std::string_view event, ReplayUsage mode, std::string& out) {
  // Most events have no usage: decided without parsing.
  if (mode == ReplayUsage::original || !may_hold_usage(event)) return false;
  SseParser parser({.max_event_bytes = event.size() + 1});
  std::vector<SseEvent> events;
  parser.feed(event, events);
  parser.finish(events);
  if (events.size() != 1 || !events.front().has_data()) return false;
  boost::system::error_code ec;
  auto payload = json::parse(events.front().data, ec);
  if (ec || !rewrite_usage(api, payload, mode)) return false;
  out.clear();
  if (!events.front().event.empty()) {
    out += "event: ";
    out += events.front().event;
    out += '\n';
  }
  out += "data: ";
  out += json::serialize(payload);
  out += "\n\n";
  return true;
}

bool rewrite_body_usage(LlmApi api, std::string_view body, ReplayUsage mode, std::string& out) {
  if (mode == ReplayUsage::original || !may_hold_usage(body)) return false;
  boost::system::error_code ec;
  auto document = json::parse(body, ec);
  auto* object = ec ? nullptr : document.if_object();
  auto* usage = object != nullptr ? object_member(*object, "usage") : nullptr;
  // A body's usage is at its top in every API.
  if (usage == nullptr || !rewrite_usage(api, document, mode)) return false;
  out = json::serialize(document);
  return true;
}

}  // namespace opencode_cache::server::gateway
