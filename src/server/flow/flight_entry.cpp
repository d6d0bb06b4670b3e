#include "server/flow/flight_entry.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

namespace opencode_cache::server::flow {
namespace json = boost::json;
namespace {

constexpr std::string_view end_names[] = {"done", "failed", "abandoned", "overflow"};

std::optional<json::object> parse_object(std::string_view value) {
  boost::system::error_code ec;
  json::value parsed = json::parse(value, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  return std::move(parsed.as_object());
}

}  // namespace

std::string encode_head(const FlightHead& head) {
  json::object out;
  out["status"] = head.status;
  json::array headers;
  for (const auto& [name, value] : head.headers) {
    json::array pair;
    pair.emplace_back(name);
    pair.emplace_back(value);
    headers.emplace_back(std::move(pair));
  }
  out["headers"] = std::move(headers);
  return json::serialize(out);
}

std::optional<FlightHead> decode_head(std::string_view value) {
  auto object = parse_object(value);
  if (!object) return std::nullopt;
  const auto* status = object->if_contains("status");
  const auto* headers = object->if_contains("headers");
  if (status == nullptr || !status->is_int64() || headers == nullptr || !headers->is_array()) {
    return std::nullopt;
  }
  FlightHead head;
  head.status = static_cast<int>(status->as_int64());
  for (const auto& pair : headers->as_array()) {
    const auto* fields = pair.if_array();
    if (fields == nullptr || fields->size() != 2 || !(*fields)[0].is_string() ||
        !(*fields)[1].is_string()) {
      return std::nullopt;
    }
    head.headers.emplace_back(std::string((*fields)[0].as_string()),
                              std::string((*fields)[1].as_string()));
  }
  return head;
}

std::string encode_outcome(const FlightOutcome& outcome) {
  json::object out;
  out["end"] = end_names[static_cast<std::size_t>(outcome.end)];
  out["status"] = outcome.status;
  out["message"] = outcome.message;
  return json::serialize(out);
}

std::optional<FlightOutcome> decode_outcome(std::string_view value) {
  auto object = parse_object(value);
  if (!object) return std::nullopt;
  const auto* end = object->if_contains("end");
  const auto* status = object->if_contains("status");
  const auto* message = object->if_contains("message");
  if (end == nullptr || !end->is_string() || status == nullptr || !status->is_int64() ||
      message == nullptr || !message->is_string()) {
    return std::nullopt;
  }
  FlightOutcome outcome;
  bool known = false;
  for (std::size_t i = 0; i < std::size(end_names); ++i) {
    if (end->as_string() == end_names[i]) {
      outcome.end = static_cast<FlightEnd>(i);
      known = true;
    }
  }
  if (!known) return std::nullopt;
  outcome.status = static_cast<int>(status->as_int64());
  outcome.message = std::string(message->as_string());
  return outcome;
}

std::vector<std::string> entry_fields(const FlightEntry& entry) {
  std::vector<std::string> fields;
  fields.reserve(6);
  fields.emplace_back("n");
  fields.push_back(std::to_string(entry.seq));
  fields.emplace_back("k");
  fields.emplace_back(1, static_cast<char>(entry.kind));
  fields.emplace_back("v");
  fields.push_back(entry.value);
  return fields;
}

std::optional<FlightEntry> entry_from_fields(const std::vector<std::string>& fields) {
  if (fields.size() % 2 != 0) return std::nullopt;
  FlightEntry entry;
  bool has_seq = false;
  bool has_kind = false;
  bool has_value = false;
  for (std::size_t i = 0; i < fields.size(); i += 2) {
    const std::string& name = fields[i];
    const std::string& value = fields[i + 1];
    if (name == "n") {
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), entry.seq);
      has_seq = ec == std::errc() && end == value.data() + value.size();
    } else if (name == "k") {
      has_kind = value == "h" || value == "d" || value == "e";
      if (has_kind) entry.kind = static_cast<FlightEntry::Kind>(value[0]);
    } else if (name == "v") {
      entry.value = value;
      has_value = true;
    }
  }
  if (!has_seq || !has_kind || !has_value) return std::nullopt;
  return entry;
}

}  // namespace opencode_cache::server::flow
