// The app API's resources, one handler each (method, authentication and the route's own
// validity are checked before they are called). Valkey failures reach the caller as
// valkey::Error, which AppApi answers with 503.
#pragma once

#include "server/app/app_exchange.hpp"

namespace opencode_cache::server::app {

// /api/sessions/{id}: GET, PUT (replace), PATCH (merge), DELETE.
Task<void> serve_session(AppContext& context, const AppRoute& route, const Request& request,
                         Responder& responder);
// /api/context/{id} and /api/metadata/{id}: GET, PUT (?ttl=), DELETE.
Task<void> serve_document(AppContext& context, const AppRoute& route, const Request& request,
                          Responder& responder);
// /api/cache/{key}: GET (?wait=ms), PUT (?ttl=, releasing the caller's lease).
Task<void> serve_cache_value(AppContext& context, const AppRoute& route, const Request& request,
                             Responder& responder);
// /api/cache/{key}/lease: POST takes it, DELETE gives it up.
Task<void> serve_cache_lease(AppContext& context, const AppRoute& route, const Request& request,
                             Responder& responder);
// POST /api/cache/invalidate (admin).
Task<void> serve_invalidate(AppContext& context, const Request& request, Responder& responder);
// GET /api/cache/stats (admin).
Task<void> serve_stats(AppContext& context, Responder& responder);
// GET /api/ratelimit/{type}/{id}: a peek, nothing consumed.
Task<void> serve_ratelimit(AppContext& context, const AppRoute& route, Responder& responder);

// GET /api/events: Server-Sent Events, resumable with Last-Event-ID.
Task<void> serve_events(AppContext& context, const Request& request, Responder& responder);

}  // namespace opencode_cache::server::app
