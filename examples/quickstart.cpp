// The library in one page: a client, the cache service and the rate limiter on one event
// loop. Start a Valkey first (scripts/run does), then: build/release/examples/quickstart
//
// It reads VALKEY_URL or VALKEY_HOST / VALKEY_PORT (default localhost:6380), as the service
// does.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <exception>
#include <iostream>

#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "opencode_cache/valkey/client.hpp"

namespace asio = boost::asio;
using namespace opencode_cache;

cache::Task<cache::Json> ask_the_model() {
  // Stands in for a call to a model provider.
  co_return cache::Json("a list of models");
}

asio::awaitable<void> tour(valkey::Client& client) {
  cache::CacheService cache(client, cache::CacheConfig::from_env());
  ratelimit::RateLimiter limiter(client, ratelimit::RateLimiterConfig::from_env());

  // Responses in the seed's format, shared with its TypeScript service.
  co_await cache.cache_response("What is Valkey?", "gpt-4", "An in-memory data store.");
  auto answer = co_await cache.get_cached_response("What is Valkey?", "gpt-4");
  std::cout << "cached response: " << answer.value_or("(miss)") << "\n";

  // One fetch however many callers ask at once, in this process and across processes.
  cache::Json models = co_await cache.get_or_fetch("models", ask_the_model);
  std::cout << "models: " << boost::json::serialize(models) << "\n";

  // Sessions merge updates atomically on the server.
  // (Fields set one by one: g++ 12 rejects braced lists inside coroutines, see
  // docs/coroutine-pitfalls.md.)
  boost::json::object session_data;
  session_data["user"] = "ada";
  co_await cache.set_session("s-1", session_data);
  boost::json::object update;
  update["model"] = "gpt-4";
  co_await cache.update_session("s-1", update);
  auto session = co_await cache.get_session("s-1");
  std::cout << "session: " << boost::json::serialize(*session) << "\n";

  // Sliding-window rate limit, decided by the server's clock.
  ratelimit::Decision decision = co_await limiter.check("user", "ada");
  std::cout << "rate limit: " << (decision.allowed ? "allowed" : "rejected") << ", "
            << decision.remaining << " of " << decision.limit << " left\n";

  co_await client.quit();
}

int main() {
  asio::io_context io;
  valkey::Client client(io.get_executor(), valkey::ClientConfig::from_env());
  asio::co_spawn(io, tour(client), [](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::cerr << "quickstart: " << e.what() << "\n";
    }
  });
  io.run();
}
