#include "server/api/cache_stats_board.hpp"

namespace opencode_cache::server::api {

void CacheStatsBoard::publish(std::size_t thread, const cache::CacheStats& stats) {
  NamespaceFigures copy(stats.by_namespace().begin(), stats.by_namespace().end());
  const std::lock_guard lock(mutex_);
  if (threads_.size() <= thread) threads_.resize(thread + 1);
  threads_[thread] = std::move(copy);
}

NamespaceFigures CacheStatsBoard::merged() const {
  NamespaceFigures sum;
  const std::lock_guard lock(mutex_);
  for (const NamespaceFigures& thread : threads_) {
    for (const auto& [name, figures] : thread) sum[name].merge(figures);
  }
  return sum;
}

}  // namespace opencode_cache::server::api
