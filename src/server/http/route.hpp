// Which handler a request target belongs to: the gateway's own endpoints, the app's API
// (/api/...), or a provider's API (/v1/... for the default provider, /<provider>/v1/... for a
// named one).
#pragma once

#include <string>
#include <string_view>

#include "server/config/server_config.hpp"
#include "server/http/error_response.hpp"

namespace opencode_cache::server::http {

enum class Endpoint {
  healthz,
  readyz,
  metrics,
  dashboard,  // GET /: the operator's page (server/dashboard)
  app_api,    // /api/...: the app's API (server/app)
  chat_completions,
  responses,
  messages,
  embeddings,
  models,
  passthrough,
  not_found
};

struct Route {
  Endpoint endpoint = Endpoint::not_found;
  const Provider* provider = nullptr;
  // The target to send upstream: the provider's base path, the API path after /v1, the query.
  std::string upstream_target;
  // For metrics: "/v1/chat/completions" and so on, never a raw client path.
  std::string_view name = "unknown";
};

Route route(const ServerConfig& config, std::string_view target);

// The method an endpoint takes (passthrough: any; empty result).
std::string_view allowed_method(Endpoint endpoint);

// The shape of the gateway's own errors on an endpoint: the API's the client speaks there.
ErrorStyle error_style(Endpoint endpoint);

}  // namespace opencode_cache::server::http
