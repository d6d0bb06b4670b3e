#include "server/gateway/messages_stream.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <utility>

#include "server/gateway/stream_event_json.hpp"

namespace opencode_cache::server::gateway {

void MessagesRecorder::observe(SseEvent event) {
  if (!stopped_ && !failed()) {
    if (event.has_data()) {
      inspect_data(event);
    } else if (event.event == "error") {
      failure_ = "upstream error event in stream";
    }
  }
  recording_.add(std::move(event.raw));
}

std::optional<TokenUsage> MessagesRecorder::usage() const {
  if (!has_usage_) return std::nullopt;
  return read_messages_usage(usage_);
}

void MessagesRecorder::merge_usage(const boost::json::value* usage) {
  if (usage == nullptr || !usage->is_object()) return;
  has_usage_ = true;
  for (const auto& member : usage->get_object()) usage_[member.key()] = member.value();
}

void MessagesRecorder::inspect_data(const SseEvent& event) {
  unsigned char buffer[4096];
  boost::json::monotonic_resource memory(buffer, sizeof buffer);
  boost::system::error_code ec;
  const auto payload = boost::json::parse(event.data, ec, &memory);
  if (ec || !payload.is_object()) {
    failure_ = "malformed event in stream: not a JSON object";
    return;
  }
  const auto& object = payload.get_object();
  const auto type = event_type(object, event);
  if (type == "message_start") {
    started_ = true;
    const auto* message = object.if_contains("message");
    if (message != nullptr && message->is_object()) {
      merge_usage(message->get_object().if_contains("usage"));
    }
  } else if (type == "message_delta") {
    const auto* delta = object.if_contains("delta");
    if (delta != nullptr && delta->is_object()) {
      if (const auto reason = string_member(delta->get_object(), "stop_reason"); !reason.empty()) {
        stop_reason_.assign(reason);
      }
    }
    merge_usage(object.if_contains("usage"));
  } else if (type == "message_stop") {
    stopped_ = true;
  } else if (type == "error") {
    failure_ = "upstream error in stream: " + error_message(payload);
  }
}

}  // namespace opencode_cache::server::gateway
