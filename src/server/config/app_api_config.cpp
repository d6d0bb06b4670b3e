#include "server/config/app_api_config.hpp"

#include <charconv>
#include <stdexcept>
#include <string_view>

namespace opencode_cache::server {
namespace {

[[noreturn]] void invalid(std::string_view variable, std::string_view why) {
  throw std::invalid_argument(std::string(variable) + ": " + std::string(why));
}

std::string_view env(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* value = getenv(name);
  return value == nullptr ? std::string_view{} : std::string_view(value);
}

std::uint64_t positive(std::string_view variable, std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0) {
    invalid(variable, "'" + std::string(text) + "' is not a positive integer");
  }
  return value;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

// A browser's Origin header: scheme, host and port, never a path (not even "/").
void check_origin(std::string_view origin) {
  constexpr std::string_view variable = "OPENCODE_CACHE_CORS_ORIGINS";
  if (origin == "*") return;
  std::string_view rest;
  if (origin.starts_with("http://")) {
    rest = origin.substr(7);
  } else if (origin.starts_with("https://")) {
    rest = origin.substr(8);
  } else {
    invalid(variable, "'" + std::string(origin) + "' is not an http(s) origin");
  }
  if (rest.empty() || rest.find('/') != std::string_view::npos) {
    invalid(variable, "'" + std::string(origin) +
                          "' must be scheme://host[:port], without a path or trailing '/'");
  }
}

std::vector<std::string> parse_origins(std::string_view text) {
  std::vector<std::string> origins;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view origin = trimmed(text.substr(0, comma));
    if (!origin.empty()) {
      check_origin(origin);
      origins.emplace_back(origin);
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (origins.empty()) invalid("OPENCODE_CACHE_CORS_ORIGINS", "no origin given");
  return origins;
}

}  // namespace

AppApiConfig AppApiConfig::from_env(const std::function<const char*(const char*)>& getenv) {
  AppApiConfig config;
  if (auto token = env(getenv, "OPENCODE_CACHE_ADMIN_TOKEN"); !token.empty()) {
    // A short token can be guessed by anyone who can reach the port.
    if (token.size() < 16) invalid("OPENCODE_CACHE_ADMIN_TOKEN", "use at least 16 characters");
    config.admin_token = std::string(token);
  }
  if (auto origins = env(getenv, "OPENCODE_CACHE_CORS_ORIGINS"); !origins.empty()) {
    config.cors_origins = parse_origins(origins);
  }
  if (auto bytes = env(getenv, "OPENCODE_CACHE_API_MAX_VALUE_BYTES"); !bytes.empty()) {
    config.max_value_bytes = positive("OPENCODE_CACHE_API_MAX_VALUE_BYTES", bytes);
  }
  if (auto wait = env(getenv, "OPENCODE_CACHE_API_MAX_WAIT_MS"); !wait.empty()) {
    config.max_wait = std::chrono::milliseconds(positive("OPENCODE_CACHE_API_MAX_WAIT_MS", wait));
  }
  if (auto history = env(getenv, "OPENCODE_CACHE_EVENTS_HISTORY"); !history.empty()) {
    config.events_history = positive("OPENCODE_CACHE_EVENTS_HISTORY", history);
  }
  if (auto clients = env(getenv, "OPENCODE_CACHE_EVENTS_MAX_CLIENTS"); !clients.empty()) {
    config.events_max_clients = positive("OPENCODE_CACHE_EVENTS_MAX_CLIENTS", clients);
  }
  if (auto beat = env(getenv, "OPENCODE_CACHE_EVENTS_HEARTBEAT_MS"); !beat.empty()) {
    config.events_heartbeat =
        std::chrono::milliseconds(positive("OPENCODE_CACHE_EVENTS_HEARTBEAT_MS", beat));
  }
  return config;
}

}  // namespace opencode_cache::server
