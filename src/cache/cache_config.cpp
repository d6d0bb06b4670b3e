#include "opencode_cache/cache/cache_config.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace opencode_cache::cache {
namespace {

// A TTL from the environment: a positive whole number of seconds, nothing else.
Seconds parse_ttl(const char* name, std::string_view text) {
  long long seconds = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, seconds);
  if (text.empty() || ec != std::errc{} || ptr != end || seconds <= 0) {
    throw std::invalid_argument(std::string(name) + " must be a positive number of seconds, got '" +
                                std::string(text) + "'");
  }
  return Seconds(seconds);
}

}  // namespace

CacheConfig CacheConfig::from_env() {
  return from_env([](const char* name) { return std::getenv(name); });
}

CacheConfig CacheConfig::from_env(const std::function<const char*(const char*)>& getenv) {
  CacheConfig config;
  const auto apply_ttl = [&](const char* name, Seconds& ttl) {
    if (const char* value = getenv(name); value != nullptr && *value != '\0') {
      ttl = parse_ttl(name, value);
    }
  };
  apply_ttl("CACHE_TTL_RESPONSE", config.ttl.response);
  apply_ttl("CACHE_TTL_SESSION", config.ttl.session);
  apply_ttl("CACHE_TTL_CONTEXT", config.ttl.context);
  apply_ttl("CACHE_TTL_METADATA", config.ttl.metadata);
  if (const char* prefix = getenv("CACHE_KEY_PREFIX"); prefix != nullptr && *prefix != '\0') {
    const std::string_view text(prefix);
    if (text.find_first_of(":*?[] ") != std::string_view::npos) {
      throw std::invalid_argument(
          "CACHE_KEY_PREFIX must not contain ':', spaces or glob "
          "characters, got '" +
          std::string(text) + "'");
    }
    config.prefix = text;
  }
  return config;
}

}  // namespace opencode_cache::cache
