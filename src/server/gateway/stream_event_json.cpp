#include "server/gateway/stream_event_json.hpp"

#include <boost/json/object.hpp>

namespace opencode_cache::server::gateway {

std::string_view string_member(const boost::json::object& object, std::string_view name) {
  const auto* member = object.if_contains(name);
  if (member == nullptr || !member->is_string()) return {};
  return member->get_string();
}

std::string_view event_type(const boost::json::object& payload, const SseEvent& event) {
  const auto type = string_member(payload, "type");
  return type.empty() ? std::string_view(event.event) : type;
}

std::string error_message(const boost::json::value& error) {
  if (const auto* object = error.if_object()) {
    if (const auto message = string_member(*object, "message"); !message.empty()) {
      return std::string(message);
    }
    if (const auto* inner = object->if_contains("error"); inner && inner->is_object()) {
      return error_message(*inner);
    }
  }
  if (error.is_string() && !error.get_string().empty()) return std::string(error.get_string());
  return "(no message)";
}

}  // namespace opencode_cache::server::gateway
