#include "opencode_cache/ratelimit/headers.hpp"

#include <chrono>

namespace opencode_cache::ratelimit {

namespace {

// Header fields count whole seconds; rounding up never tells a client to come back too early.
std::int64_t whole_seconds(std::chrono::milliseconds duration) {
  return std::chrono::ceil<std::chrono::seconds>(duration).count();
}

// A Structured Field String (RFC 8941 section 3.3.3): quoted, '"' and '\' escaped, and only
// printable ASCII, so anything else in a type name becomes '?'.
std::string sf_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c >= 0x20 && c <= 0x7e) ? c : '?';
  }
  return out + "\"";
}

std::string sf_list(const std::vector<Decision>& decisions,
                    std::string (*parameters)(const Decision&)) {
  std::string out;
  for (const Decision& decision : decisions) {
    if (!out.empty()) out += ", ";
    out += sf_string(decision.type) + parameters(decision);
  }
  return out;
}

std::string policy_parameters(const Decision& decision) {
  return ";q=" + std::to_string(decision.limit) +
         ";w=" + std::to_string(whole_seconds(decision.window));
}

std::string state_parameters(const Decision& decision) {
  return ";r=" + std::to_string(decision.remaining) +
         ";t=" + std::to_string(whole_seconds(decision.reset_after));
}

std::int64_t unix_milliseconds(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

}  // namespace

std::vector<Header> legacy_headers(const std::vector<Decision>& decisions) {
  if (decisions.empty()) return {};
  const Decision& binding = binding_decision(decisions);
  std::vector<Header> out{
      {"X-RateLimit-Limit", std::to_string(binding.limit)},
      {"X-RateLimit-Remaining", std::to_string(binding.remaining)},
      {"X-RateLimit-Reset",
       std::to_string(unix_milliseconds(binding.decided_at + binding.reset_after))},
  };
  if (!all_allowed(decisions)) {
    out.push_back({"Retry-After", std::to_string(whole_seconds(binding.retry_after))});
  }
  return out;
}

std::vector<Header> ietf_headers(const std::vector<Decision>& decisions) {
  if (decisions.empty()) return {};
  return {{"RateLimit-Policy", sf_list(decisions, &policy_parameters)},
          {"RateLimit", sf_list(decisions, &state_parameters)}};
}

std::vector<Header> rate_limit_headers(const std::vector<Decision>& decisions) {
  std::vector<Header> out = legacy_headers(decisions);
  for (Header& header : ietf_headers(decisions)) out.push_back(std::move(header));
  return out;
}

}  // namespace opencode_cache::ratelimit
