// /api/sessions/{id}, over CacheService's sessions: state, not cache, so every failure of
// Valkey is an answer (503), never a quiet miss.
#include <boost/json/serialize.hpp>

#include "server/app/app_routes.hpp"

namespace opencode_cache::server::app {
namespace {

std::string no_session(const std::string& id) {
  return "no session '" + id + "'";
}

// A session is a JSON object; nullopt once the error has been answered.
Task<std::optional<boost::json::object>> read_session_body(AppContext& context,
                                                           const Request& request,
                                                           Responder& responder) {
  auto body = co_await read_json_body(context, request, responder);
  if (!body) co_return std::nullopt;
  if (!body->is_object()) {
    co_await send_error(responder, 400, "invalid_session", "a session must be a JSON object");
    co_return std::nullopt;
  }
  co_return std::move(body->as_object());
}

// Every open UI learns that the session changed (docs/app-api.md, "Events").
Task<void> announce(AppContext& context, std::string action, const std::string& id) {
  boost::json::object data;
  data["action"] = action;
  data["id"] = id;
  const auto published = co_await context.events.publish("session", std::move(data));
  (void)published;  // a change the history could not take was logged; the write stands
}

}  // namespace

Task<void> serve_session(AppContext& context, const AppRoute& route, const Request& request,
                         Responder& responder) {
  cache::CacheService& cache = context.cache;
  if (request.method == "GET") {
    auto session = co_await cache.get_session(route.id);
    if (!session) {
      co_await send_error(responder, 404, "not_found", no_session(route.id));
    } else {
      co_await send_json(responder, 200, *session);
    }
    co_return;
  }
  if (request.method == "DELETE") {
    if (co_await cache.delete_session(route.id)) {
      co_await announce(context, "delete", route.id);
      co_await send_done(responder);
    } else {
      co_await send_error(responder, 404, "not_found", no_session(route.id));
    }
    co_return;
  }
  auto body = co_await read_session_body(context, request, responder);
  if (!body) co_return;
  if (request.method == "PUT") {
    co_await cache.set_session(route.id, *body);
    co_await announce(context, "put", route.id);
    co_await send_done(responder);
    co_return;
  }
  // PATCH: merged on the server atomically, concurrent patches of other fields kept.
  if (co_await cache.update_session(route.id, *body)) {
    co_await announce(context, "patch", route.id);
    co_await send_done(responder);
  } else {
    co_await send_error(responder, 404, "not_found", no_session(route.id));
  }
}

}  // namespace opencode_cache::server::app
