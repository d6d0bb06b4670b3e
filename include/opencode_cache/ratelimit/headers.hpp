// HTTP response header fields for rate limit decisions: the seed's X-RateLimit-* fields,
// Retry-After on rejection, and the IETF RateLimit-Policy / RateLimit fields.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/ratelimit/decision.hpp"

namespace opencode_cache::ratelimit {

// The one place that names the IETF draft whose field shape ietf_headers() follows:
// RateLimit-Policy: "user";q=60;w=60   and   RateLimit: "user";r=12;t=40
// (Structured Field lists; q quota, w window in seconds, r remaining, t seconds until reset).
inline constexpr std::string_view ietf_ratelimit_draft = "draft-ietf-httpapi-ratelimit-headers-11";

struct Header {
  std::string name;
  std::string value;

  friend bool operator==(const Header&, const Header&) = default;
};

// X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (Unix time in milliseconds,
// as the seed sends it: decided_at + reset_after) of the binding decision, then Retry-After
// (whole seconds, rounded up) when the request was rejected.
std::vector<Header> legacy_headers(const std::vector<Decision>& decisions);
// RateLimit-Policy and RateLimit, one list member per decision named by its type; windows and
// reset times in whole seconds rounded up, as the fields take integers.
std::vector<Header> ietf_headers(const std::vector<Decision>& decisions);
// Both of the above: legacy first. Empty for no decisions.
std::vector<Header> rate_limit_headers(const std::vector<Decision>& decisions);

}  // namespace opencode_cache::ratelimit
