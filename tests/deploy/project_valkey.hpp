#pragma once

// The cache and state Valkeys exactly as deployed: config/valkey.conf or config/valkey-state.conf
// started by scripts/valkey-serve (the launcher scripts/run and the container use), with the
// ACL it renders, on a harness-chosen port and temp dir.

#include <string>
#include <utility>
#include <vector>

#include "opencode_cache/valkey/client_config.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {

inline constexpr const char* kAppUser = "opencode";
inline constexpr const char* kAppPassword = "app secret";
inline constexpr const char* kAdminUser = "opencode-admin";
inline constexpr const char* kAdminPassword = "admin secret";

// role: "cache" or "state". `environment` adds to or overrides the launcher's variables
// (VALKEY_MAXMEMORY, ...). cli() runs as the admin user.
inline ValkeyServerOptions project_valkey(
    const std::string& role, std::vector<std::pair<std::string, std::string>> environment = {}) {
  ValkeyServerOptions options;
  options.command = {std::string(OPENCODE_CACHE_SOURCE_DIR) + "/scripts/valkey-serve", role};
  options.environment = {
      {"VALKEY_RUNTIME_DIR", "{dir}/run"},
      {"VALKEY_STATE_DIR", "{dir}/data"},
      {"VALKEY_APP_PASSWORD", kAppPassword},
      {"VALKEY_ADMIN_PASSWORD", kAdminPassword},
  };
  for (auto& entry : environment) options.environment.push_back(std::move(entry));
  options.username = kAdminUser;
  options.password = kAdminPassword;
  return options;
}

// The application's connection: the app user, quick reconnects.
inline valkey::ClientConfig app_config(const ValkeyServer& server) {
  using namespace std::chrono_literals;
  valkey::ClientConfig config;
  config.host = server.host();
  config.port = server.port();
  config.username = kAppUser;
  config.password = kAppPassword;
  config.reconnect.base_delay = 20ms;
  config.reconnect.max_delay = 100ms;
  config.reconnect.max_attempts = 0;
  return config;
}

}  // namespace opencode_cache::testing
