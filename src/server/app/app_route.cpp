#include "server/app/app_route.hpp"

#include <boost/url/parse.hpp>
#include <vector>

namespace opencode_cache::server::app {
namespace {

std::string id_problem(std::string_view what, std::string_view id) {
  if (id.empty()) return std::string(what) + " is empty";
  if (id.size() > max_id_bytes) {
    return std::string(what) + " is longer than " + std::to_string(max_id_bytes) + " bytes";
  }
  for (const char c : id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return std::string(what) + " holds a control character";
    }
  }
  return {};
}

AppRoute classify(const std::vector<std::string>& segments) {
  AppRoute route;
  const std::size_t n = segments.size();
  if (n == 2 && segments[0] == "api" && segments[1] == "events") {
    route.resource = Resource::events;
    return route;
  }
  if (n < 3 || segments[0] != "api") return route;
  const std::string& kind = segments[1];
  if (n == 3 && kind == "sessions") route.resource = Resource::session;
  if (n == 3 && kind == "context") route.resource = Resource::context;
  if (n == 3 && kind == "metadata") route.resource = Resource::metadata;
  if (kind == "cache" && n == 3) {
    route.resource = segments[2] == "stats"        ? Resource::cache_stats
                     : segments[2] == "invalidate" ? Resource::cache_invalidate
                                                   : Resource::cache_value;
  }
  if (kind == "cache" && n == 4 && segments[3] == "lease") route.resource = Resource::cache_lease;
  if (kind == "ratelimit" && n == 4) {
    route.resource = Resource::ratelimit;
    route.type = segments[2];
    route.id = segments[3];
    route.error = id_problem("the rate-limit type", route.type);
    if (route.error.empty() && route.type.find(':') != std::string::npos) {
      route.error = "the rate-limit type holds ':'";
    }
    if (route.error.empty()) route.error = id_problem("the id", route.id);
    return route;
  }
  if (route.resource == Resource::cache_stats || route.resource == Resource::cache_invalidate ||
      route.resource == Resource::none) {
    return route;
  }
  route.id = segments[2];
  route.error = id_problem(kind == "cache" ? "the key" : "the id", route.id);
  return route;
}

}  // namespace

AppRoute parse_app_route(std::string_view target) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) {
    AppRoute route;
    route.error = "the request target is not a valid URL path";
    return route;
  }
  std::vector<std::string> segments;
  for (auto segment : parsed->segments()) segments.push_back(std::string(segment));
  AppRoute route = classify(segments);
  for (auto param : parsed->params())
    route.query[std::string(param.key)] = std::string(param.value);
  return route;
}

std::string_view methods_of(Resource resource) {
  switch (resource) {
    case Resource::session: return "GET, PUT, PATCH, DELETE";
    case Resource::context:
    case Resource::metadata: return "GET, PUT, DELETE";
    case Resource::cache_value: return "GET, PUT";
    case Resource::cache_lease: return "POST, DELETE";
    case Resource::cache_invalidate: return "POST";
    case Resource::cache_stats:
    case Resource::ratelimit:
    case Resource::events: return "GET";
    case Resource::none: break;
  }
  return "";
}

}  // namespace opencode_cache::server::app
