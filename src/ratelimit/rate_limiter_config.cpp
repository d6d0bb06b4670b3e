#include "opencode_cache/ratelimit/rate_limiter_config.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace opencode_cache::ratelimit {

namespace {

using namespace std::chrono_literals;

// Reads RATE_LIMIT_* variables; every error names the variable and the value it could not use.
class EnvReader {
 public:
  explicit EnvReader(const std::function<const char*(const char*)>& getenv) : getenv_(getenv) {}

  std::optional<std::string> text(const std::string& name) const {
    const char* value = getenv_(name.c_str());
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  }

  std::optional<std::uint64_t> positive(const std::string& name) const {
    return number(name, 1, "a positive integer");
  }

  std::optional<std::uint64_t> number(const std::string& name, std::uint64_t least,
                                      std::string_view expected) const {
    const auto value = text(name);
    if (!value) return std::nullopt;
    std::uint64_t out = 0;
    const auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), out);
    if (error != std::errc() || end != value->data() + value->size() || out < least) {
      fail(name, *value, expected);
    }
    return out;
  }

  std::optional<bool> flag(const std::string& name) const {
    const auto value = text(name);
    if (!value) return std::nullopt;
    if (*value == "true" || *value == "1") return true;
    if (*value == "false" || *value == "0") return false;
    fail(name, *value, "true or false");
  }

  std::optional<double> fraction(const std::string& name) const {
    const auto value = text(name);
    if (!value) return std::nullopt;
    char* end = nullptr;
    const double out = std::strtod(value->c_str(), &end);
    if (end != value->c_str() + value->size() || !(out > 0.0 && out <= 1.0)) {
      fail(name, *value, "a number in (0, 1]");
    }
    return out;
  }

  template <class Enum>
  std::optional<Enum> choice(const std::string& name,
                             std::optional<Enum> (*parse)(std::string_view) noexcept,
                             std::string_view expected) const {
    const auto value = text(name);
    if (!value) return std::nullopt;
    const auto parsed = parse(*value);
    if (!parsed) fail(name, *value, expected);
    return parsed;
  }

  [[noreturn]] static void fail(const std::string& name, const std::string& value,
                                std::string_view expected) {
    throw std::invalid_argument(name + ": expected " + std::string(expected) + ", got '" + value +
                                "'");
  }

 private:
  const std::function<const char*(const char*)>& getenv_;
};

