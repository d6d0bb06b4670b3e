// Internal: how get_or_fetch stores a value, with the time it stops being fresh:
//   {"value": <the fetched JSON>, "stored_at": <ms>, "fresh_until": <ms>}
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace opencode_cache::cache {

struct FetchEnvelope {
  boost::json::value value;
  std::int64_t stored_at_ms = 0;
  std::int64_t fresh_until_ms = 0;

  bool fresh_at(std::int64_t now_ms) const noexcept { return now_ms < fresh_until_ms; }
  std::string encode() const;
  // Nullopt for anything that is not an envelope (written by someone else).
  static std::optional<FetchEnvelope> decode(std::string_view text);
};

}  // namespace opencode_cache::cache
