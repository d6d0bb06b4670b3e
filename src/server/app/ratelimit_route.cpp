// GET /api/ratelimit/{type}/{id}: what the limiter would decide now, nothing consumed.
#include <boost/json/object.hpp>

#include "server/app/app_routes.hpp"

namespace opencode_cache::server::app {
namespace {

std::string known_types(const ratelimit::RateLimiterConfig& config) {
  std::string out;
  for (const auto& [type, limit] : config.limits) {
    if (!out.empty()) out += ", ";
    out += type;
  }
  return out;
}

std::int64_t epoch_ms(std::chrono::system_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

boost::json::object decision_json(const ratelimit::Decision& decision, const std::string& id) {
  boost::json::object out;
  out["type"] = decision.type;
  out["id"] = id;
  out["allowed"] = decision.allowed;
  out["limit"] = decision.limit;
  out["remaining"] = decision.remaining;
  out["window_ms"] = decision.window.count();
  out["reset_after_ms"] = decision.reset_after.count();
  out["retry_after_ms"] = decision.retry_after.count();
  out["reset_at_ms"] = epoch_ms(decision.decided_at + decision.reset_after);
  out["degraded"] = decision.degraded;
  return out;
}

}  // namespace

Task<void> serve_ratelimit(AppContext& context, const AppRoute& route, Responder& responder) {
  const auto& config = context.limiter.config();
  // Only the configured types: a typo would otherwise peek at a key nobody counts.
  if (!config.limits.contains(route.type)) {
    co_await send_error(
        responder, 404, "unknown_type",
        "unknown rate-limit type '" + route.type + "'; known: " + known_types(config));
    co_return;
  }
  const ratelimit::Decision decision = co_await context.limiter.peek(route.type, route.id);
  co_await send_json(responder, 200, decision_json(decision, route.id));
}

}  // namespace opencode_cache::server::app
