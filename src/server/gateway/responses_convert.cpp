#include "server/gateway/responses_convert.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <map>

#include "server/gateway/sse_parser.hpp"
#include "server/gateway/stream_event_json.hpp"

namespace opencode_cache::server::gateway {

namespace {

namespace json = boost::json;

std::int64_t index_member(const json::object& object, std::string_view name) {
  const auto* index = object.if_contains(name);
  if (index != nullptr && index->is_int64()) return index->get_int64();
  if (index != nullptr && index->is_uint64()) return static_cast<std::int64_t>(index->get_uint64());
  return 0;
}

bool fails_the_stream(std::string_view type) {
  return type == "error" || type == "response.failed" || type == "response.incomplete";
}

// --- synthesis ------------------------------------------------------------------------

class EventWriter {
 public:
  void emit(std::string_view type, json::object fields) {
    json::object payload;
    payload["type"] = type;
    payload["sequence_number"] = sequence_++;
    for (auto& member : fields) payload[member.key()] = std::move(member.value());
    std::string event = "event: ";
    event += type;
    event += "\ndata: ";
    event += json::serialize(payload);
    event += "\n\n";
    events_.push_back(std::move(event));
  }

  std::vector<std::string> take() { return std::move(events_); }

 private:
  std::int64_t sequence_ = 0;
  std::vector<std::string> events_;
};

json::value text_of(const json::object& object, std::string_view name) {
  const auto* text = object.if_contains(name);
  return text != nullptr && text->is_string() ? *text : json::value("");
}

// Where the deltas of one item go: its id and place in the output.
struct ItemPlace {
  json::value item_id;
  std::int64_t output_index = 0;

