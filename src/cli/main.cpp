// opencode-cache: the operator's command line over the cache's Valkey (README, "CLI").
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <iostream>
#include <optional>
#include <string_view>
#include <vector>

#include "cli/cli_arguments.hpp"
#include "cli/cli_commands.hpp"
#include "opencode_cache/cache/cache_config.hpp"
#include "opencode_cache/ratelimit/rate_limiter_config.hpp"
#include "opencode_cache/valkey/client_config.hpp"

namespace {

namespace asio = boost::asio;
using namespace opencode_cache;

struct Configuration {
  valkey::ClientConfig cache;
  std::optional<valkey::ClientConfig> state;
  cache::CacheConfig service;
  ratelimit::RateLimiterConfig limits;
};

// The same variables as opencode-cache-server reads; a value that cannot be used is a usage
// error naming it.
Configuration configuration_from_env() {
  Configuration config;
  config.cache = valkey::ClientConfig::from_env();
  config.state = valkey::ClientConfig::state_from_env();
  for (valkey::ClientConfig* client : {&config.cache, config.state ? &*config.state : nullptr}) {
    if (client == nullptr) continue;
    client->client_name = "opencode-cache-cli";
    // One attempt, quickly: a person is waiting.
    client->connect_timeout = std::chrono::seconds(2);
    client->reconnect.max_attempts = 2;
  }
  config.service = cache::CacheConfig::from_env();
  config.limits = ratelimit::RateLimiterConfig::from_env();
  return config;
}

int run(const cli::Invocation& invocation, const Configuration& config) {
  asio::io_context io(1);
  valkey::Client cache_client(io.get_executor(), config.cache);
  std::optional<valkey::Client> state_client;
  if (config.state) state_client.emplace(io.get_executor(), *config.state);
  valkey::Client& state = state_client ? *state_client : cache_client;
  cache::CacheService service(cache_client, state, config.service);
  ratelimit::RateLimiter limiter(state, config.limits);
  cli::Stores stores{cache_client, state, service, limiter,
                     cache::CacheKeys(config.service.prefix)};
  cli::Output output{std::cout, std::cerr};
  int code = cli::exit_valkey;
  asio::co_spawn(io, cli::run(invocation, stores, output),
                 [&](std::exception_ptr failure, int result) {
                   if (failure) {
                     try {
                       std::rethrow_exception(failure);
                     } catch (const std::exception& e) {
                       std::cerr << "opencode-cache: " << e.what() << '\n';
                     }
                   } else {
                     code = result;
                   }
                   cache_client.close();
                   if (state_client) state_client->close();
                 });
  io.run();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> arguments(argv + 1, argv + argc);
  const cli::Parsed parsed = cli::parse_arguments(arguments);
  if (!parsed.help.empty()) {
    std::cout << parsed.help;
    return cli::exit_ok;
  }
  if (!parsed.invocation) {
    std::cerr << "opencode-cache: " << parsed.error << "\n(opencode-cache --help lists commands)\n";
    return cli::exit_usage;
  }
  Configuration config;
  try {
    config = configuration_from_env();
  } catch (const std::exception& e) {
    std::cerr << "opencode-cache: configuration error: " << e.what() << '\n';
    return cli::exit_usage;
  }
  return run(*parsed.invocation, config);
}
