// Typed views of replies. Each throws Error(errc::unexpected_reply) when the reply is not
// of the expected type, and ServerError when it is an error reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "opencode_cache/valkey/resp_value.hpp"

namespace opencode_cache::valkey::reply {

void throw_if_error(const resp::Value& value);
std::optional<std::string> to_optional_string(resp::Value&& value);
std::string to_string(resp::Value&& value);
std::int64_t to_integer(const resp::Value& value);
// +OK (or any simple string) is true, a null is false: SET with NX/XX answers so.
bool to_ok(const resp::Value& value);
std::vector<std::optional<std::string>> to_optional_strings(resp::Value&& value);
// A RESP3 map or a RESP2 flat array of field, value pairs.
std::vector<std::pair<std::string, std::string>> to_string_pairs(resp::Value&& value);

}  // namespace opencode_cache::valkey::reply
