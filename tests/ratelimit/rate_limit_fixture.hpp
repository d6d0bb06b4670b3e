#pragma once

// What the rate limiter's server tests share: a client configuration for the test's server,
// a limiter configuration with just the limits a test names, a clock the test moves by hand for
// the script's time override, and the sorted set read back with valkey-cli.

#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "support/valkey_server.hpp"

namespace opencode_cache::testing {

using namespace std::chrono_literals;
using ratelimit::Algorithm;
using ratelimit::Decision;
using ratelimit::FailurePolicy;
using ratelimit::LimitConfig;
using ratelimit::LimitRef;
using ratelimit::RateLimiter;
using ratelimit::RateLimiterConfig;
using SystemTime = std::chrono::system_clock::time_point;

inline valkey::ClientConfig client_config_for(const ValkeyServer& server) {
  valkey::ClientConfig config;
  config.host = server.host();
  config.port = server.port();
  config.command_timeout = 2000ms;
  config.connect_timeout = 500ms;
  config.reconnect.base_delay = 10ms;
  config.reconnect.max_delay = 50ms;
  return config;
}

// Only the given limits; the first is the default type.
inline RateLimiterConfig limits_config(
    const std::vector<std::pair<std::string, LimitConfig>>& limits) {
  RateLimiterConfig config;
  config.limits.clear();
  for (const auto& [type, limit] : limits) config.limits[type] = limit;
  config.default_type = limits.front().first;
  return config;
}

inline RateLimiterConfig one_limit_config(const std::string& type, LimitConfig limit) {
  return limits_config({{type, limit}});
}

// The script's time, moved only by the test: shared by the limiters that use it.
class ManualClock {
 public:
  // Whole milliseconds, like the sorted set's scores.
  explicit ManualClock(SystemTime start = SystemTime(1'700'000'000'000ms))
      : now_(std::make_shared<SystemTime>(start)) {}

  SystemTime now() const { return *now_; }
  void advance(std::chrono::milliseconds by) { *now_ += by; }
  void set(SystemTime time) { *now_ = time; }
  std::function<SystemTime()> function() const {
    return [now = now_] { return *now; };
  }

 private:
  std::shared_ptr<SystemTime> now_;
};

inline std::int64_t unix_ms(SystemTime time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

struct Entry {
  std::string member;
  std::int64_t score;
};

// ZRANGE key 0 -1 WITHSCORES through valkey-cli: members and scores, oldest first.
inline std::vector<Entry> sorted_set(const ValkeyServer& server, const std::string& key) {
  std::istringstream lines(server.cli({"ZRANGE", key, "0", "-1", "WITHSCORES"}));
  std::vector<Entry> entries;
  std::string member, score;
  while (std::getline(lines, member) && std::getline(lines, score)) {
    entries.push_back({member, std::stoll(score)});
  }
  return entries;
}

// The server's clock in milliseconds, by the TIME command.
inline std::int64_t server_time_ms(const ValkeyServer& server) {
  std::istringstream lines(server.cli({"TIME"}));
  std::string seconds, micros;
  std::getline(lines, seconds);
  std::getline(lines, micros);
  return std::stoll(seconds) * 1000 + std::stoll(micros) / 1000;
}

inline int count_allowed(const std::vector<Decision>& decisions) {
  int allowed = 0;
  for (const Decision& decision : decisions) allowed += decision.allowed ? 1 : 0;
  return allowed;
}

}  // namespace opencode_cache::testing
