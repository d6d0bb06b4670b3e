// What each opencode-cache command does, over the library's clients: the I/O side of the CLI.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <ostream>

#include "cli/cli_arguments.hpp"
#include "opencode_cache/cache/cache_keys.hpp"
#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "opencode_cache/valkey/client.hpp"

namespace opencode_cache::cli {

struct Stores {
  valkey::Client& cache;
  valkey::Client& state;  // the cache's client again when VALKEY_STATE_URL is unset
  cache::CacheService& service;
  ratelimit::RateLimiter& limiter;
  cache::CacheKeys keys;
  cache::Encryption encryption;  // CACHE_ENCRYPT and CACHE_ENCRYPTION_KEYS, for reencrypt
};

struct Output {
  std::ostream& out;
  std::ostream& err;
};

// Runs `invocation`; the exit code (cli_arguments.hpp). Valkey's errors become exit_valkey with
// a message on `err`, never an exception.
boost::asio::awaitable<int> run(const Invocation& invocation, Stores& stores, Output& output);

}  // namespace opencode_cache::cli
