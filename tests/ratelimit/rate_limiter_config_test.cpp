// Limits per type from code and from the environment; bad values are named.

#include "opencode_cache/ratelimit/rate_limiter_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

namespace opencode_cache::ratelimit {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

RateLimiterConfig from(const std::map<std::string, std::string>& environment) {
  return RateLimiterConfig::from_env([&](const char* name) -> const char* {
    const auto found = environment.find(name);
    return found == environment.end() ? nullptr : found->second.c_str();
  });
}

std::string error_from(const std::map<std::string, std::string>& environment) {
  try {
    from(environment);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST(RateLimitConfig, DefaultsAreTheSeedsLimits) {
  const RateLimiterConfig config = from({});
  ASSERT_EQ(config.limits.size(), 3u);
  EXPECT_EQ(config.limits.at("user"), (LimitConfig{.window = 60s, .max_requests = 60}));
  EXPECT_EQ(config.limits.at("provider"), (LimitConfig{.window = 60s, .max_requests = 100}));
  EXPECT_EQ(config.limits.at("global").max_requests, 1000u);
  EXPECT_EQ(config.limits.at("global").window, 1s);
  EXPECT_EQ(config.limits.at("global").algorithm, Algorithm::gcra);
  EXPECT_EQ(config.default_type, "user");
  EXPECT_FALSE(config.strict_types);
  EXPECT_EQ(config.key_prefix, "opencode");
  EXPECT_FALSE(config.local_fallback.has_value());
  EXPECT_EQ(config.limits.at("user").on_unavailable, FailurePolicy::fail_open);
}

TEST(RateLimitConfig, EnvironmentOverridesEachPart) {
  const RateLimiterConfig config = from({{"RATE_LIMIT_USER_MAX", "30"},
                                         {"RATE_LIMIT_USER_WINDOW_MS", "1500"},
                                         {"RATE_LIMIT_USER_ALGORITHM", "gcra"},
                                         {"RATE_LIMIT_PROVIDER_ON_UNAVAILABLE", "fail_closed"},
                                         {"RATE_LIMIT_TYPES", "model, tool-call"},
                                         {"RATE_LIMIT_TOOL_CALL_MAX", "5"},
                                         {"RATE_LIMIT_STRICT_TYPES", "true"},
                                         {"RATE_LIMIT_KEY_PREFIX", "staging"},
                                         {"RATE_LIMIT_TIMEOUT_MS", "250"},
                                         {"RATE_LIMIT_LOCAL_SHARE", "0.25"}});
  EXPECT_EQ(config.limits.at("user"),
            (LimitConfig{.window = 1500ms, .max_requests = 30, .algorithm = Algorithm::gcra}));
  EXPECT_EQ(config.limits.at("provider").on_unavailable, FailurePolicy::fail_closed);
  // New types start from the default type's limit (the user limit as configured above).
  EXPECT_EQ(config.limits.at("model"), config.limits.at("user"));
  EXPECT_EQ(config.limits.at("tool-call").max_requests, 5u);
  EXPECT_EQ(config.limits.at("tool-call").window, 1500ms);
  EXPECT_TRUE(config.strict_types);
  EXPECT_EQ(config.key_prefix, "staging");
  EXPECT_EQ(config.timeout, 250ms);
  ASSERT_TRUE(config.local_fallback.has_value());
  EXPECT_DOUBLE_EQ(config.local_fallback->share, 0.25);
}

TEST(RateLimitConfig, InvalidValuesNameTheirVariable) {
  EXPECT_THAT(error_from({{"RATE_LIMIT_USER_MAX", "sixty"}}),
              HasSubstr("RATE_LIMIT_USER_MAX: expected a positive integer, got 'sixty'"));
  EXPECT_THAT(error_from({{"RATE_LIMIT_GLOBAL_WINDOW_MS", "0"}}),
              HasSubstr("RATE_LIMIT_GLOBAL_WINDOW_MS"));
  EXPECT_THAT(error_from({{"RATE_LIMIT_USER_MAX", "-1"}}), HasSubstr("RATE_LIMIT_USER_MAX"));
  EXPECT_THAT(error_from({{"RATE_LIMIT_PROVIDER_ALGORITHM", "fixed_window"}}),
              HasSubstr("RATE_LIMIT_PROVIDER_ALGORITHM: expected sliding_log or gcra"));
  EXPECT_THAT(error_from({{"RATE_LIMIT_USER_ON_UNAVAILABLE", "maybe"}}),
              HasSubstr("RATE_LIMIT_USER_ON_UNAVAILABLE"));
  EXPECT_THAT(error_from({{"RATE_LIMIT_STRICT_TYPES", "yes"}}),
              HasSubstr("RATE_LIMIT_STRICT_TYPES: expected true or false"));
  EXPECT_THAT(error_from({{"RATE_LIMIT_LOCAL_SHARE", "2"}}), HasSubstr("RATE_LIMIT_LOCAL_SHARE"));
  EXPECT_THAT(error_from({{"RATE_LIMIT_TYPES", "user,bad:type"}}), HasSubstr("RATE_LIMIT_TYPES"));
  EXPECT_THAT(error_from({{"RATE_LIMIT_DEFAULT_TYPE", "nobody"}}),
              HasSubstr("RATE_LIMIT_DEFAULT_TYPE"));
  // Valid alone, impossible together: more requests than microseconds in the window.
  EXPECT_THAT(error_from({{"RATE_LIMIT_USER_MAX", "5000"}, {"RATE_LIMIT_USER_WINDOW_MS", "1"}}),
              HasSubstr("RATE_LIMIT_USER_MAX / RATE_LIMIT_USER_WINDOW_MS"));
}

TEST(RateLimitConfig, ValidateRejectsWhatWouldMakeKeysOrLimitsWrong) {
  RateLimiterConfig config;
  config.limits["a:b"] = LimitConfig{};
  EXPECT_THROW(validate(config), std::invalid_argument);
  config = RateLimiterConfig{};
  config.limits["user"].max_requests = 0;
  EXPECT_THROW(validate(config), std::invalid_argument);
  config = RateLimiterConfig{};
  config.default_type = "missing";
  EXPECT_THROW(validate(config), std::invalid_argument);
  config = RateLimiterConfig{};
  config.local_fallback = LocalFallbackConfig{.share = 0.0};
  EXPECT_THROW(validate(config), std::invalid_argument);
  EXPECT_NO_THROW(validate(RateLimiterConfig{}));
}

}  // namespace
}  // namespace opencode_cache::ratelimit
