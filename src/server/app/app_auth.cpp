#include "server/app/app_auth.hpp"

#include "opencode_cache/cache/cache_keys.hpp"
#include "server/flow/identity.hpp"

namespace opencode_cache::server::app {
namespace {

std::string_view bearer_token(const http::Headers& headers) {
  const std::string* authorization = http::find_header(headers, "authorization");
  if (authorization == nullptr) return {};
  const std::string_view value = *authorization;
  if (value.size() > 7 && (value.starts_with("Bearer ") || value.starts_with("bearer "))) {
    return value.substr(7);
  }
  return {};
}

// Equal digests of equal length: the time taken says nothing about how much of a guess was
// right.
bool same_secret(std::string_view given, std::string_view expected) {
  const std::string a = cache::sha256_hex(given);
  const std::string b = cache::sha256_hex(expected);
  unsigned char difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return difference == 0;
}

}  // namespace

std::optional<std::string> authenticate_user(const ServerConfig& config,
                                             const http::Headers& headers) {
  if (config.api_keys.empty()) return "local";
  std::string_view key;
  if (const std::string* header = http::find_header(headers, flow::gateway_key_header)) {
    key = *header;
  } else {
    key = bearer_token(headers);
  }
  if (key.empty()) return std::nullopt;
  const auto it = config.api_keys.find(cache::sha256_hex(key));
  if (it == config.api_keys.end()) return std::nullopt;
  return it->second;
}

AdminCheck check_admin(const AppApiConfig& config, const http::Headers& headers) {
  if (config.admin_token.empty()) return AdminCheck::disabled;
  const std::string_view token = bearer_token(headers);
  if (token.empty()) return AdminCheck::missing;
  return same_secret(token, config.admin_token) ? AdminCheck::granted : AdminCheck::wrong;
}

}  // namespace opencode_cache::server::app
