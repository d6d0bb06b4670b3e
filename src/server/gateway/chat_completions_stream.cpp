#include "server/gateway/chat_completions_stream.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <utility>

namespace opencode_cache::server::gateway {

namespace {

std::string error_message_of(const boost::json::value& error) {
  if (const auto* object = error.if_object()) {
    if (const auto* message = object->if_contains("message"); message && message->is_string()) {
      return std::string(message->get_string());
    }
  }
  if (error.is_string()) return std::string(error.get_string());
  return "(no message)";
}

}  // namespace

void ChatCompletionsRecorder::observe(SseEvent event) {
  if (!done_seen_ && !failed()) {
    if (event.event == "error") {
      failure_ = "upstream error event in stream";
    } else if (event.has_data()) {
      inspect_data(event);
    }
  }
  recording_.add(std::move(event.raw));
}

void ChatCompletionsRecorder::inspect_data(const SseEvent& event) {
  if (event.data == "[DONE]") {
    done_seen_ = true;
    done_after_finish_ = !finish_reason_.empty();
    return;
  }
  // A chunk is a few hundred bytes: parsed into a stack buffer, no allocation.
  unsigned char buffer[4096];
  boost::json::monotonic_resource memory(buffer, sizeof buffer);
  boost::system::error_code ec;
  const auto chunk = boost::json::parse(event.data, ec, &memory);
  if (ec || !chunk.is_object()) {
    failure_ = "malformed chunk in stream: not a JSON object";
    return;
  }
  const auto& object = chunk.get_object();
  if (const auto* error = object.if_contains("error"); error && !error->is_null()) {
    failure_ = "upstream error in stream: " + error_message_of(*error);
    return;
  }
  if (const auto* choices = object.if_contains("choices"); choices && choices->is_array()) {
    for (const auto& choice : choices->get_array()) {
      const auto* fields = choice.if_object();
      if (fields == nullptr) continue;
      const auto* reason = fields->if_contains("finish_reason");
      if (reason != nullptr && reason->is_string()) finish_reason_.assign(reason->get_string());
    }
  }
  if (const auto* usage = object.if_contains("usage"); usage && usage->is_object()) {
    usage_ = read_chat_usage(*usage);
  }
}

}  // namespace opencode_cache::server::gateway
