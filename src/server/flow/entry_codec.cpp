#include "server/flow/entry_codec.hpp"

#include "server/gateway/sse_parser.hpp"
#include "server/gateway/stored_response.hpp"

namespace opencode_cache::server::flow {
namespace {

std::string with_usage(gateway::LlmApi api, std::string_view events_bytes,
                       gateway::ReplayUsage usage) {
  if (usage == gateway::ReplayUsage::original) return std::string(events_bytes);
  gateway::SseParser parser;
  std::vector<gateway::SseEvent> events;
  parser.feed(events_bytes, events);
  parser.finish(events);
  std::string out;
  for (const auto& event : events) {
    std::string rewritten;
    out += gateway::rewrite_event_usage(api, event.raw, usage, rewritten) ? rewritten : event.raw;
  }
  return out;
}

std::string body_with_usage(gateway::LlmApi api, std::string body, gateway::ReplayUsage usage) {
  std::string rewritten;
  if (usage != gateway::ReplayUsage::original &&
      gateway::rewrite_body_usage(api, body, usage, rewritten)) {
    return rewritten;
  }
  return body;
}

}  // namespace

Recording record(const Flight& flight, gateway::LlmApi api, std::int64_t now_ms) {
  Recording recording;
  if (!flight.done) {
    recording.why_not = "upstream answer incomplete";
    return recording;
  }
  if (flight.status != 200) {
    recording.why_not = "upstream status " + std::to_string(flight.status);
    return recording;
  }
  gateway::StoredResponse entry;
  entry.status = static_cast<std::uint16_t>(flight.status);
  entry.created_at_ms = static_cast<std::uint64_t>(now_ms);
  const std::string* type = http::find_header(flight.headers, "content-type");
  entry.content_type = type != nullptr ? *type : "application/json";
  for (const auto& [name, value] : flight.headers) {
    if (gateway::kept_upstream_header(name)) entry.headers.emplace_back(name, value);
  }
  if (flight.event_stream()) {
    auto verdict = gateway::judge_stream(api, flight.body);
    if (!verdict.storable) {
      recording.why_not = std::move(verdict.why_not);
      return recording;
    }
    entry.kind = gateway::StoredKind::sse;
    entry.usage = verdict.usage;
    for (const std::string& event : verdict.events) entry.append_event(event);
  } else {
    recording.why_not = gateway::json_not_storable(api, flight.body);
    if (!recording.why_not.empty()) return recording;
    entry.kind = gateway::StoredKind::json;
    entry.usage = gateway::json_usage(api, flight.body);
    entry.body = flight.body;
  }
  recording.entry = gateway::encode_stored_response(entry);
  return recording;
}

std::optional<std::string> stream_from_completion(gateway::LlmApi api, std::string_view completion,
                                                  gateway::ReplayUsage usage) {
  auto synthesised = gateway::synthesise(api, completion);
  if (!synthesised.ok()) return std::nullopt;
  std::string out;
  for (const auto& event : synthesised.events) out += event;
  return with_usage(api, out, usage);
}

std::optional<std::string> completion_from_stream(gateway::LlmApi api, std::string_view stream,
                                                  gateway::ReplayUsage usage) {
  auto assembled = gateway::assemble(api, stream);
  if (!assembled.ok()) return std::nullopt;
  return body_with_usage(api, std::move(assembled.body), usage);
}

std::optional<Replay> replay_of(std::string_view stored, bool stream, gateway::LlmApi api,
                                gateway::ReplayUsage usage, std::int64_t now_ms) {
  const auto decoded = gateway::decode_stored_response(stored);
  if (!decoded.ok()) return std::nullopt;
  const auto& entry = decoded.entry;
  Replay replay;
  replay.status = entry.status;
  replay.stored_at_ms = static_cast<std::int64_t>(entry.created_at_ms);
  replay.tokens = entry.usage ? entry.usage->total_tokens : 0;
  for (const auto& [name, value] : entry.headers) {
    replay.headers.emplace_back(std::string(name), std::string(value));
  }
  replay.headers.emplace_back(
      "age", std::to_string(std::max<std::int64_t>(0, (now_ms - replay.stored_at_ms) / 1000)));
  const bool stored_stream = entry.kind == gateway::StoredKind::sse;
  const bool convertible = gateway::streams(api);
  replay.stream = convertible ? stream : stored_stream;
  if (stored_stream == replay.stream) {
    replay.body = stored_stream ? with_usage(api, entry.body, usage)
                                : body_with_usage(api, std::string(entry.body), usage);
    replay.headers.emplace_back("content-type", std::string(entry.content_type));
    return replay;
  }
  if (!convertible) return std::nullopt;
  auto converted = replay.stream ? stream_from_completion(api, entry.body, usage)
                                 : completion_from_stream(api, entry.body, usage);
  if (!converted) return std::nullopt;
  replay.body = std::move(*converted);
  replay.headers.emplace_back("content-type",
                              replay.stream ? "text/event-stream" : "application/json");
  replay.headers.emplace_back(std::string(converted_header),
                              replay.stream ? "json-to-stream" : "stream-to-json");
  return replay;
}

}  // namespace opencode_cache::server::flow
