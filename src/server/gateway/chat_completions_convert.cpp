#include "server/gateway/chat_completions_convert.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <optional>

#include "server/gateway/sse_parser.hpp"

namespace opencode_cache::server::gateway {

namespace {

namespace json = boost::json;

// --- assembly -------------------------------------------------------------------------

struct ToolCallParts {
  json::value id;  // null until a delta carries it
  std::string type = "function";
  std::string name;
  std::string arguments;
};

struct ChoiceParts {
  std::string role = "assistant";
  std::optional<std::string> content;
  std::optional<std::string> reasoning_content;
  std::optional<std::string> reasoning;
  std::optional<std::string> refusal;
  std::map<std::int64_t, ToolCallParts> tool_calls;  // by the delta's index
  json::value finish_reason;                         // null until a chunk carries one
};

struct CompletionParts {
  json::value id;
  json::value created;
  json::value model;
  json::value system_fingerprint;
  json::value service_tier;
  std::map<std::int64_t, ChoiceParts> choices;  // by index
  json::value usage;
};

void take_first(json::value& slot, const json::object& chunk, std::string_view name) {
  if (!slot.is_null()) return;
  if (const auto* field = chunk.if_contains(name); field && !field->is_null()) slot = *field;
}

void append_text(std::optional<std::string>& slot, const json::object& delta,
                 std::string_view name) {
  const auto* field = delta.if_contains(name);
  if (field == nullptr || !field->is_string()) return;
  if (!slot) slot.emplace();
  slot->append(field->get_string());
}

std::int64_t index_of(const json::object& object) {
  const auto* index = object.if_contains("index");
  if (index != nullptr && index->is_int64()) return index->get_int64();
  if (index != nullptr && index->is_uint64()) return static_cast<std::int64_t>(index->get_uint64());
  return 0;
}

void add_tool_call_delta(ChoiceParts& choice, const json::object& delta) {
  auto& call = choice.tool_calls[index_of(delta)];
  if (const auto* id = delta.if_contains("id"); id && id->is_string()) call.id = *id;
  if (const auto* type = delta.if_contains("type"); type && type->is_string()) {
    call.type.assign(type->get_string());
  }
  const auto* function = delta.if_contains("function");
  if (function == nullptr || !function->is_object()) return;
  const auto& fields = function->get_object();
  if (const auto* name = fields.if_contains("name"); name && name->is_string()) {
    call.name.append(name->get_string());
  }
  if (const auto* arguments = fields.if_contains("arguments");
      arguments && arguments->is_string()) {
    call.arguments.append(arguments->get_string());
  }
}

void add_choice_delta(CompletionParts& parts, const json::object& choice_chunk) {
  auto& choice = parts.choices[index_of(choice_chunk)];
  if (const auto* reason = choice_chunk.if_contains("finish_reason");
      reason && !reason->is_null()) {
    choice.finish_reason = *reason;
  }
  const auto* delta_value = choice_chunk.if_contains("delta");
  if (delta_value == nullptr || !delta_value->is_object()) return;
  const auto& delta = delta_value->get_object();
  if (const auto* role = delta.if_contains("role"); role && role->is_string()) {
    choice.role.assign(role->get_string());
  }
  append_text(choice.content, delta, "content");
  append_text(choice.reasoning_content, delta, "reasoning_content");
  append_text(choice.reasoning, delta, "reasoning");
  append_text(choice.refusal, delta, "refusal");
  if (const auto* calls = delta.if_contains("tool_calls"); calls && calls->is_array()) {
    for (const auto& call : calls->get_array()) {
      if (call.is_object()) add_tool_call_delta(choice, call.get_object());
    }
  }
}

json::value text_or_null(const std::optional<std::string>& text) {
  return text ? json::value(*text) : json::value(nullptr);
}

json::object message_of(const ChoiceParts& choice) {
  json::object message;
  message["role"] = choice.role;
  message["content"] = text_or_null(choice.content);
  if (choice.reasoning_content) message["reasoning_content"] = *choice.reasoning_content;
  if (choice.reasoning) message["reasoning"] = *choice.reasoning;
  if (choice.refusal) message["refusal"] = *choice.refusal;
  if (!choice.tool_calls.empty()) {
    json::array calls;
    for (const auto& [index, call] : choice.tool_calls) {
      json::object function;
      function["name"] = call.name;
      function["arguments"] = call.arguments;
      json::object entry;
      entry["id"] = call.id;
      entry["type"] = call.type;
      entry["function"] = std::move(function);
      calls.push_back(std::move(entry));
    }
    message["tool_calls"] = std::move(calls);
  }
  return message;
}

std::string completion_json(const CompletionParts& parts) {
  json::object completion;
  completion["id"] = parts.id;
  completion["object"] = "chat.completion";
  completion["created"] = parts.created.is_null() ? json::value(0) : parts.created;
  completion["model"] = parts.model;
  if (!parts.system_fingerprint.is_null())
    completion["system_fingerprint"] = parts.system_fingerprint;
  if (!parts.service_tier.is_null()) completion["service_tier"] = parts.service_tier;
  json::array choices;
  for (const auto& [index, choice] : parts.choices) {
    json::object entry;
    entry["index"] = index;
    entry["message"] = message_of(choice);
    entry["logprobs"] = nullptr;
    entry["finish_reason"] = choice.finish_reason;
    choices.push_back(std::move(entry));
  }
  completion["choices"] = std::move(choices);
  if (!parts.usage.is_null()) completion["usage"] = parts.usage;
  return json::serialize(completion);
}

// --- synthesis ------------------------------------------------------------------------

class ChunkWriter {
 public:
  explicit ChunkWriter(const json::object& completion) {
    base_["id"] = field_or(completion, "id", json::value(""));
    base_["object"] = "chat.completion.chunk";
    auto created = field_or(completion, "created", json::value(0));
    base_["created"] = created.is_number() ? created : json::value(0);
    base_["model"] = field_or(completion, "model", json::value(""));
    if (const auto* fingerprint = completion.if_contains("system_fingerprint")) {
      base_["system_fingerprint"] = *fingerprint;
    }
  }

