#include "opencode_cache/cache/cache_config.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "encryption_keys.hpp"

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

// A size from the environment: a whole number, nothing else.
std::size_t parse_size(const char* name, std::string_view text) {
  std::size_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) {
    throw std::invalid_argument(std::string(name) + " must be a whole number, got '" +
                                std::string(text) + "'");
  }
  return value;
}

const char* set(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* value = getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

Encryption encryption_from_env(const std::function<const char*(const char*)>& getenv) {
  Encryption encryption;
  if (const char* names = set(getenv, "CACHE_ENCRYPT")) {
    parse_encrypted_namespaces(names, encryption);
  }
  if (const char* keys = set(getenv, "CACHE_ENCRYPTION_KEYS")) {
    encryption.keys = parse_encryption_keys(keys);
  }
  if (const char* key = set(getenv, "CACHE_KEY_HMAC_KEY")) {
    encryption.key_name_key = decode_key("CACHE_KEY_HMAC_KEY", key);
  }
  if (encryption.any() && encryption.keys.empty()) {
    throw std::invalid_argument(
        "CACHE_ENCRYPT: encrypting needs keys, and CACHE_ENCRYPTION_KEYS is not set");
  }
  return encryption;
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
  config.encryption = encryption_from_env(getenv);
  if (const char* entries = set(getenv, "CACHE_NEAR_ENTRIES")) {
    config.near_entries = parse_size("CACHE_NEAR_ENTRIES", entries);
  }
  if (const char* bytes = set(getenv, "CACHE_NEAR_BYTES")) {
    config.near_bytes = parse_size("CACHE_NEAR_BYTES", bytes);
    if (config.near_bytes == 0) {
      throw std::invalid_argument("CACHE_NEAR_BYTES must be above 0 (CACHE_NEAR_ENTRIES=0 is off)");
    }
  }
  return config;
}

}  // namespace opencode_cache::cache
