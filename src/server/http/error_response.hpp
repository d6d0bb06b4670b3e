// Errors the gateway itself answers with, in the shape of the API the client speaks:
//   OpenAI (Chat Completions, Responses, and every other route):
//     {"error": {"message": ..., "type": ..., "code": ...}}
//   Anthropic Messages, whose SDKs read error.type and error.message:
//     {"type": "error", "error": {"type": ..., "message": ...}}
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

enum class ErrorStyle { openai, anthropic };

// The body for `status` in `style`: error_shape()'s type and code, or Anthropic's error type
// for the status (invalid_request_error, authentication_error, not_found_error,
// request_too_large, rate_limit_error, timeout_error, overloaded_error, api_error).
std::string error_body_for(ErrorStyle style, int status, std::string_view message);

// The type and code for a status the gateway itself answers with.
ErrorShape error_shape(int status);

std::string_view reason_phrase(int status);

}  // namespace opencode_cache::server::http
