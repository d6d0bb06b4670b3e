// Who may call the app's API: the gateway's keys for its routes, as for the proxy; the admin
// token for invalidation and stats.
#pragma once

#include <optional>
#include <string>

#include "server/config/server_config.hpp"
#include "server/http/exchange.hpp"

namespace opencode_cache::server::app {

// The gateway user: "local" when no keys are configured; nullopt for a missing or unknown
// key. The key comes in X-OpenCode-Cache-Key or, since no provider credential travels here,
// as Authorization: Bearer.
std::optional<std::string> authenticate_user(const ServerConfig& config,
                                             const http::Headers& headers);

enum class AdminCheck { granted, missing, wrong, disabled };

// Authorization: Bearer <OPENCODE_CACHE_ADMIN_TOKEN>, compared in constant time.
AdminCheck check_admin(const AppApiConfig& config, const http::Headers& headers);

}  // namespace opencode_cache::server::app
