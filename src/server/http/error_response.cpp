#include "server/http/error_response.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace opencode_cache::server::http {

std::string error_body(std::string_view message, std::string_view type, std::string_view code) {
  boost::json::object error;
  error["message"] = message;
  error["type"] = type;
  error["code"] = code;
  boost::json::object body;
  body["error"] = std::move(error);
  return boost::json::serialize(body);
}

namespace {

std::string_view anthropic_error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 503:
    case 529: return "overloaded_error";
    default: return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
  }
}

}  // namespace

std::string error_body_for(ErrorStyle style, int status, std::string_view message) {
  if (style == ErrorStyle::openai) {
    const auto shape = error_shape(status);
    return error_body(message, shape.type, shape.code);
  }
  boost::json::object error;
  error["type"] = anthropic_error_type(status);
  error["message"] = message;
  boost::json::object body;
  body["type"] = "error";
  body["error"] = std::move(error);
  return boost::json::serialize(body);
}

ErrorShape error_shape(int status) {
  switch (status) {
    case 400: return {400, "invalid_request_error", "invalid_json"};
    case 401: return {401, "authentication_error", "invalid_api_key"};
    case 404: return {404, "invalid_request_error", "unknown_url"};
    case 405: return {405, "invalid_request_error", "method_not_allowed"};
    case 408: return {408, "invalid_request_error", "request_timeout"};
    case 413: return {413, "invalid_request_error", "request_too_large"};
    case 429: return {429, "rate_limit_error", "rate_limit_exceeded"};
    case 431: return {431, "invalid_request_error", "request_header_fields_too_large"};
    case 502: return {502, "upstream_error", "bad_gateway"};
    case 503: return {503, "server_error", "service_unavailable"};
    case 504: return {504, "upstream_error", "gateway_timeout"};
    default: return {status, "server_error", "internal_error"};
  }
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

}  // namespace opencode_cache::server::http
