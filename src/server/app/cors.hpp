// Which web pages may call the app's API from a browser (CORS), and the headers that tell the
// browser so. Sans-I/O: headers in, headers out.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "server/http/exchange.hpp"

namespace opencode_cache::server::app {

class CorsPolicy {
 public:
  // Origins as configured (AppApiConfig::cors_origins); "*" admits any.
  explicit CorsPolicy(std::vector<std::string> origins);

  bool allows(std::string_view origin) const;
  // For an answer to a request that came with `origin` (null: not from a browser page):
  // Access-Control-Allow-Origin and its companions when the origin is allowed, else only
  // Vary (a cache in between must not hand one origin's answer to another).
  http::Headers response_headers(const std::string* origin) const;
  // The answer to a preflight (OPTIONS with Access-Control-Request-Method) from an allowed
  // origin: the methods and request headers the API takes, and how long to remember them.
  http::Headers preflight_headers(std::string_view origin) const;

 private:
  std::vector<std::string> origins_;
  bool any_ = false;
};

}  // namespace opencode_cache::server::app
