// Which resource of the app's API a request target names, with its id and query, decoded.
// Sans-I/O.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace opencode_cache::server::app {

enum class Resource {
  session,           // /api/sessions/{id}
  context,           // /api/context/{id}
  metadata,          // /api/metadata/{id}
  cache_value,       // /api/cache/{key}
  cache_lease,       // /api/cache/{key}/lease
  cache_stats,       // /api/cache/stats
  cache_invalidate,  // /api/cache/invalidate
  ratelimit,         // /api/ratelimit/{type}/{id}
  events,            // /api/events
  none,
};

struct AppRoute {
  Resource resource = Resource::none;
  std::string id;    // the session, context or metadata id, cache key, or limited id
  std::string type;  // the rate-limit type
  std::map<std::string, std::string, std::less<>> query;
  // Non-empty: the target names a resource but cannot be used (bad percent-encoding, an id
  // that is empty, too long or holds control characters): a 400 with this message.
  std::string error;

  const std::string* param(std::string_view name) const {
    const auto it = query.find(name);
    return it == query.end() ? nullptr : &it->second;
  }
};

inline constexpr std::size_t max_id_bytes = 512;

// Ids are single path segments, percent-decoded: "a%2Fb" is the id "a/b".
AppRoute parse_app_route(std::string_view target);

// The methods a resource takes, for 405's Allow header.
std::string_view methods_of(Resource resource);

}  // namespace opencode_cache::server::app
