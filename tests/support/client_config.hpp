#pragma once

// Client configurations the suites start from.

#include <chrono>

#include "opencode_cache/valkey/client.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {

// A client of `server` with the library's defaults.
inline valkey::ClientConfig client_config(const ValkeyServer& server) {
  valkey::ClientConfig config;
  config.host = server.host();
  config.port = server.port();
  return config;
}

// One that is back within about 100 ms of a restart or a killed connection and never gives up:
// for tests that take the server away and wait for the client to return.
inline valkey::ClientConfig quick_reconnect_config(const ValkeyServer& server) {
  valkey::ClientConfig config = client_config(server);
  config.reconnect.base_delay = std::chrono::milliseconds(20);
  config.reconnect.max_delay = std::chrono::milliseconds(100);
  config.reconnect.max_attempts = 0;
  return config;
}

}  // namespace opencode_cache::testing
