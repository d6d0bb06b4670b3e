// The app's HTTP API (/api/...) on one event loop thread: sessions, context, metadata,
// get-or-fetch across processes, invalidation, stats and rate-limit peeks, for the web UI
// (docs/app-api.md). It uses the thread's own CacheService and RateLimiter.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <memory>

#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "server/api/cache_stats_board.hpp"
#include "server/config/server_config.hpp"
#include "server/http/handler.hpp"

namespace opencode_cache::server::app {

class AppApi final : public http::Handler {
 public:
  // `client` is the cache's Valkey client: events go through it, and its breaker's
  // transitions are events.
  AppApi(boost::asio::any_io_executor executor, const ServerConfig& config, valkey::Client& client,
         cache::CacheService& cache, ratelimit::RateLimiter& limiter, api::CacheStatsBoard& board,
         std::size_t thread);
  ~AppApi() override;

  // Any target below /api/: answers every request itself, errors included (JSON, with the
  // CORS headers a browser needs to read them).
  http::Task<void> handle(http::Request& request, http::Responder& responder) override;
  // A drain begins: event streams end, so that their connections can close.
  void begin_drain();
  // Stops publishing figures and events, so that the event loop can run out.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opencode_cache::server::app
