// What the Responses and Anthropic recorders read from an event's JSON payload: its `type`
// (the `event:` name when the payload has none) and a failure's message.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "server/gateway/sse_parser.hpp"

namespace opencode_cache::server::gateway {

// The payload's string `type`, else the event's `event:` name.
std::string_view event_type(const boost::json::object& payload, const SseEvent& event);

// `message` of an error object (or of its nested `error` object), "(no message)" if none.
std::string error_message(const boost::json::value& error);

// The string member `name` of `object`, empty when absent or not a string.
std::string_view string_member(const boost::json::object& object, std::string_view name);

}  // namespace opencode_cache::server::gateway
