// The library's cache figures of every event loop thread, for GET /api/cache/stats: each
// thread's CacheService counts on its own thread, and publishes a copy here (once a second,
// and right before it serves the stats), which any thread may then read.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "opencode_cache/cache/cache_stats.hpp"

namespace opencode_cache::server::api {

using NamespaceFigures = std::map<std::string, cache::NamespaceStats, std::less<>>;

class CacheStatsBoard {
 public:
  void publish(std::size_t thread, const cache::CacheStats& stats);
  // Every thread's last published figures, summed per namespace.
  NamespaceFigures merged() const;

 private:
  mutable std::mutex mutex_;
  std::vector<NamespaceFigures> threads_;
};

}  // namespace opencode_cache::server::api
