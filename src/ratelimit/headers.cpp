#include "opencode_cache/ratelimit/headers.hpp"

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <string>

namespace opencode_cache::ratelimit {

namespace {

// Header fields count whole seconds; rounding up never tells a client to come back too early.
std::int64_t whole_seconds(std::chrono::milliseconds duration) {
  return std::chrono::ceil<std::chrono::seconds>(duration).count();
}

// A Structured Field String (RFC 8941 section 3.3.3): quoted, '"' and '\' escaped, and only
// printable ASCII, so anything else in a type name becomes '?'.
void append_sf_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c >= 0x20 && c <= 0x7e) ? c : '?';
  }
  out += '"';
}

void append_number(std::string& out, std::int64_t value) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

void append_parameter(std::string& out, std::string_view name, std::int64_t value) {
  out += ';';
  out += name;
  out += '=';
  append_number(out, value);
}

// These headers go out on every answer of a gateway: built in one buffer each, without the
// temporaries of string concatenation.
std::string sf_list(const std::vector<Decision>& decisions,
                    void (*parameters)(std::string&, const Decision&)) {
  std::string out;
  out.reserve(decisions.size() * 32);
  for (const Decision& decision : decisions) {
    if (!out.empty()) out += ", ";
    append_sf_string(out, decision.type);
    parameters(out, decision);
  }
  return out;
}

void policy_parameters(std::string& out, const Decision& decision) {
  append_parameter(out, "q", static_cast<std::int64_t>(decision.limit));
  append_parameter(out, "w", whole_seconds(decision.window));
}

void state_parameters(std::string& out, const Decision& decision) {
  append_parameter(out, "r", static_cast<std::int64_t>(decision.remaining));
  append_parameter(out, "t", whole_seconds(decision.reset_after));
}

std::int64_t unix_milliseconds(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

}  // namespace

namespace {

void add_legacy_headers(std::vector<Header>& out, const std::vector<Decision>& decisions) {
  const Decision& binding = binding_decision(decisions);
  out.push_back({"X-RateLimit-Limit", std::to_string(binding.limit)});
  out.push_back({"X-RateLimit-Remaining", std::to_string(binding.remaining)});
  out.push_back({"X-RateLimit-Reset",
                 std::to_string(unix_milliseconds(binding.decided_at + binding.reset_after))});
  if (!all_allowed(decisions)) {
    out.push_back({"Retry-After", std::to_string(whole_seconds(binding.retry_after))});
  }
}

void add_ietf_headers(std::vector<Header>& out, const std::vector<Decision>& decisions) {
  out.push_back({"RateLimit-Policy", sf_list(decisions, &policy_parameters)});
  out.push_back({"RateLimit", sf_list(decisions, &state_parameters)});
}

}  // namespace

std::vector<Header> legacy_headers(const std::vector<Decision>& decisions) {
  std::vector<Header> out;
  if (!decisions.empty()) add_legacy_headers(out, decisions);
  return out;
}

std::vector<Header> ietf_headers(const std::vector<Decision>& decisions) {
  std::vector<Header> out;
  if (!decisions.empty()) add_ietf_headers(out, decisions);
  return out;
}

std::vector<Header> rate_limit_headers(const std::vector<Decision>& decisions) {
  std::vector<Header> out;
  if (decisions.empty()) return out;
  out.reserve(6);
  add_legacy_headers(out, decisions);
  add_ietf_headers(out, decisions);
  return out;
}

}  // namespace opencode_cache::ratelimit