// "user" -> "RATE_LIMIT_USER_", "tool-call" -> "RATE_LIMIT_TOOL_CALL_".
std::string variable_prefix(std::string_view type) {
  std::string out = "RATE_LIMIT_";
  for (char c : type) {
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out + "_";
}

bool is_env_type_name(std::string_view type) {
  if (type.empty()) return false;
  for (char c : type) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string> comma_separated(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    out.emplace_back(item);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return out;
}

void read_limit(const std::string& type, LimitConfig& limit, const EnvReader& env) {
  const std::string prefix = variable_prefix(type);
  if (auto max = env.positive(prefix + "MAX")) limit.max_requests = *max;
  if (auto window = env.positive(prefix + "WINDOW_MS")) {
    limit.window = std::chrono::milliseconds(*window);
  }
  if (auto algorithm = env.choice(prefix + "ALGORITHM", &parse_algorithm, "sliding_log or gcra")) {
    limit.algorithm = *algorithm;
  }
  if (auto policy = env.choice(prefix + "ON_UNAVAILABLE", &parse_failure_policy,
                               "fail_open or fail_closed")) {
    limit.on_unavailable = *policy;
  }
  // A limit the variables made invalid (say 10 per 0.001 ms) is reported by its variables.
  validate(limit, prefix + "MAX / " + prefix + "WINDOW_MS");
}

// Types named in RATE_LIMIT_TYPES start from the default type's limit (as the environment set
// it), or from LimitConfig's 60 per minute when the default type is itself a new one.
void add_env_types(RateLimiterConfig& config, const EnvReader& env) {
  const auto types = env.text("RATE_LIMIT_TYPES");
  if (!types) return;
  const auto base = config.limits.find(config.default_type);
  const LimitConfig start = base == config.limits.end() ? LimitConfig{} : base->second;
  for (const std::string& type : comma_separated(*types)) {
    if (!is_env_type_name(type)) {
      EnvReader::fail("RATE_LIMIT_TYPES", *types, "type names of a-z, 0-9, '_' and '-'");
    }
    if (config.limits.contains(type)) continue;
    LimitConfig limit = start;
    read_limit(type, limit, env);
    config.limits.emplace(type, limit);
  }
}

void read_local_fallback(RateLimiterConfig& config, const EnvReader& env) {
  const auto enabled = env.flag("RATE_LIMIT_LOCAL_FALLBACK");
  const auto share = env.fraction("RATE_LIMIT_LOCAL_SHARE");
  if (enabled == false) {
    config.local_fallback.reset();
    return;
  }
  if (enabled || share) config.local_fallback.emplace();
  if (share) config.local_fallback->share = *share;
}

}  // namespace

std::map<std::string, LimitConfig, std::less<>> default_limits() {
  return {
      {"user", {.window = 60s, .max_requests = 60}},
      {"provider", {.window = 60s, .max_requests = 100}},
      {"global", {.window = 1s, .max_requests = 1000, .algorithm = Algorithm::gcra}},
  };
}

RateLimiterConfig RateLimiterConfig::from_env() {
  return from_env([](const char* name) { return std::getenv(name); });
}

RateLimiterConfig RateLimiterConfig::from_env(
    const std::function<const char*(const char*)>& getenv) {
  const EnvReader env(getenv);
  RateLimiterConfig config;
  if (auto type = env.text("RATE_LIMIT_DEFAULT_TYPE")) config.default_type = *type;
  for (auto& [type, limit] : config.limits) read_limit(type, limit, env);
  add_env_types(config, env);
  if (auto strict = env.flag("RATE_LIMIT_STRICT_TYPES")) config.strict_types = *strict;
  if (auto prefix = env.text("RATE_LIMIT_KEY_PREFIX")) config.key_prefix = *prefix;
  if (auto timeout = env.number("RATE_LIMIT_TIMEOUT_MS", 0, "a non-negative integer")) {
    config.timeout = std::chrono::milliseconds(*timeout);
  }
  if (auto batch = env.number("RATE_LIMIT_MAX_BATCH", 1, "a positive integer")) {
    config.max_batch = static_cast<std::size_t>(*batch);
  }
  read_local_fallback(config, env);
  if (!config.limits.contains(config.default_type)) {
    EnvReader::fail("RATE_LIMIT_DEFAULT_TYPE", config.default_type,
                    "a type with a limit (user, provider, global or one in RATE_LIMIT_TYPES)");
  }
  validate(config);
  return config;
}

void validate(const RateLimiterConfig& config) {
  for (const auto& [type, limit] : config.limits) {
    if (type.empty() || type.find(':') != std::string::npos) {
      throw std::invalid_argument("rate limit type '" + type +
                                  "': must be non-empty and hold no ':' (keys are "
                                  "<prefix>:ratelimit:<type>:<id>)");
    }
    validate(limit, "rate limit '" + type + "'");
  }
  if (!config.limits.contains(config.default_type)) {
    throw std::invalid_argument("default rate limit type '" + config.default_type +
                                "' has no limit");
  }
  if (config.key_prefix.empty()) throw std::invalid_argument("rate limit key prefix is empty");
  if (config.max_batch < 1) throw std::invalid_argument("rate limit max_batch must be at least 1");
  if (config.local_fallback) {
    const double share = config.local_fallback->share;
    if (!(share > 0.0 && share <= 1.0)) {
      throw std::invalid_argument("local fallback share must be in (0, 1]");
    }
    if (config.local_fallback->max_keys < 1) {
      throw std::invalid_argument("local fallback max_keys must be at least 1");
    }
  }
  if (!config.local_clock) throw std::invalid_argument("rate limiter local_clock is empty");
}

}  // namespace opencode_cache::ratelimit
