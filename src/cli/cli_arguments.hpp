// The command line of opencode-cache, parsed without touching Valkey: what to run, or why the
// line cannot be run (a usage error), or which help to print.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opencode_cache::cli {

enum class Verb {
  ping,
  stats,
  get,      // a key's value, decoded
  inspect,  // a key's TTL, type, size and value
  keys,
  invalidate,
  session_get,
  session_set,
  ratelimit_peek,
  reencrypt,  // a sealed namespace's values under the first key of CACHE_ENCRYPTION_KEYS
};

// Exit codes, documented in --help and the README.
inline constexpr int exit_ok = 0;
inline constexpr int exit_not_found = 1;  // get, inspect, session get: nothing there
inline constexpr int exit_usage = 2;      // the command line cannot be run
inline constexpr int exit_valkey = 3;     // Valkey unreachable, refused, or an error reply

struct Invocation {
  Verb verb = Verb::ping;
  std::vector<std::string> operands;  // after the verb, in order
  bool json = false;                  // --json: one JSON document on stdout
  std::string pattern;                // invalidate --pattern GLOB
  std::size_t limit = 1000;           // keys --limit N
};

struct Parsed {
  std::optional<Invocation> invocation;
  std::string help;   // non-empty: print it on stdout and exit 0
  std::string error;  // non-empty: print it (and a hint) on stderr and exit exit_usage
};

Parsed parse_arguments(const std::vector<std::string_view>& arguments);

// The whole --help text, or one command's ("session", "invalidate", ...).
std::string help_text(std::string_view command = {});

}  // namespace opencode_cache::cli