  void choice_chunk(std::int64_t index, json::object delta, json::value finish_reason) {
    json::object choice;
    choice["index"] = index;
    choice["delta"] = std::move(delta);
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = std::move(finish_reason);
    json::array choices;
    choices.push_back(std::move(choice));
    auto chunk = base_;
    chunk["choices"] = std::move(choices);
    emit(chunk);
  }

  void usage_chunk(const json::value& usage) {
    auto chunk = base_;
    chunk["choices"] = json::array();
    chunk["usage"] = usage;
    emit(chunk);
  }

  void done() { events_.emplace_back("data: [DONE]\n\n"); }
  std::vector<std::string> take() { return std::move(events_); }

 private:
  static json::value field_or(const json::object& object, std::string_view name,
                              json::value fallback) {
    const auto* field = object.if_contains(name);
    return field != nullptr && !field->is_null() ? *field : fallback;
  }

  void emit(const json::object& chunk) {
    std::string event = "data: ";
    event += json::serialize(chunk);
    event += "\n\n";
    events_.push_back(std::move(event));
  }

  json::object base_;
  std::vector<std::string> events_;
};

bool non_empty_string(const json::value* value) {
  return value != nullptr && value->is_string() && !value->get_string().empty();
}

// The chunks of one choice; false (with `error`) when its message cannot be streamed.
bool synthesise_choice(ChunkWriter& writer, const json::object& choice, std::string& error) {
  const auto index = index_of(choice);
  const auto* message_value = choice.if_contains("message");
  if (message_value == nullptr || !message_value->is_object()) {
    error = "choice without a message";
    return false;
  }
  const auto& message = message_value->get_object();
  json::object role;
  role["role"] = "assistant";
  role["content"] = "";
  writer.choice_chunk(index, std::move(role), nullptr);
  for (const std::string_view name : {"reasoning_content", "reasoning"}) {
    if (const auto* text = message.if_contains(name); non_empty_string(text)) {
      json::object delta;
      delta[name] = *text;
      writer.choice_chunk(index, std::move(delta), nullptr);
    }
  }
  const auto* content = message.if_contains("content");
  if (content != nullptr && !content->is_null() && !content->is_string()) {
    error = "message content that is not a string";
    return false;
  }
  if (non_empty_string(content)) {
    json::object delta;
    delta["content"] = *content;
    writer.choice_chunk(index, std::move(delta), nullptr);
  }
  if (const auto* refusal = message.if_contains("refusal"); non_empty_string(refusal)) {
    json::object delta;
    delta["refusal"] = *refusal;
    writer.choice_chunk(index, std::move(delta), nullptr);
  }
  if (const auto* calls = message.if_contains("tool_calls"); calls && calls->is_array()) {
    std::int64_t call_index = 0;
    for (const auto& call_value : calls->get_array()) {
      const auto* call = call_value.if_object();
      const auto* function = call ? call->if_contains("function") : nullptr;
      if (function == nullptr || !function->is_object()) {
        error = "tool call without a function";
        return false;
      }
      const auto& fields = function->get_object();
      const auto* name = fields.if_contains("name");
      const auto* arguments = fields.if_contains("arguments");
      const auto* id = call->if_contains("id");
      json::object function_delta;
      function_delta["name"] = name != nullptr && name->is_string() ? *name : json::value("");
      function_delta["arguments"] =
          arguments != nullptr && arguments->is_string() ? *arguments : json::value("");
      json::object call_delta;
      call_delta["index"] = call_index++;
      call_delta["id"] = id != nullptr && id->is_string() ? *id : json::value("");
      call_delta["type"] = "function";
      call_delta["function"] = std::move(function_delta);
      json::array deltas;
      deltas.push_back(std::move(call_delta));
      json::object delta;
      delta["tool_calls"] = std::move(deltas);
      writer.choice_chunk(index, std::move(delta), nullptr);
    }
  }
  const auto* reason = choice.if_contains("finish_reason");
  writer.choice_chunk(index, json::object(),
                      reason != nullptr && reason->is_string() ? *reason : json::value("stop"));
  return true;
}

}  // namespace

AssembledCompletion assemble_chat_completion(std::string_view stream) {
  AssembledCompletion result;
  SseParser parser({.max_event_bytes = stream.size() + 1});
  std::vector<SseEvent> events;
  parser.feed(stream, events);
  parser.finish(events);
  CompletionParts parts;
  std::size_t chunks = 0;
  for (const auto& event : events) {
    if (!event.has_data()) continue;
    if (event.data == "[DONE]") break;
    boost::system::error_code ec;
    const auto chunk = json::parse(event.data, ec);
    if (ec || !chunk.is_object()) {
      result.error = "stream chunk is not a JSON object";
      return result;
    }
    const auto& object = chunk.get_object();
    if (const auto* error = object.if_contains("error"); error && !error->is_null()) {
      result.error = "stream carries an upstream error";
      return result;
    }
    ++chunks;
    take_first(parts.id, object, "id");
    take_first(parts.created, object, "created");
    take_first(parts.model, object, "model");
    take_first(parts.system_fingerprint, object, "system_fingerprint");
    take_first(parts.service_tier, object, "service_tier");
    if (const auto* usage = object.if_contains("usage"); usage && usage->is_object()) {
      parts.usage = *usage;
    }
    if (const auto* choices = object.if_contains("choices"); choices && choices->is_array()) {
      for (const auto& choice : choices->get_array()) {
        if (choice.is_object()) add_choice_delta(parts, choice.get_object());
      }
    }
  }
  if (chunks == 0) {
    result.error = "stream has no chunks";
    return result;
  }
  result.body = completion_json(parts);
  return result;
}

SynthesisedStream synthesise_chat_stream(std::string_view completion) {
  SynthesisedStream result;
  boost::system::error_code ec;
  const auto value = json::parse(completion, ec);
  if (ec || !value.is_object()) {
    result.error = "completion is not a JSON object";
    return result;
  }
  const auto& object = value.get_object();
  const auto* choices = object.if_contains("choices");
  if (choices == nullptr || !choices->is_array()) {
    result.error = "completion without choices";
    return result;
  }
  ChunkWriter writer(object);
  for (const auto& choice : choices->get_array()) {
    if (!choice.is_object()) {
      result.error = "choice that is not an object";
      return result;
    }
    if (!synthesise_choice(writer, choice.get_object(), result.error)) return result;
  }
  if (const auto* usage = object.if_contains("usage"); usage && usage->is_object()) {
    writer.usage_chunk(*usage);
  }
  writer.done();
  result.events = writer.take();
  return result;
}

}  // namespace opencode_cache::server::gateway
