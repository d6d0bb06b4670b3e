// The gateway on one event loop thread: its own Valkey client, cache, rate limiter, upstream
// pool and flights; routes each request to the cached flow, the pass-through or the
// operations endpoints.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>

#include "server/api/metrics.hpp"
#include "server/config/server_config.hpp"
#include "server/http/handler.hpp"

namespace opencode_cache::server::api {

class Dispatcher final : public http::Handler {
 public:
  Dispatcher(boost::asio::any_io_executor executor, const ServerConfig& config,
             MetricsRegistry& registry, std::size_t thread);
  ~Dispatcher() override;

  http::Task<void> handle(http::Request& request, http::Responder& responder) override;
  // SIGTERM's drain begins: requests that would run until stopped (event streams) end.
  void begin_drain();
  // Stops background work (the Valkey client, idle upstream connections, timers) so that the
  // event loop can run out once the connections are gone.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opencode_cache::server::api
