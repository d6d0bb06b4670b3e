#include "server/app/cors.hpp"

#include <algorithm>

namespace opencode_cache::server::app {
namespace {

constexpr std::string_view allowed_methods = "GET, PUT, PATCH, DELETE, POST, OPTIONS";
constexpr std::string_view allowed_headers =
    "authorization, content-type, x-opencode-cache-key, x-cache-lease";
// What a page's script may read of an answer beyond the CORS-safelisted headers.
constexpr std::string_view exposed_headers =
    "x-request-id, retry-after, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset";
constexpr std::string_view preflight_max_age_s = "600";

}  // namespace

CorsPolicy::CorsPolicy(std::vector<std::string> origins)
    : origins_(std::move(origins)),
      any_(std::find(origins_.begin(), origins_.end(), "*") != origins_.end()) {}

bool CorsPolicy::allows(std::string_view origin) const {
  return any_ || std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

http::Headers CorsPolicy::response_headers(const std::string* origin) const {
  http::Headers headers;
  if (!any_) headers.emplace_back("vary", "Origin");
  if (origin == nullptr || !allows(*origin)) return headers;
  headers.emplace_back("access-control-allow-origin", any_ ? std::string("*") : *origin);
  headers.emplace_back("access-control-expose-headers", std::string(exposed_headers));
  return headers;
}

http::Headers CorsPolicy::preflight_headers(std::string_view origin) const {
  http::Headers headers = response_headers(nullptr);
  headers.emplace_back("access-control-allow-origin",
                       any_ ? std::string("*") : std::string(origin));
  headers.emplace_back("access-control-allow-methods", std::string(allowed_methods));
  headers.emplace_back("access-control-allow-headers", std::string(allowed_headers));
  headers.emplace_back("access-control-max-age", std::string(preflight_max_age_s));
  return headers;
}

}  // namespace opencode_cache::server::app
