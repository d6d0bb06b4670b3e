// Settings of the app's HTTP API (/api/...): the admin token, the web UI's origins, and the
// bounds a browser's requests are held to (README: "The app's API").
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace opencode_cache::server {

struct AppApiConfig {
  // Authorization: Bearer <token> for invalidation and stats; empty: those routes refuse
  // everyone (403), so that an unset variable never leaves them open.
  std::string admin_token;
  // Origins whose pages may call the API (CORS); "*" admits any page.
  std::vector<std::string> cors_origins = {"http://localhost:5173"};
  // The largest JSON value a PUT or PATCH may carry (413 above).
  std::size_t max_value_bytes = 1024 * 1024;
  // The longest GET /api/cache/{key}?wait=ms holds a request; longer waits are cut to this.
  std::chrono::milliseconds max_wait{30000};
  // GET /api/events: the entries the history (a Valkey stream) keeps for clients that
  // resume, about (MAXLEN ~); the streams one thread serves (503 beyond); the interval of the
  // comments that keep idle streams open through proxies; the events one stream may have
  // waiting before it drops them and rereads the history.
  std::size_t events_history = 1000;
  std::size_t events_max_clients = 256;
  std::chrono::milliseconds events_heartbeat{15000};
  std::size_t events_max_queued = 1024;

  // OPENCODE_CACHE_ADMIN_TOKEN (at least 16 characters), OPENCODE_CACHE_CORS_ORIGINS
  // (comma-separated origins such as http://localhost:5173, or *),
  // OPENCODE_CACHE_API_MAX_VALUE_BYTES, OPENCODE_CACHE_API_MAX_WAIT_MS,
  // OPENCODE_CACHE_EVENTS_HISTORY, OPENCODE_CACHE_EVENTS_MAX_CLIENTS and
  // OPENCODE_CACHE_EVENTS_HEARTBEAT_MS over the defaults.
  // Throws std::invalid_argument naming the variable whose value cannot be used.
  static AppApiConfig from_env(const std::function<const char*(const char*)>& getenv);
};

}  // namespace opencode_cache::server
