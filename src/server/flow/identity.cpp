#include "server/flow/identity.hpp"

#include "opencode_cache/cache/cache_keys.hpp"

namespace opencode_cache::server::flow {
namespace {

std::string_view bearer_token(const http::Headers& headers) {
  const std::string* authorization = http::find_header(headers, "authorization");
  if (authorization == nullptr) return {};
  std::string_view value = *authorization;
  if (value.size() > 7 && (value.starts_with("Bearer ") || value.starts_with("bearer "))) {
    return value.substr(7);
  }
  return {};
}

bool dropped_upstream(std::string_view name) {
  return name == "host" || name == "connection" || name == "keep-alive" ||
         name == "transfer-encoding" || name == "content-length" || name == "te" ||
         name == "upgrade" || name == "accept-encoding" || name == "proxy-connection" ||
         name == gateway_key_header || name == "x-cache-ttl" || name == "cache-control";
}

}  // namespace

std::optional<std::string> authenticate(const ServerConfig& config, const Provider& provider,
                                        const http::Headers& headers) {
  if (config.api_keys.empty()) return "local";
  std::string_view key;
  if (const std::string* header = http::find_header(headers, gateway_key_header)) {
    key = *header;
  } else if (!provider.api_key.empty()) {
    key = bearer_token(headers);
  }
  if (key.empty()) return std::nullopt;
  const auto it = config.api_keys.find(cache::sha256_hex(key));
  if (it == config.api_keys.end()) return std::nullopt;
  return it->second;
}

std::string upstream_credential(const Provider& provider, const http::Headers& headers) {
  if (!provider.api_key.empty()) return provider.api_key;
  const auto token = bearer_token(headers);
  const std::string* key = http::find_header(headers, "x-api-key");
  // Both reach the provider, and either may be the one it checks: both are the credential.
  if (!token.empty() && key != nullptr)
    return "bearer:" + std::string(token) + "\nx-api-key:" + *key;
  if (!token.empty()) return std::string(token);
  if (key != nullptr) return *key;
  return {};
}

http::Headers upstream_headers(const ServerConfig&, const Provider& provider,
                               const http::Headers& headers) {
  http::Headers out;
  // Anthropic's API takes its key in x-api-key only (a Bearer token there means OAuth).
  const bool anthropic = http::find_header(headers, "anthropic-version") != nullptr;
  bool had_api_key = false;
  for (const auto& [name, value] : headers) {
    if (dropped_upstream(name)) continue;
    if (!provider.api_key.empty() && name == "authorization") continue;
    if (name == "x-api-key") {
      had_api_key = true;
      if (!provider.api_key.empty()) continue;
    }
    out.emplace_back(name, value);
  }
  if (!provider.api_key.empty()) {
    if (!anthropic) out.emplace_back("authorization", "Bearer " + provider.api_key);
    if (had_api_key || anthropic) out.emplace_back("x-api-key", provider.api_key);
  }
  out.emplace_back("accept-encoding", "identity");
  return out;
}

}  // namespace opencode_cache::server::flow
