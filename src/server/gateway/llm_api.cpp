#include "server/gateway/llm_api.hpp"

#include <boost/json/parse.hpp>

#include "server/gateway/chat_completions_convert.hpp"
#include "server/gateway/chat_completions_stream.hpp"
#include "server/gateway/messages_convert.hpp"
#include "server/gateway/messages_stream.hpp"
#include "server/gateway/responses_convert.hpp"
#include "server/gateway/responses_stream.hpp"
#include "server/gateway/sse_parser.hpp"
#include "server/gateway/stream_event_json.hpp"

namespace opencode_cache::server::gateway {

namespace {

template <typename Recorder>
StreamVerdict judge_with(std::vector<SseEvent>& events, bool whole, std::string_view unfinished) {
  Recorder recorder;
  for (auto& event : events) recorder.observe(std::move(event));
  StreamVerdict verdict;
  verdict.usage = recorder.usage();
  if (recorder.failed()) {
    verdict.why_not = recorder.failure();
  } else if (!whole || !recorder.clean()) {
    verdict.why_not = unfinished;
  } else if (recorder.over_cap()) {
    verdict.why_not = "stream larger than the recording limit";
  } else {
    verdict.storable = true;
    verdict.events = recorder.take_events();
  }
  return verdict;
}

}  // namespace

StreamVerdict judge_stream(LlmApi api, std::string_view bytes) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(bytes, events);
  const bool whole = parser.finish(events);
  switch (api) {
    case LlmApi::chat_completions:
      return judge_with<ChatCompletionsRecorder>(events, whole,
                                                 "stream ended without a finish_reason and [DONE]");
    case LlmApi::responses:
      return judge_with<ResponsesRecorder>(events, whole,
                                           "stream ended without response.completed");
    case LlmApi::messages:
      return judge_with<MessagesRecorder>(events, whole,
                                          "stream ended without message_start and message_stop");
    case LlmApi::other: break;
  }
  StreamVerdict verdict;
  verdict.why_not = "event stream of an API without a clean-finish rule";
  return verdict;
}

std::string json_not_storable(LlmApi api, std::string_view body) {
  if (api != LlmApi::responses && api != LlmApi::messages) return {};
  boost::system::error_code ec;
  const auto value = boost::json::parse(body, ec);
  const auto* object = ec ? nullptr : value.if_object();
  if (object == nullptr) return "answer is not a JSON object";
  if (api == LlmApi::responses) {
    const auto status = string_member(*object, "status");
    if (status != "completed") return "response status " + std::string(status);
    return {};
  }
  if (string_member(*object, "type") != "message") return "answer is not a message";
  return {};
}

std::optional<TokenUsage> json_usage(LlmApi api, std::string_view body) {
  boost::system::error_code ec;
  const auto value = boost::json::parse(body, ec);
  const auto* object = ec ? nullptr : value.if_object();
  const auto* usage = object != nullptr ? object->if_contains("usage") : nullptr;
  if (usage == nullptr) return std::nullopt;
  switch (api) {
    case LlmApi::responses: return read_responses_usage(*usage);
    case LlmApi::messages: return read_messages_usage(*usage);
    default: return read_chat_usage(*usage);
  }
}

AssembledCompletion assemble(LlmApi api, std::string_view stream) {
  switch (api) {
    case LlmApi::chat_completions: return assemble_chat_completion(stream);
    case LlmApi::responses: return assemble_response(stream);
    case LlmApi::messages: return assemble_message(stream);
    case LlmApi::other: break;
  }
  AssembledCompletion result;
  result.error = "this API has no stream to assemble";
  return result;
}

SynthesisedStream synthesise(LlmApi api, std::string_view body) {
  switch (api) {
    case LlmApi::chat_completions: return synthesise_chat_stream(body);
    case LlmApi::responses: return synthesise_responses_stream(body);
    case LlmApi::messages: return synthesise_messages_stream(body);
    case LlmApi::other: break;
  }
  SynthesisedStream result;
  result.error = "this API has no stream to synthesise";
  return result;
}

std::string_view heartbeat(LlmApi api) {
  if (api == LlmApi::messages) return "event: ping\ndata: {\"type\": \"ping\"}\n\n";
  return ": keep-alive\n\n";
}

}  // namespace opencode_cache::server::gateway