  json::object fields() const {
    json::object fields;
    fields["item_id"] = item_id;
    fields["output_index"] = output_index;
    return fields;
  }
};

void synthesise_content_part(EventWriter& writer, const ItemPlace& place, std::int64_t index,
                             const json::object& part) {
  const auto type = string_member(part, "type");
  json::object empty_part = part;
  if (type == "output_text") empty_part["text"] = "";
  if (type == "refusal") empty_part["refusal"] = "";
  auto fields = place.fields();
  fields["content_index"] = index;
  auto added = fields;
  added["part"] = std::move(empty_part);
  writer.emit("response.content_part.added", std::move(added));
  if (type == "output_text" || type == "refusal") {
    const bool text = type == "output_text";
    const auto value = text_of(part, text ? "text" : "refusal");
    auto delta = fields;
    delta["delta"] = value;
    if (text) delta["logprobs"] = json::array();
    writer.emit(text ? "response.output_text.delta" : "response.refusal.delta", std::move(delta));
    auto done = fields;
    done[text ? "text" : "refusal"] = value;
    if (text) done["logprobs"] = json::array();
    writer.emit(text ? "response.output_text.done" : "response.refusal.done", std::move(done));
  }
  fields["part"] = part;
  writer.emit("response.content_part.done", std::move(fields));
}

void synthesise_summary_part(EventWriter& writer, const ItemPlace& place, std::int64_t index,
                             const json::object& part) {
  auto fields = place.fields();
  fields["summary_index"] = index;
  json::object empty_part = part;
  empty_part["text"] = "";
  auto added = fields;
  added["part"] = std::move(empty_part);
  writer.emit("response.reasoning_summary_part.added", std::move(added));
  const auto text = text_of(part, "text");
  auto delta = fields;
  delta["delta"] = text;
  writer.emit("response.reasoning_summary_text.delta", std::move(delta));
  auto done = fields;
  done["text"] = text;
  writer.emit("response.reasoning_summary_text.done", std::move(done));
  fields["part"] = part;
  writer.emit("response.reasoning_summary_part.done", std::move(fields));
}

// The item as output_item.added announces it, before any delta.
json::object announced(const json::object& item, std::string_view type) {
  json::object out = item;
  if (type == "message") {
    out["status"] = "in_progress";
    out["content"] = json::array();
  } else if (type == "function_call") {
    out["status"] = "in_progress";
    out["arguments"] = "";
  } else if (type == "reasoning") {
    out["summary"] = json::array();
  }
  return out;
}

// Each element of the array member `name` that is an object, with its index.
template <typename Visit>
void for_each_object(const json::object& owner, std::string_view name, Visit visit) {
  const auto* array = owner.if_contains(name);
  if (array == nullptr || !array->is_array()) return;
  std::int64_t index = 0;
  for (const auto& element : array->get_array()) {
    if (element.is_object()) visit(index, element.get_object());
    ++index;
  }
}

void synthesise_item(EventWriter& writer, std::int64_t output_index, const json::object& item) {
  const auto type = string_member(item, "type");
  const auto* id = item.if_contains("id");
  const ItemPlace place{id != nullptr ? *id : json::value(""), output_index};
  json::object added;
  added["output_index"] = output_index;
  added["item"] = announced(item, type);
  writer.emit("response.output_item.added", std::move(added));
  if (type == "message") {
    for_each_object(item, "content", [&](std::int64_t index, const json::object& part) {
      synthesise_content_part(writer, place, index, part);
    });
  } else if (type == "reasoning") {
    for_each_object(item, "summary", [&](std::int64_t index, const json::object& part) {
      synthesise_summary_part(writer, place, index, part);
    });
  } else if (type == "function_call") {
    const auto arguments = text_of(item, "arguments");
    auto delta = place.fields();
    delta["delta"] = arguments;
    writer.emit("response.function_call_arguments.delta", std::move(delta));
    auto done = place.fields();
    done["arguments"] = arguments;
    writer.emit("response.function_call_arguments.done", std::move(done));
  }
  json::object finished;
  finished["output_index"] = output_index;
  finished["item"] = item;
  writer.emit("response.output_item.done", std::move(finished));
}

json::object in_progress(const json::object& response) {
  json::object out = response;
  out["status"] = "in_progress";
  out["output"] = json::array();
  if (out.contains("usage")) out["usage"] = nullptr;
  return out;
}

}  // namespace

AssembledCompletion assemble_response(std::string_view stream) {
  AssembledCompletion result;
  SseParser parser({.max_event_bytes = stream.size() + 1});
  std::vector<SseEvent> events;
  parser.feed(stream, events);
  parser.finish(events);
  std::map<std::int64_t, json::value> items;  // output_item.done items by output_index
  json::value completed;
  for (const auto& event : events) {
    if (!event.has_data() || event.data == "[DONE]") continue;
    boost::system::error_code ec;
    auto payload = json::parse(event.data, ec);
    if (ec || !payload.is_object()) {
      result.error = "stream event is not a JSON object";
      return result;
    }
    auto& object = payload.get_object();
    const auto type = event_type(object, event);
    if (fails_the_stream(type)) {
      result.error = "stream carries an upstream failure (" + std::string(type) + ")";
      return result;
    }
    if (type == "response.output_item.done") {
      if (auto* item = object.if_contains("item")) {
        items[index_member(object, "output_index")] = std::move(*item);
      }
    } else if (type == "response.completed") {
      if (auto* response = object.if_contains("response"); response && response->is_object()) {
        completed = std::move(*response);
      }
      break;
    }
  }
  if (!completed.is_object()) {
    result.error = "stream has no response.completed";
    return result;
  }
  auto& response = completed.get_object();
  const auto* output = response.if_contains("output");
  const bool no_output = output == nullptr || !output->is_array() || output->get_array().empty();
  if (no_output && !items.empty()) {
    json::array filled;
    for (auto& [index, item] : items) filled.push_back(std::move(item));
    response["output"] = std::move(filled);
  }
  result.body = json::serialize(completed);
  return result;
}

SynthesisedStream synthesise_responses_stream(std::string_view body) {
  SynthesisedStream result;
  boost::system::error_code ec;
  const auto value = json::parse(body, ec);
  if (ec || !value.is_object()) {
    result.error = "response is not a JSON object";
    return result;
  }
  const auto& response = value.get_object();
  if (const auto status = string_member(response, "status");
      !status.empty() && status != "completed") {
    result.error = "response status " + std::string(status) + " is not completed";
    return result;
  }
  const auto* output = response.if_contains("output");
  if (output == nullptr || !output->is_array()) {
    result.error = "response without output";
    return result;
  }
  EventWriter writer;
  json::object created;
  created["response"] = in_progress(response);
  auto progressing = created;
  writer.emit("response.created", std::move(created));
  writer.emit("response.in_progress", std::move(progressing));
  std::int64_t index = 0;
  for (const auto& item : output->get_array()) {
    if (!item.is_object()) {
      result.error = "output item that is not an object";
      return result;
    }
    synthesise_item(writer, index++, item.get_object());
  }
  json::object completed;
  completed["response"] = response;
  writer.emit("response.completed", std::move(completed));
  result.events = writer.take();
  return result;
}

}  // namespace opencode_cache::server::gateway
