// The server's configuration from the environment, routes and request cache controls: plain
// functions, no sockets.

#include "server/config/server_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "server/flow/cache_controls.hpp"
#include "server/http/route.hpp"

namespace opencode_cache::server {
namespace {

using ::testing::HasSubstr;
using Env = std::map<std::string, std::string>;

ServerConfig config_from(const Env& env) {
  return ServerConfig::from_env([&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

std::string error_of(const Env& env) {
  try {
    config_from(env);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ServerConfig, DefaultsListenOnLoopbackInFrontOfOpenAI) {
  const auto config = config_from({});
  EXPECT_EQ(config.listen_host, "127.0.0.1");
  EXPECT_EQ(config.listen_port, 3000);
  EXPECT_GE(config.threads, 1u);
  EXPECT_TRUE(config.default_provider.base.tls);
  EXPECT_EQ(config.default_provider.base.host, "api.openai.com");
  EXPECT_EQ(config.default_provider.base.port, 443);
  EXPECT_EQ(config.default_provider.base.path, "/v1");
  EXPECT_TRUE(config.api_keys.empty());
  EXPECT_EQ(config.rate_limits.timeout, std::chrono::milliseconds(100))
      << "a decision never waits seconds on Valkey";
}

TEST(ServerConfig, BadValuesNameTheirVariable) {
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_THREADS", "0"}}), HasSubstr("OPENCODE_CACHE_THREADS"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_LISTEN", "nowhere"}}), HasSubstr("OPENCODE_CACHE_LISTEN"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_LISTEN", "127.0.0.1:70000"}}),
              HasSubstr("OPENCODE_CACHE_LISTEN"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_UPSTREAM", "ftp://x"}}),
              HasSubstr("OPENCODE_CACHE_UPSTREAM"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_PROVIDERS", "a=http://x,a=http://y"}}),
              HasSubstr("given twice"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_API_KEYS", "short=alice"}}),
              HasSubstr("OPENCODE_CACHE_API_KEYS"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_SCOPE", "everyone"}}), HasSubstr("OPENCODE_CACHE_SCOPE"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_REPLAY_USAGE", "free"}}),
              HasSubstr("one of original, cached, zero"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_IDLE_TIMEOUT_MS", "-5"}}),
              HasSubstr("OPENCODE_CACHE_IDLE_TIMEOUT_MS"));
  EXPECT_THAT(error_of({{"VALKEY_PORT", "x"}}), HasSubstr("VALKEY_PORT"));
  EXPECT_THAT(error_of({{"CACHE_TTL_RESPONSE", "0"}}), HasSubstr("CACHE_TTL_RESPONSE"));
  EXPECT_THAT(error_of({{"RATE_LIMIT_USER_MAX", "x"}}), HasSubstr("RATE_LIMIT_USER_MAX"));
}

TEST(ServerConfig, SharedFlightSettings) {
  const auto defaults = config_from({});
  EXPECT_TRUE(defaults.shared_flight);
  EXPECT_EQ(defaults.flight_lease, std::chrono::milliseconds(3000));
  EXPECT_EQ(defaults.follow_timeout, std::chrono::milliseconds(60000));
  const auto set = config_from({{"OPENCODE_CACHE_SHARED_FLIGHT", "false"},
                                {"OPENCODE_CACHE_FLIGHT_LEASE_MS", "500"},
                                {"OPENCODE_CACHE_FOLLOW_TIMEOUT_MS", "1500"},
                                {"OPENCODE_CACHE_FLIGHT_MAX_BYTES", "1024"}});
  EXPECT_FALSE(set.shared_flight);
  EXPECT_EQ(set.flight_lease, std::chrono::milliseconds(500));
  EXPECT_EQ(set.follow_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(set.flight_max_bytes, 1024u);
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_FLIGHT_LEASE_MS", "10"}}),
              HasSubstr("OPENCODE_CACHE_FLIGHT_LEASE_MS"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_FOLLOW_TIMEOUT_MS", "soon"}}),
              HasSubstr("OPENCODE_CACHE_FOLLOW_TIMEOUT_MS"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_SHARED_FLIGHT", "maybe"}}),
              HasSubstr("OPENCODE_CACHE_SHARED_FLIGHT"));
  for (const char* name : {"OPENCODE_CACHE_SHARED_FLIGHT", "OPENCODE_CACHE_FLIGHT_LEASE_MS",
                           "OPENCODE_CACHE_FOLLOW_TIMEOUT_MS", "OPENCODE_CACHE_FLIGHT_MAX_BYTES"}) {
    EXPECT_THAT(help_text(), HasSubstr(name));
  }
}

TEST(ServerConfig, ReplayUsageDefaultsToOriginal) {
  EXPECT_EQ(config_from({}).replay_usage, "original");
  EXPECT_EQ(config_from({{"OPENCODE_CACHE_REPLAY_USAGE", "cached"}}).replay_usage, "cached");
}

TEST(ServerConfig, NonLoopbackNeedsTheOptIn) {
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_LISTEN", "0.0.0.0:3000"}}),
              HasSubstr("OPENCODE_CACHE_ALLOW_REMOTE"));
  const auto config = config_from(
      {{"OPENCODE_CACHE_LISTEN", "0.0.0.0:8080"}, {"OPENCODE_CACHE_ALLOW_REMOTE", "true"}});
  EXPECT_EQ(config.listen_port, 8080);
}

TEST(ServerConfig, NamedProvidersWithInjectedKeys) {
  const auto config =
      config_from({{"OPENCODE_CACHE_PROVIDERS",
                    "openrouter=https://openrouter.ai/api/v1, local-llm=http://127.0.0.1:8080/v1/"},
                   {"OPENCODE_CACHE_PROVIDER_LOCAL_LLM_API_KEY", "sk-local"}});
  ASSERT_EQ(config.providers.size(), 2u);
  const Provider* router = config.find_provider("openrouter");
  ASSERT_NE(router, nullptr);
  EXPECT_EQ(router->base.path, "/api/v1");
  EXPECT_EQ(router->api_key, "");
  const Provider* local = config.find_provider("local-llm");
  ASSERT_NE(local, nullptr);
  EXPECT_FALSE(local->base.tls);
  EXPECT_EQ(local->base.port, 8080);
  EXPECT_EQ(local->base.path, "/v1");
  EXPECT_EQ(local->api_key, "sk-local");
}

TEST(Route, DefaultAndNamedProvidersMapToTheUpstreamPath) {
  const auto config = config_from({{"OPENCODE_CACHE_UPSTREAM", "http://up:9/base/v1"},
                                   {"OPENCODE_CACHE_PROVIDERS", "p=https://p.example/api"}});
  auto chat = http::route(config, "/v1/chat/completions");
  EXPECT_EQ(chat.endpoint, http::Endpoint::chat_completions);
  EXPECT_EQ(chat.upstream_target, "/base/v1/chat/completions");
  auto named = http::route(config, "/p/v1/embeddings?x=1");
  EXPECT_EQ(named.endpoint, http::Endpoint::embeddings);
  EXPECT_EQ(named.provider->name, "p");
  EXPECT_EQ(named.upstream_target, "/api/embeddings?x=1");
  EXPECT_EQ(http::route(config, "/v1/files/abc").endpoint, http::Endpoint::passthrough);
  EXPECT_EQ(http::route(config, "/v1/models").endpoint, http::Endpoint::models);
  EXPECT_EQ(http::route(config, "/unknown/v1/models").endpoint, http::Endpoint::not_found);
  EXPECT_EQ(http::route(config, "/metrics").endpoint, http::Endpoint::metrics);
  EXPECT_EQ(http::route(config, "/").endpoint, http::Endpoint::dashboard);
  EXPECT_EQ(http::route(config, "/dashboard").endpoint, http::Endpoint::not_found);
}

TEST(Route, ResponsesAndMessagesAreTheirOwnEndpoints) {
  const auto config = config_from({{"OPENCODE_CACHE_UPSTREAM", "http://up:9/v1"},
                                   {"OPENCODE_CACHE_PROVIDERS", "anthropic=https://a.example/v1"}});
  const auto responses = http::route(config, "/v1/responses");
  EXPECT_EQ(responses.endpoint, http::Endpoint::responses);
  EXPECT_EQ(responses.name, "/v1/responses");
  EXPECT_EQ(responses.upstream_target, "/v1/responses");
  const auto messages = http::route(config, "/anthropic/v1/messages");
  EXPECT_EQ(messages.endpoint, http::Endpoint::messages);
  EXPECT_EQ(messages.name, "/v1/messages");
  EXPECT_EQ(messages.provider->name, "anthropic");
  EXPECT_EQ(http::allowed_method(http::Endpoint::messages), "POST");
  // Sub-resources are not the API itself.
  EXPECT_EQ(http::route(config, "/v1/messages/count_tokens").endpoint, http::Endpoint::passthrough);
  EXPECT_EQ(http::route(config, "/v1/responses/resp_1").endpoint, http::Endpoint::passthrough);
}

TEST(CacheControls, DirectivesAndTtl) {
  http::Headers headers;
  headers.emplace_back("cache-control", "No-Cache, max-age=30");
  headers.emplace_back("x-cache-ttl", "120");
  const auto controls = flow::cache_controls(headers);
  EXPECT_TRUE(controls.refresh);
  EXPECT_FALSE(controls.no_store);
  EXPECT_EQ(controls.max_age, std::chrono::seconds(30));
  EXPECT_EQ(controls.ttl, std::chrono::seconds(120));
  http::Headers junk;
  junk.emplace_back("cache-control", "no-store, max-age=soon");
  junk.emplace_back("x-cache-ttl", "0");
  const auto other = flow::cache_controls(junk);
  EXPECT_TRUE(other.no_store);
  EXPECT_FALSE(other.max_age.has_value());
  EXPECT_FALSE(other.ttl.has_value());
}

}  // namespace
}  // namespace opencode_cache::server
