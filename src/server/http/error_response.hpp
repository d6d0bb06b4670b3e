// Errors in the shape OpenAI's API gives them, which OpenAI-compatible clients show:
// {"error": {"message": ..., "type": ..., "code": ...}}.
#pragma once

#include <string>
#include <string_view>

namespace opencode_cache::server::http {

struct ErrorShape {
  int status;
  std::string_view type;
  std::string_view code;
};

std::string error_body(std::string_view message, std::string_view type, std::string_view code);

// The type and code for a status the gateway itself answers with.
ErrorShape error_shape(int status);

std::string_view reason_phrase(int status);

}  // namespace opencode_cache::server::http
