#include "server/app/app_exchange.hpp"

#include <boost/json/serialize.hpp>
#include <charconv>

#include "server/gateway/canonical_json.hpp"
#include "server/http/error_response.hpp"

namespace opencode_cache::server::app {
namespace {

constexpr std::uint64_t max_ttl_s = 365LL * 24 * 3600;

std::string_view error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 503: return "server_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

http::Headers json_headers() {
  http::Headers headers;
  headers.emplace_back("content-type", "application/json");
  headers.emplace_back("cache-control", "no-store");
  return headers;
}

}  // namespace

Task<void> send_error(Responder& responder, int status, std::string_view code,
                      std::string_view message) {
  co_await responder.send(status, json_headers(),
                          http::error_body(message, error_type(status), code));
}

Task<void> send_json(Responder& responder, int status, const Json& value) {
  co_await responder.send(status, json_headers(), boost::json::serialize(value));
}

Task<void> send_done(Responder& responder) {
  http::Headers headers;
  headers.emplace_back("cache-control", "no-store");
  co_await responder.send(204, std::move(headers), std::string());
}

Task<std::optional<Json>> read_json_body(const AppContext& context, const Request& request,
                                         Responder& responder) {
  const std::size_t limit = context.config.app.max_value_bytes;
  if (request.body.size() > limit) {
    co_await send_error(responder, 413, "value_too_large",
                        "the value is " + std::to_string(request.body.size()) + " bytes; at most " +
                            std::to_string(limit) + " are accepted");
    co_return std::nullopt;
  }
  gateway::JsonLimits limits;
  limits.max_bytes = limit;
  auto parsed = gateway::parse_request_json(request.body, limits);
  if (!parsed.ok()) {
    const std::string message = request.body.empty()
                                    ? std::string("the body must be a JSON value; it is empty")
                                    : parsed.error;
    co_await send_error(responder, 400, "invalid_json", message);
    co_return std::nullopt;
  }
  co_return std::move(parsed.value);
}

TtlParam ttl_param(const AppRoute& route) {
  TtlParam out;
  const std::string* text = route.param("ttl");
  if (text == nullptr) return out;
  std::uint64_t seconds = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), seconds);
  if (ec != std::errc{} || end != text->data() + text->size() || seconds == 0 ||
      seconds > max_ttl_s) {
    out.error = "ttl must be a whole number of seconds from 1 to " + std::to_string(max_ttl_s) +
                ", not '" + *text + "'";
    return out;
  }
  out.ttl = std::chrono::seconds(seconds);
  return out;
}

}  // namespace opencode_cache::server::app
