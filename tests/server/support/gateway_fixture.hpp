#pragma once
// The gateway end to end, for tests: a real valkey-server (ValkeyTest), the fake provider, the
// gateway on its own threads, and plain HTTP clients, as opencode would talk to it.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/config/server_config.hpp"
#include "server/http/server.hpp"
#include "server/support/fake_upstream.hpp"
#include "server/support/http_client.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {

using Env = std::map<std::string, std::string>;

// Waits for a condition, checking every millisecond; false after `limit`.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts) out += part;
  return out;
}

class GatewayTest : public ValkeyTest {
 protected:
  void start(Env overrides = {}) {
    Env env = {{"OPENCODE_CACHE_LISTEN", "127.0.0.1:0"},
               {"OPENCODE_CACHE_THREADS", "1"},
               {"OPENCODE_CACHE_UPSTREAM", upstream.base_url()},
               {"VALKEY_HOST", server().host()},
               {"VALKEY_PORT", std::to_string(server().port())}};
    for (auto& [name, value] : overrides) env[name] = value;
    auto config = server::ServerConfig::from_env([&](const char* name) -> const char* {
      const auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    });
    config.valkey.reconnect.base_delay = std::chrono::milliseconds(20);
    config.valkey.reconnect.max_delay = std::chrono::milliseconds(100);
    config.drain_timeout = std::chrono::seconds(2);
    gateway = std::make_unique<server::http::Server>(std::move(config));
    gateway->start();
  }

  void TearDown() override {
    upstream.release();
    gateway.reset();
  }

  HttpClient client() { return HttpClient(gateway->port()); }

  std::string metric(const std::string& name) {
    const std::string text = client().request("GET", "/metrics").body;
    const std::size_t at = text.find("\n" + name + " ");
    if (at == std::string::npos) return "";
    const std::size_t start = at + name.size() + 2;
    return text.substr(start, text.find('\n', start) - start);
  }

  std::uint64_t count(const std::string& name) {
    const std::string value = metric(name);
    return value.empty() ? 0 : std::stoull(value);
  }

  FakeUpstream upstream;
  std::unique_ptr<server::http::Server> gateway;
};

}  // namespace opencode_cache::testing
