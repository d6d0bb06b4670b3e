#include "server/gateway/messages_convert.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <map>

#include "server/gateway/sse_parser.hpp"
#include "server/gateway/stream_event_json.hpp"

namespace opencode_cache::server::gateway {

namespace {

namespace json = boost::json;

std::int64_t index_of(const json::object& object) {
  const auto* index = object.if_contains("index");
  if (index != nullptr && index->is_int64()) return index->get_int64();
  if (index != nullptr && index->is_uint64()) return static_cast<std::int64_t>(index->get_uint64());
  return 0;
}

// --- assembly -------------------------------------------------------------------------

struct BlockParts {
  json::object block;
  std::string input_json;  // input_json_delta fragments, concatenated
  bool has_input_json = false;
};

void append_string(json::object& block, std::string_view name, std::string_view more) {
  auto& slot = block[name];
  if (!slot.is_string()) slot = "";
  slot.get_string().append(more);
}

void add_delta(BlockParts& parts, const json::object& delta) {
  const auto type = string_member(delta, "type");
  if (type == "text_delta") {
    append_string(parts.block, "text", string_member(delta, "text"));
  } else if (type == "thinking_delta") {
    append_string(parts.block, "thinking", string_member(delta, "thinking"));
  } else if (type == "signature_delta") {
    append_string(parts.block, "signature", string_member(delta, "signature"));
  } else if (type == "input_json_delta") {
    parts.input_json += string_member(delta, "partial_json");
    parts.has_input_json = true;
  } else if (type == "citations_delta") {
    auto& citations = parts.block["citations"];
    if (!citations.is_array()) citations = json::array();
    if (const auto* citation = delta.if_contains("citation")) {
      citations.get_array().push_back(*citation);
    }
  }
}

struct MessageParts {
  json::value message;  // message_start's, null until then
  std::map<std::int64_t, BlockParts> blocks;

  // False with `error` when the event makes the stream unusable.
  bool add(std::string_view type, json::object& event, std::string& error) {
    if (type == "error") {
      error = "stream carries an upstream error: " + error_message(event);
      return false;
    }
    if (type == "message_start") {
      if (auto* start = event.if_contains("message"); start && start->is_object()) {
        message = std::move(*start);
      }
      return true;
    }
    if (!message.is_object()) return true;  // nothing to add to yet: refused at the end
    if (type == "content_block_start") {
      auto* block = event.if_contains("content_block");
      if (block != nullptr && block->is_object()) {
        blocks[index_of(event)].block = std::move(block->get_object());
      }
    } else if (type == "content_block_delta") {
      const auto* delta = event.if_contains("delta");
      if (delta != nullptr && delta->is_object()) {
        add_delta(blocks[index_of(event)], delta->get_object());
      }
    } else if (type == "message_delta") {
      apply_message_delta(event);
    }
    return true;
  }

  void apply_message_delta(const json::object& event) {
    auto& fields = message.get_object();
    if (const auto* delta = event.if_contains("delta"); delta && delta->is_object()) {
      for (const auto& member : delta->get_object()) fields[member.key()] = member.value();
    }
    if (const auto* usage = event.if_contains("usage"); usage && usage->is_object()) {
      auto& counts = fields["usage"];
      if (!counts.is_object()) counts = json::object();
      for (const auto& member : usage->get_object()) {
        counts.get_object()[member.key()] = member.value();
      }
    }
  }

  // The assembled message; empty with `error` when a tool input is not JSON.
  std::string finish(std::string& error) {
    json::array content;
    for (auto& [index, parts] : blocks) {
      if (parts.has_input_json) {
        boost::system::error_code ec;
        auto input = json::parse(parts.input_json, ec);
        if (ec) {
          error = "tool input in stream is not JSON";
          return {};
        }
        parts.block["input"] = std::move(input);
      }
      content.push_back(std::move(parts.block));
    }
    message.get_object()["content"] = std::move(content);
    return json::serialize(message);
  }
};

// --- synthesis ------------------------------------------------------------------------

class EventWriter {
 public:
  void emit(std::string_view type, json::object fields) {
    json::object payload;
    payload["type"] = type;
    for (auto& member : fields) payload[member.key()] = std::move(member.value());
    std::string event = "event: ";
    event += type;
    event += "\ndata: ";
    event += json::serialize(payload);
    event += "\n\n";
    events_.push_back(std::move(event));
  }

  void block_delta(std::int64_t index, std::string_view type, std::string_view name,
                   const json::value& value) {
    json::object delta;
    delta["type"] = type;
    delta[name] = value;
    json::object fields;
    fields["index"] = index;
    fields["delta"] = std::move(delta);
    emit("content_block_delta", std::move(fields));
  }

  std::vector<std::string> take() { return std::move(events_); }

