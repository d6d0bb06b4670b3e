// The app API's settings from the environment: plain functions, no sockets.

#include "server/config/app_api_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "server/config/server_config.hpp"

namespace opencode_cache::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Env = std::map<std::string, std::string>;

AppApiConfig config_from(const Env& env) {
  return AppApiConfig::from_env([&](const char* name) -> const char* {
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

TEST(AppApiConfig, DefaultsAdmitTheWebUiAndNoAdmin) {
  const auto config = config_from({});
  EXPECT_EQ(config.admin_token, "");
  EXPECT_THAT(config.cors_origins, ElementsAre("http://localhost:5173"));
  EXPECT_EQ(config.max_value_bytes, 1024u * 1024u);
  EXPECT_EQ(config.max_wait, std::chrono::milliseconds(30000));
  EXPECT_EQ(config.events_history, 1000u);
  EXPECT_EQ(config.events_max_clients, 256u);
  EXPECT_EQ(config.events_heartbeat, std::chrono::milliseconds(15000));
}

TEST(AppApiConfig, ReadsEveryVariable) {
  const auto config =
      config_from({{"OPENCODE_CACHE_ADMIN_TOKEN", "0123456789abcdef"},
                   {"OPENCODE_CACHE_CORS_ORIGINS", " https://a.example ,http://b:8080"},
                   {"OPENCODE_CACHE_API_MAX_VALUE_BYTES", "4096"},
                   {"OPENCODE_CACHE_API_MAX_WAIT_MS", "2500"},
                   {"OPENCODE_CACHE_EVENTS_HISTORY", "50"},
                   {"OPENCODE_CACHE_EVENTS_MAX_CLIENTS", "8"},
                   {"OPENCODE_CACHE_EVENTS_HEARTBEAT_MS", "500"}});
  EXPECT_EQ(config.admin_token, "0123456789abcdef");
  EXPECT_THAT(config.cors_origins, ElementsAre("https://a.example", "http://b:8080"));
  EXPECT_EQ(config.max_value_bytes, 4096u);
  EXPECT_EQ(config.max_wait, std::chrono::milliseconds(2500));
  EXPECT_EQ(config.events_history, 50u);
  EXPECT_EQ(config.events_max_clients, 8u);
  EXPECT_EQ(config.events_heartbeat, std::chrono::milliseconds(500));
  EXPECT_THAT(config_from({{"OPENCODE_CACHE_CORS_ORIGINS", "*"}}).cors_origins, ElementsAre("*"));
}

TEST(AppApiConfig, UnusableValuesNameTheirVariable) {
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_ADMIN_TOKEN", "short"}}),
              HasSubstr("OPENCODE_CACHE_ADMIN_TOKEN: use at least 16 characters"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_CORS_ORIGINS", "localhost:5173"}}),
              HasSubstr("OPENCODE_CACHE_CORS_ORIGINS: 'localhost:5173' is not an http(s) origin"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_CORS_ORIGINS", "http://localhost:5173/"}}),
              HasSubstr("without a path"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_CORS_ORIGINS", " , "}}), HasSubstr("no origin given"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_API_MAX_VALUE_BYTES", "0"}}),
              HasSubstr("OPENCODE_CACHE_API_MAX_VALUE_BYTES: '0' is not a positive integer"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_API_MAX_WAIT_MS", "1s"}}),
              HasSubstr("OPENCODE_CACHE_API_MAX_WAIT_MS"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_EVENTS_HISTORY", "0"}}),
              HasSubstr("OPENCODE_CACHE_EVENTS_HISTORY: '0' is not a positive integer"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_EVENTS_MAX_CLIENTS", "-1"}}),
              HasSubstr("OPENCODE_CACHE_EVENTS_MAX_CLIENTS"));
  EXPECT_THAT(error_of({{"OPENCODE_CACHE_EVENTS_HEARTBEAT_MS", "15s"}}),
              HasSubstr("OPENCODE_CACHE_EVENTS_HEARTBEAT_MS"));
}

TEST(AppApiConfig, IsPartOfTheServersConfiguration) {
  const auto config = ServerConfig::from_env([](const char* name) -> const char* {
    return std::string_view(name) == "OPENCODE_CACHE_API_MAX_WAIT_MS" ? "100" : nullptr;
  });
  EXPECT_EQ(config.app.max_wait, std::chrono::milliseconds(100));
  EXPECT_THAT(help_text(), HasSubstr("OPENCODE_CACHE_ADMIN_TOKEN"));
  EXPECT_THAT(help_text(), HasSubstr("OPENCODE_CACHE_CORS_ORIGINS"));
}

}  // namespace
}  // namespace opencode_cache::server
