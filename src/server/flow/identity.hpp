// Who is calling (the gateway user, from a gateway API key) and with which upstream
// credential; the headers that go to the provider.
#pragma once

#include <optional>
#include <string>

#include "server/config/server_config.hpp"
#include "server/http/exchange.hpp"

namespace opencode_cache::server::flow {

// The header a client sends its gateway key in when Authorization carries the provider's
// key (a provider without an injected key). With an injected key, Authorization may carry
// the gateway key instead.
inline constexpr std::string_view gateway_key_header = "x-opencode-cache-key";

// The user for a request: "local" when no keys are configured; nullopt for a missing or
// unknown key (401).
std::optional<std::string> authenticate(const ServerConfig& config, const Provider& provider,
                                        const http::Headers& headers);

// The credential the provider will see (injected or the client's: a Bearer token, x-api-key,
// or both together when both are sent), for the cache scope.
std::string upstream_credential(const Provider& provider, const http::Headers& headers);

// The client's headers minus hop-by-hop fields and the gateway's own (x-api-key,
// anthropic-version and anthropic-beta pass), with the provider's key injected when one is
// configured: as a Bearer token, and in x-api-key for a client that sent one; an Anthropic
// client (anthropic-version) gets it in x-api-key only. Identity encoding so that bodies stay
// recordable.
http::Headers upstream_headers(const ServerConfig& config, const Provider& provider,
                               const http::Headers& headers);

}  // namespace opencode_cache::server::flow
