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

// Rewrites the `usage` member of `document`; false when there is none to change.
bool rewrite_usage_member(json::value& document, ReplayUsage mode) {
  auto* object = document.if_object();
  if (object == nullptr) return false;
  auto* usage_value = object->if_contains("usage");
  if (usage_value == nullptr || !usage_value->is_object()) return false;
  auto& usage = usage_value->get_object();
  if (mode == ReplayUsage::zero) {
    zero_counts(usage);
    return true;
  }
  const auto* prompt = usage.if_contains("prompt_tokens");
  const json::value prompt_tokens =
      prompt != nullptr && prompt->is_number() ? *prompt : json::value(0);
  auto& details = usage["prompt_tokens_details"];
  if (!details.is_object()) details = json::object();
  details.get_object()["cached_tokens"] = prompt_tokens;
  return true;
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

bool rewrite_chunk_usage(std::string_view event, ReplayUsage mode, std::string& out) {
  // Most events have no usage: decided without parsing.
  if (mode == ReplayUsage::original || !may_hold_usage(event)) return false;
  SseParser parser({.max_event_bytes = event.size() + 1});
  std::vector<SseEvent> events;
  parser.feed(event, events);
  parser.finish(events);
  if (events.size() != 1 || !events.front().has_data()) return false;
  boost::system::error_code ec;
  auto chunk = json::parse(events.front().data, ec);
  if (ec || !rewrite_usage_member(chunk, mode)) return false;
  out = "data: ";
  out += json::serialize(chunk);
  out += "\n\n";
  return true;
}

bool rewrite_completion_usage(std::string_view body, ReplayUsage mode, std::string& out) {
  if (mode == ReplayUsage::original || !may_hold_usage(body)) return false;
  boost::system::error_code ec;
  auto completion = json::parse(body, ec);
  if (ec || !rewrite_usage_member(completion, mode)) return false;
  out = json::serialize(completion);
  return true;
}

}  // namespace opencode_cache::server::gateway
