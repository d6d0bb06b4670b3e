// What the app API's route handlers share: the thread's cache and limiter, and the answers
// they give (JSON values, JSON errors in the gateway's shape, bodies read under the limits).
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "server/api/cache_stats_board.hpp"
#include "server/app/app_route.hpp"
#include "server/app/event_feed.hpp"
#include "server/app/event_hub.hpp"
#include "server/config/server_config.hpp"
#include "server/http/exchange.hpp"

namespace opencode_cache::server::app {

using http::Request;
using http::Responder;
using http::Task;
using Json = boost::json::value;

struct AppContext {
  const ServerConfig& config;
  cache::CacheService& cache;
  ratelimit::RateLimiter& limiter;
  api::CacheStatsBoard& board;
  std::size_t thread;
  EventHub& hub;  // this thread's SSE clients
  EventFeed& events;
};

// {"error": {"message", "type", "code"}}, the type following from the status.
Task<void> send_error(Responder& responder, int status, std::string_view code,
                      std::string_view message);
Task<void> send_json(Responder& responder, int status, const Json& value);
// 204: done, nothing to say.
Task<void> send_done(Responder& responder);

// The body as one JSON value within AppApiConfig::max_value_bytes; nullopt once the error
// (413 too large, 400 not JSON) has been answered.
Task<std::optional<Json>> read_json_body(const AppContext& context, const Request& request,
                                         Responder& responder);

// ?ttl=<seconds>, 1 s to a year.
struct TtlParam {
  std::optional<std::chrono::seconds> ttl;
  std::string error;  // non-empty: not usable
};
TtlParam ttl_param(const AppRoute& route);

}  // namespace opencode_cache::server::app
