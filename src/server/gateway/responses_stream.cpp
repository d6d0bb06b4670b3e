#include "server/gateway/responses_stream.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <utility>

#include "server/gateway/stream_event_json.hpp"

namespace opencode_cache::server::gateway {

namespace {

std::string incomplete_reason(const boost::json::object& response) {
  const auto* details = response.if_contains("incomplete_details");
  if (details != nullptr && details->is_object()) {
    if (const auto reason = string_member(details->get_object(), "reason"); !reason.empty()) {
      return std::string(reason);
    }
  }
  return "(no reason)";
}

}  // namespace

void ResponsesRecorder::observe(SseEvent event) {
  if (!completed_ && !failed()) {
    if (event.has_data()) {
      inspect_data(event);
    } else if (event.event == "error") {
      failure_ = "upstream error event in stream";
    }
  }
  recording_.add(std::move(event.raw));
}

void ResponsesRecorder::inspect_data(const SseEvent& event) {
  if (event.data == "[DONE]") return;
  // Most events are small; response.completed repeats the whole answer and may spill over.
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
  const auto* response_value = object.if_contains("response");
  const auto* response = response_value != nullptr ? response_value->if_object() : nullptr;
  if (type == "response.completed") {
    completed_ = true;
    if (response != nullptr) {
      if (const auto* usage = response->if_contains("usage")) usage_ = read_responses_usage(*usage);
    }
  } else if (type == "response.failed") {
    const auto* error = response != nullptr ? response->if_contains("error") : nullptr;
    failure_ = "response failed: " + (error != nullptr ? error_message(*error) : "(no message)");
  } else if (type == "response.incomplete") {
    failure_ = "response incomplete: " +
               (response != nullptr ? incomplete_reason(*response) : std::string("(no reason)"));
  } else if (type == "error") {
    failure_ = "upstream error in stream: " + error_message(payload);
  }
}

}  // namespace opencode_cache::server::gateway
