#include "demo/canned_completion.hpp"

#include <boost/json.hpp>

namespace opencode_cache::demo {
namespace {

namespace json = boost::json;

constexpr std::string_view kDefaultModel = "opencode-cache-demo";
constexpr std::string_view kCompletionId = "chatcmpl-opencode-cache-demo";
// Fixed, so that two runs of the demo produce the same bytes.
constexpr std::int64_t kCreated = 1767225600;
constexpr std::string_view kAnswer =
    "Hello from the opencode-cache demo upstream. This answer was streamed word by word by a "
    "slow provider and recorded by the gateway on the way through (X-Cache: MISS). Ask exactly "
    "the same again and the gateway replays it from Valkey at once (X-Cache: HIT), byte for "
    "byte, without calling the provider.";

std::vector<std::string_view> words_of(std::string_view text) {
  std::vector<std::string_view> words;
  while (!text.empty()) {
    std::size_t end = text.find(' ', 1);
    if (end == std::string_view::npos) end = text.size();
    words.push_back(text.substr(0, end));
    text.remove_prefix(end);
  }
  return words;
}

// About four characters a token, as providers roughly count; never zero for a non-empty text.
std::size_t tokens_in(std::string_view text) {
  return (text.size() + 3) / 4;
}

std::size_t prompt_tokens_of(const json::array& messages) {
  std::size_t tokens = 0;
  for (const json::value& message : messages) {
    const json::value* content =
        message.is_object() ? message.as_object().if_contains("content") : nullptr;
    if (content != nullptr && content->is_string()) tokens += tokens_in(content->as_string());
  }
  return tokens;
}

json::object usage_of(const CompletionRequest& request) {
  const std::size_t completion = tokens_in(kAnswer);
  return json::object{{"prompt_tokens", request.prompt_tokens},
                      {"completion_tokens", completion},
                      {"total_tokens", request.prompt_tokens + completion}};
}

json::object chunk_of(const CompletionRequest& request, json::array choices) {
  return json::object{{"id", kCompletionId},
                      {"object", "chat.completion.chunk"},
                      {"created", kCreated},
                      {"model", request.model},
                      {"choices", std::move(choices)}};
}

json::object delta_choice(json::object delta, json::value finish_reason) {
  return json::object{
      {"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish_reason)}};
}

std::string event_of(const json::object& chunk) {
  return "data: " + json::serialize(chunk) + "\n\n";
}

bool flag(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr || value->is_null()) return false;
  if (!value->is_bool())
    throw demo_error(400, "invalid_request_error", "'" + std::string(name) + "' must be a boolean");
  return value->as_bool();
}

}  // namespace

DemoError demo_error(unsigned status, std::string_view type, std::string_view message) {
  const json::object error{{"message", message}, {"type", type}, {"code", nullptr}};
  return DemoError{status, json::serialize(json::object{{"error", error}})};
}

CompletionRequest parse_completion_request(std::string_view body) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) {
    throw demo_error(400, "invalid_request_error", "the body must be a JSON object");
  }
  const json::object& object = parsed.as_object();
  const json::value* messages = object.if_contains("messages");
  if (messages == nullptr || !messages->is_array() || messages->as_array().empty()) {
    throw demo_error(400, "invalid_request_error", "'messages' must be a non-empty array");
  }
  CompletionRequest request;
  request.model = std::string(kDefaultModel);
  if (const json::value* model = object.if_contains("model"); model != nullptr) {
    if (!model->is_string() || model->as_string().empty()) {
      throw demo_error(400, "invalid_request_error", "'model' must be a non-empty string");
    }
    request.model = std::string(model->as_string());
  }
  request.stream = flag(object, "stream");
  if (const json::value* options = object.if_contains("stream_options");
      options != nullptr && options->is_object()) {
    request.include_usage = flag(options->as_object(), "include_usage");
  }
  request.prompt_tokens = prompt_tokens_of(messages->as_array());
  return request;
}

std::string completion_json(const CompletionRequest& request) {
  const json::object message{{"role", "assistant"}, {"content", kAnswer}};
  const json::object choice{{"index", 0}, {"message", message}, {"finish_reason", "stop"}};
  return json::serialize(json::object{{"id", kCompletionId},
                                      {"object", "chat.completion"},
                                      {"created", kCreated},
                                      {"model", request.model},
                                      {"choices", json::array{choice}},
                                      {"usage", usage_of(request)}});
}

std::vector<std::string> completion_events(const CompletionRequest& request) {
  std::vector<std::string> events;
  events.push_back(event_of(chunk_of(
      request,
      json::array{delta_choice(json::object{{"role", "assistant"}, {"content", ""}}, nullptr)})));
  for (std::string_view word : words_of(kAnswer)) {
    events.push_back(event_of(
        chunk_of(request, json::array{delta_choice(json::object{{"content", word}}, nullptr)})));
  }
  events.push_back(event_of(chunk_of(request, json::array{delta_choice(json::object{}, "stop")})));
  if (request.include_usage) {
    json::object usage_chunk = chunk_of(request, json::array{});
    usage_chunk["usage"] = usage_of(request);
    events.push_back(event_of(usage_chunk));
  }
  events.push_back("data: [DONE]\n\n");
  return events;
}

std::string models_json() {
  const json::object model{{"id", kDefaultModel},
                           {"object", "model"},
                           {"created", kCreated},
                           {"owned_by", "opencode-cache"}};
  return json::serialize(json::object{{"object", "list"}, {"data", json::array{model}}});
}

}  // namespace opencode_cache::demo