 private:
  std::vector<std::string> events_;
};

bool non_empty_string(const json::value* value) {
  return value != nullptr && value->is_string() && !value->get_string().empty();
}

// The block as content_block_start announces it, before any delta.
json::object started(const json::object& block, std::string_view type) {
  json::object out = block;
  if (type == "text") {
    out["text"] = "";
    out.erase("citations");
  } else if (type == "thinking") {
    out["thinking"] = "";
    out["signature"] = "";
  } else if (type == "tool_use" || type == "server_tool_use") {
    out["input"] = json::object();
  }
  return out;
}

void synthesise_block(EventWriter& writer, std::int64_t index, const json::object& block) {
  const auto type = string_member(block, "type");
  json::object start;
  start["index"] = index;
  start["content_block"] = started(block, type);
  writer.emit("content_block_start", std::move(start));
  if (type == "text") {
    if (const auto* text = block.if_contains("text"); non_empty_string(text)) {
      writer.block_delta(index, "text_delta", "text", *text);
    }
    if (const auto* citations = block.if_contains("citations");
        citations && citations->is_array()) {
      for (const auto& citation : citations->get_array()) {
        writer.block_delta(index, "citations_delta", "citation", citation);
      }
    }
  } else if (type == "thinking") {
    if (const auto* thinking = block.if_contains("thinking"); non_empty_string(thinking)) {
      writer.block_delta(index, "thinking_delta", "thinking", *thinking);
    }
    if (const auto* signature = block.if_contains("signature"); non_empty_string(signature)) {
      writer.block_delta(index, "signature_delta", "signature", *signature);
    }
  } else if (type == "tool_use" || type == "server_tool_use") {
    const auto* input = block.if_contains("input");
    const std::string input_json = input != nullptr ? json::serialize(*input) : "{}";
    writer.block_delta(index, "input_json_delta", "partial_json", json::value(input_json));
  }
  json::object stop;
  stop["index"] = index;
  writer.emit("content_block_stop", std::move(stop));
}

json::value member_or_null(const json::object& object, std::string_view name) {
  const auto* member = object.if_contains(name);
  return member != nullptr ? *member : json::value(nullptr);
}

}  // namespace

AssembledCompletion assemble_message(std::string_view stream) {
  AssembledCompletion result;
  SseParser parser({.max_event_bytes = stream.size() + 1});
  std::vector<SseEvent> events;
  parser.feed(stream, events);
  parser.finish(events);
  MessageParts parts;
  for (const auto& event : events) {
    if (!event.has_data()) continue;
    boost::system::error_code ec;
    auto payload = json::parse(event.data, ec);
    if (ec || !payload.is_object()) {
      result.error = "stream event is not a JSON object";
      return result;
    }
    auto& object = payload.get_object();
    const std::string type(event_type(object, event));
    if (!parts.add(type, object, result.error)) return result;
    if (type == "message_stop") break;
  }
  if (!parts.message.is_object()) {
    result.error = "stream has no message_start";
    return result;
  }
  result.body = parts.finish(result.error);
  return result;
}

SynthesisedStream synthesise_messages_stream(std::string_view body) {
  SynthesisedStream result;
  boost::system::error_code ec;
  const auto value = json::parse(body, ec);
  if (ec || !value.is_object()) {
    result.error = "message is not a JSON object";
    return result;
  }
  const auto& message = value.get_object();
  const auto* content = message.if_contains("content");
  if (string_member(message, "type") != "message" || content == nullptr || !content->is_array()) {
    result.error = "not a message with content";
    return result;
  }
  EventWriter writer;
  json::object start_message = message;
  start_message["content"] = json::array();
  start_message["stop_reason"] = nullptr;
  start_message["stop_sequence"] = nullptr;
  json::object start;
  start["message"] = std::move(start_message);
  writer.emit("message_start", std::move(start));
  std::int64_t index = 0;
  for (const auto& block : content->get_array()) {
    if (!block.is_object()) {
      result.error = "content block that is not an object";
      return result;
    }
    synthesise_block(writer, index++, block.get_object());
  }
  json::object delta;
  delta["stop_reason"] = member_or_null(message, "stop_reason");
  delta["stop_sequence"] = member_or_null(message, "stop_sequence");
  json::object usage;
  const auto* counts = message.if_contains("usage");
  const auto* output = counts != nullptr && counts->is_object()
                           ? counts->get_object().if_contains("output_tokens")
                           : nullptr;
  usage["output_tokens"] = output != nullptr ? *output : json::value(0);
  json::object finish;
  finish["delta"] = std::move(delta);
  finish["usage"] = std::move(usage);
  writer.emit("message_delta", std::move(finish));
  writer.emit("message_stop", json::object());
  result.events = writer.take();
  return result;
}

}  // namespace opencode_cache::server::gateway
