#include "server/flow/cache_controls.hpp"

#include <charconv>

#include "server/gateway/ascii_case.hpp"

namespace opencode_cache::server::flow {
namespace {

std::optional<std::chrono::seconds> seconds_of(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 0) return std::nullopt;
  return std::chrono::seconds(value);
}

}  // namespace

CacheControls cache_controls(const http::Headers& headers) {
  CacheControls controls;
  for (const auto& [name, value] : headers) {
    if (name == "x-cache-ttl") {
      if (auto ttl = seconds_of(value); ttl && ttl->count() > 0) controls.ttl = ttl;
      continue;
    }
    if (name != "cache-control") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string directive = gateway::ascii_lower(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      std::string_view d = directive;
      while (!d.empty() && d.front() == ' ') d.remove_prefix(1);
      while (!d.empty() && d.back() == ' ') d.remove_suffix(1);
      if (d == "no-cache") controls.refresh = true;
      if (d == "no-store") controls.no_store = true;
      if (d.starts_with("max-age=")) controls.max_age = seconds_of(d.substr(8));
    }
  }
  return controls;
}

}  // namespace opencode_cache::server::flow
