// What a request asks of the cache: Cache-Control no-cache (refresh), no-store, max-age=N,
// and X-Cache-TTL: N (store for N seconds).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "server/http/exchange.hpp"

namespace opencode_cache::server::flow {

struct CacheControls {
  bool refresh = false;                         // no-cache: skip the read, store the new answer
  bool no_store = false;                        // neither read nor write
  std::optional<std::chrono::seconds> max_age;  // accept an entry at most this old
  std::optional<std::chrono::seconds> ttl;      // store for this long
};

// Unparseable values are ignored, as HTTP caches do.
CacheControls cache_controls(const http::Headers& headers);

}  // namespace opencode_cache::server::flow
