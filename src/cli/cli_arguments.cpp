#include "cli/cli_arguments.hpp"

#include <charconv>
#include <map>

namespace opencode_cache::cli {
namespace {

struct CommandHelp {
  std::string_view usage;
  std::string_view what;
};

// One entry per command word, in the order --help lists them.
const std::vector<std::pair<std::string_view, CommandHelp>>& commands() {
  static const std::vector<std::pair<std::string_view, CommandHelp>> all = {
      {"ping", {"ping", "round trip to the cache Valkey (and the state Valkey, when set)"}},
      {"stats", {"stats", "keys per namespace, Valkey memory, maxmemory, evictions, clients"}},
      {"get", {"get KEY", "the value at KEY (a full key name), decoded when it is JSON"}},
      {"inspect", {"inspect KEY", "KEY's type, TTL, size and value"}},
      {"keys", {"keys PATTERN [--limit N]", "key names matching a glob (SCAN; N default 1000)"}},
      {"invalidate",
       {"invalidate NAMESPACE [ID] | invalidate --pattern GLOB",
        "delete one entry, a namespace, or keys below the prefix matching GLOB; progress on "
        "stderr"}},
      {"session", {"session get ID | session set ID JSON", "read or replace a session"}},
      {"reencrypt",
       {"reencrypt NAMESPACE",
        "seal a namespace's values again under the first key of CACHE_ENCRYPTION_KEYS (after "
        "a rotation, before an old key is dropped); progress on stderr"}},
      {"ratelimit",
       {"ratelimit peek TYPE ID", "what a rate-limit check would decide now; counts nothing"}},
  };
  return all;
}

const CommandHelp* find_command(std::string_view word) {
  for (const auto& [name, help] : commands()) {
    if (name == word) return &help;
  }
  return nullptr;
}

Parsed usage_error(std::string message) {
  Parsed parsed;
  parsed.error = std::move(message);
  return parsed;
}

Parsed help_for(std::string_view command) {
  Parsed parsed;
  parsed.help = help_text(command);
  return parsed;
}

std::optional<std::size_t> parse_count(std::string_view text) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0) return std::nullopt;
  return value;
}

// How many operands each verb takes: at least, at most.
std::pair<std::size_t, std::size_t> arity(Verb verb) {
  switch (verb) {
    case Verb::ping:
    case Verb::stats: return {0, 0};
    case Verb::get:
    case Verb::inspect:
    case Verb::keys:
    case Verb::session_get:
    case Verb::reencrypt: return {1, 1};
    case Verb::invalidate: return {1, 2};
    case Verb::session_set:
    case Verb::ratelimit_peek: return {2, 2};
  }
  return {0, 0};
}

}  // namespace

std::string help_text(std::string_view command) {
  if (const CommandHelp* help = find_command(command)) {
    return "usage: opencode-cache " + std::string(help->usage) + " [--json]\n\n" +
           std::string(help->what) + "\n";
  }
  std::string text =
      "opencode-cache: the cache's Valkey from the command line, through the same library and "
      "environment as opencode-cache-server.\n\nusage: opencode-cache COMMAND [ARGS] [--json]\n\n"
      "commands:\n";
  for (const auto& [name, help] : commands()) {
    constexpr std::size_t column = 34;
    std::string usage(help.usage);
    // A long usage gets its description on the next line, in the same column.
    usage += usage.size() > column ? "\n" + std::string(column + 2, ' ')
                                   : std::string(column - usage.size(), ' ');
    text += "  " + usage + " " + std::string(help.what) + "\n";
  }
  text +=
      "\noptions:\n"
      "  --json     one JSON document on stdout instead of text\n"
      "  --help     this text; COMMAND --help for one command\n"
      "\nenvironment: VALKEY_URL (or VALKEY_HOST, VALKEY_PORT, VALKEY_USERNAME, VALKEY_PASSWORD, "
      "VALKEY_DB),\n  VALKEY_STATE_URL for sessions and rate limits, CACHE_KEY_PREFIX, "
      "RATE_LIMIT_* (see the README)\n"
      "\nexit codes: 0 done, 1 nothing at that key or id, 2 usage error, 3 Valkey unreachable or "
      "refused\n";
  return text;
}

Parsed parse_arguments(const std::vector<std::string_view>& arguments) {
  Invocation invocation;
  std::vector<std::string_view> words;
  bool help = false;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const std::string_view argument = arguments[i];
    if (argument == "--json") {
      invocation.json = true;
    } else if (argument == "--help" || argument == "-h") {
      help = true;
    } else if (argument == "--pattern" || argument == "--limit") {
      if (i + 1 == arguments.size()) return usage_error(std::string(argument) + " needs a value");
      const std::string_view value = arguments[++i];
      if (argument == "--pattern") {
        invocation.pattern = std::string(value);
      } else if (auto limit = parse_count(value)) {
        invocation.limit = *limit;
      } else {
        return usage_error("--limit takes a positive whole number, not '" + std::string(value) +
                           "'");
      }
    } else if (argument.starts_with("--")) {
      return usage_error("unknown option " + std::string(argument));
    } else {
      words.push_back(argument);
    }
  }
  if (words.empty()) return help ? help_for("") : usage_error("no command given");
  const std::string_view command = words.front();
  if (find_command(command) == nullptr) {
    return usage_error("unknown command '" + std::string(command) + "'");
  }
  if (help) return help_for(command);
  static const std::map<std::string_view, Verb, std::less<>> simple = {
      {"ping", Verb::ping},           {"stats", Verb::stats}, {"get", Verb::get},
      {"inspect", Verb::inspect},     {"keys", Verb::keys},   {"invalidate", Verb::invalidate},
      {"reencrypt", Verb::reencrypt},
  };
  std::size_t first_operand = 1;
  if (auto found = simple.find(command); found != simple.end()) {
    invocation.verb = found->second;
  } else if (command == "session" && words.size() > 1 && words[1] == "get") {
    invocation.verb = Verb::session_get;
    first_operand = 2;
  } else if (command == "session" && words.size() > 1 && words[1] == "set") {
    invocation.verb = Verb::session_set;
    first_operand = 2;
  } else if (command == "ratelimit" && words.size() > 1 && words[1] == "peek") {
    invocation.verb = Verb::ratelimit_peek;
    first_operand = 2;
  } else {
    return usage_error("usage: opencode-cache " + std::string(find_command(command)->usage));
  }
  for (std::size_t i = first_operand; i < words.size(); ++i) {
    invocation.operands.emplace_back(words[i]);
  }
  auto [at_least, at_most] = arity(invocation.verb);
  if (invocation.verb == Verb::invalidate && !invocation.pattern.empty()) at_least = at_most = 0;
  if (invocation.operands.size() < at_least || invocation.operands.size() > at_most) {
    return usage_error("usage: opencode-cache " + std::string(find_command(command)->usage));
  }
  if (!invocation.pattern.empty() && invocation.verb != Verb::invalidate) {
    return usage_error("--pattern belongs to invalidate");
  }
  Parsed parsed;
  parsed.invocation = std::move(invocation);
  return parsed;
}

}  // namespace opencode_cache::cli
