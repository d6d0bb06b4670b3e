#include "cli/cli_commands.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "cache/value_envelope.hpp"
#include "opencode_cache/valkey/error.hpp"
#include "opencode_cache/valkey/scanner.hpp"
#include "opencode_cache/valkey/script.hpp"

namespace opencode_cache::cli {
namespace {

namespace json = boost::json;
using boost::asio::awaitable;
using Clock = std::chrono::steady_clock;

bool separate_state(const Stores& stores) {
  return &stores.state != &stores.cache;
}

// Sessions and rate limits live in the state store; every other namespace in the cache.
valkey::Client& store_of_namespace(Stores& stores, std::string_view namespace_name) {
  return namespace_name == cache::ns::session || namespace_name == cache::ns::ratelimit
             ? stores.state
             : stores.cache;
}

valkey::Client& store_of_key(Stores& stores, std::string_view key) {
  const std::string& prefix = stores.keys.prefix();
  if (key.starts_with(prefix) && key.size() > prefix.size() && key[prefix.size()] == ':') {
    const std::string_view rest = key.substr(prefix.size() + 1);
    return store_of_namespace(stores, rest.substr(0, rest.find(':')));
  }
  return stores.cache;
}

// The stores a glob over the keyspace must visit, each once.
std::vector<valkey::Client*> all_stores(Stores& stores) {
  std::vector<valkey::Client*> out{&stores.cache};
  if (separate_state(stores)) out.push_back(&stores.state);
  return out;
}

bool printable(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') return false;
    if (c == 0x7f) return false;
  }
  return true;
}

// A stored value as a person reads it: JSON pretty enough, text as it is, bytes described.
json::value decoded(const std::string& value) {
  boost::system::error_code ec;
  json::value parsed = json::parse(value, ec);
  if (!ec) return parsed;
  if (printable(value)) return json::value(value);
  std::ostringstream described;
  described << "<" << value.size() << " bytes, not text; starting";
  for (std::size_t i = 0; i < std::min<std::size_t>(value.size(), 16); ++i) {
    described << ' ' << std::hex << std::setw(2) << std::setfill('0')
              << static_cast<int>(static_cast<unsigned char>(value[i]));
  }
  described << ">";
  return json::value(described.str());
}

std::string text_of(const json::value& value) {
  return value.is_string() ? std::string(value.as_string()) : json::serialize(value);
}

void emit(Output& output, const json::value& document) {
  output.out << json::serialize(document) << '\n';
}

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

awaitable<int> ping(const Invocation& invocation, Stores& stores, Output& output) {
  json::object answer;
  auto check = [&](valkey::Client& client, std::string_view name) -> awaitable<void> {
    const auto start = Clock::now();
    const bool pong = co_await client.ping();
    json::object figures;
    figures["endpoint"] = client.config().endpoint();
    figures["ok"] = pong;
    figures["ms"] = milliseconds_since(start);
    answer[name] = std::move(figures);
  };
  co_await check(stores.cache, "cache");
  if (separate_state(stores)) co_await check(stores.state, "state");
  if (invocation.json) {
    emit(output, answer);
  } else {
    for (const auto& [name, figures] : answer) {
      const auto& f = figures.as_object();
      output.out << name << " " << f.at("endpoint").as_string().c_str() << ": "
                 << (f.at("ok").as_bool() ? "PONG" : "unexpected answer") << " in " << std::fixed
                 << std::setprecision(2) << f.at("ms").as_double() << " ms\n";
    }
  }
  co_return exit_ok;
}

awaitable<int> stats(const Invocation& invocation, Stores& stores, Output& output) {
  const auto counts = co_await stores.service.key_counts();
  const cache::ServerInfo info = co_await stores.service.server_info();
  json::object keys;
  for (const auto& [name, count] : counts) keys[name] = count;
  json::object valkey;
  valkey["used_memory"] = info.used_memory;
  valkey["maxmemory"] = info.maxmemory;
  valkey["evicted_keys"] = info.evicted_keys;
  valkey["expired_keys"] = info.expired_keys;
  valkey["connected_clients"] = info.connected_clients;
  valkey["keyspace_hits"] = info.keyspace_hits;
  valkey["keyspace_misses"] = info.keyspace_misses;
  if (invocation.json) {
    json::object answer;
    answer["keys"] = std::move(keys);
    answer["valkey"] = std::move(valkey);
    emit(output, answer);
    co_return exit_ok;
  }
  output.out << std::left << std::setw(16) << "namespace" << std::right << std::setw(12) << "keys"
             << '\n';
  for (const auto& [name, count] : counts) {
    output.out << std::left << std::setw(16) << name << std::right << std::setw(12) << count
               << '\n';
  }
  output.out << '\n';
  for (const auto& [name, value] : valkey) {
    output.out << std::left << std::setw(18) << name << std::right << std::setw(14)
               << json::serialize(value) << '\n';
  }
  co_return exit_ok;
}

awaitable<std::string> type_of(valkey::Client& client, const std::string& key) {
  const valkey::resp::Value reply = co_await client.command(valkey::Command("TYPE", key));
  co_return reply.string;
}

awaitable<int> get(const Invocation& invocation, Stores& stores, Output& output) {
  const std::string& key = invocation.operands.at(0);
  valkey::Client& client = store_of_key(stores, key);
  const std::optional<std::string> value = co_await client.get(key);
  if (!value) {
    output.err << "opencode-cache: no value at " << key << '\n';
    co_return exit_not_found;
  }
  const json::value shown = decoded(*value);
  if (invocation.json) {
    emit(output, shown);
  } else {
    output.out << text_of(shown) << '\n';
  }
  co_return exit_ok;
}

awaitable<json::value> value_of(valkey::Client& client, const std::string& key,
                                const std::string& type) {
  if (type == "string") {
    const auto value = co_await client.get(key);
    co_return value ? decoded(*value) : json::value(nullptr);
  }
  if (type == "hash") {
    json::object fields;
    for (const auto& [field, value] : co_await client.hgetall(key)) fields[field] = decoded(value);
    co_return fields;
  }
  // Lists, sets, sorted sets and streams: their size is what an operator asks first.
  const std::string verb = type == "list"   ? "LLEN"
                           : type == "set"  ? "SCARD"
                           : type == "zset" ? "ZCARD"
                                            : "XLEN";
  const valkey::resp::Value reply = co_await client.command(valkey::Command(verb, key));
  json::object summary;
  summary["elements"] = reply.integer;
  co_return summary;
}

awaitable<int> inspect(const Invocation& invocation, Stores& stores, Output& output) {
  const std::string& key = invocation.operands.at(0);
  valkey::Client& client = store_of_key(stores, key);
  const std::string type = co_await type_of(client, key);
  if (type == "none") {
    output.err << "opencode-cache: no key " << key << '\n';
    co_return exit_not_found;
  }
  const valkey::resp::Value pttl = co_await client.command(valkey::Command("PTTL", key));
  json::object answer;
  answer["key"] = key;
  answer["store"] = &client == &stores.cache ? "cache" : "state";
  answer["type"] = type;
  answer["ttl_ms"] = pttl.integer;  // -1: no expiry
  if (type == "string") {
    const valkey::resp::Value size = co_await client.command(valkey::Command("STRLEN", key));
    answer["bytes"] = size.integer;
  }
  answer["value"] = co_await value_of(client, key, type);
  if (invocation.json) {
    emit(output, answer);
    co_return exit_ok;
  }
  for (const auto& [name, value] : answer) {
    output.out << std::left << std::setw(8) << name << ' ' << text_of(value) << '\n';
  }
  co_return exit_ok;
}

awaitable<int> keys(const Invocation& invocation, Stores& stores, Output& output) {
  json::array found;
  bool truncated = false;
  for (valkey::Client* store : all_stores(stores)) {
    valkey::ScanOptions options;
    options.match = invocation.operands.at(0);
    options.count = 1000;
    auto scanner = valkey::Scanner::keys(*store, options);
    while (!truncated) {
      const auto batch = co_await scanner.next();
      if (!batch) break;
      for (const std::string& key : *batch) {
        if (found.size() == invocation.limit) {
          truncated = true;
          break;
        }
        found.emplace_back(key);
      }
    }
  }
  if (invocation.json) {
    emit(output, found);
  } else {
    for (const auto& key : found) output.out << key.as_string().c_str() << '\n';
  }
  if (truncated)
    output.err << "opencode-cache: stopped at " << invocation.limit << " keys (--limit)\n";
  co_return exit_ok;
}

// SCAN and UNLINK in batches, saying how far it got every 10,000 keys: a namespace may hold
// millions, and the operator should see it move.
awaitable<std::uint64_t> unlink_matching(valkey::Client& client, const std::string& pattern,
                                         Output& output, std::uint64_t& reported) {
  valkey::ScanOptions options;
  options.match = pattern;
  options.count = 1000;
  auto scanner = valkey::Scanner::keys(client, options);
  std::uint64_t deleted = 0;
  while (auto batch = co_await scanner.next()) {
    if (batch->empty()) continue;
    valkey::Command unlink("UNLINK");
    unlink.args(*batch);
    deleted += static_cast<std::uint64_t>((co_await client.command(std::move(unlink))).integer);
    if (deleted / 10000 > reported / 10000) {
      output.err << "opencode-cache: " << deleted << " keys deleted so far\n";
      reported = deleted;
    }
  }
  co_return deleted;
}

awaitable<int> invalidate(const Invocation& invocation, Stores& stores, Output& output) {
  std::uint64_t deleted = 0;
  std::uint64_t reported = 0;
  if (!invocation.pattern.empty()) {
    for (valkey::Client* store : all_stores(stores)) {
      deleted += co_await unlink_matching(*store, stores.keys.pattern(invocation.pattern), output,
                                          reported);
    }
  } else if (invocation.operands.size() == 2) {
    deleted = (co_await stores.service.invalidate(invocation.operands[0], invocation.operands[1]))
                  ? 1
                  : 0;
  } else {
    const std::string& namespace_name = invocation.operands[0];
    deleted = co_await unlink_matching(store_of_namespace(stores, namespace_name),
                                       stores.keys.key(namespace_name, "*"), output, reported);
  }
  if (invocation.json) {
    json::object answer;
    answer["deleted"] = deleted;
    emit(output, answer);
  } else {
    output.out << "deleted " << deleted << '\n';
  }
  co_return exit_ok;
}

awaitable<int> session_get(const Invocation& invocation, Stores& stores, Output& output) {
  const auto session = co_await stores.service.get_session(invocation.operands.at(0));
  if (!session) {
    output.err << "opencode-cache: no session " << invocation.operands.at(0) << '\n';
    co_return exit_not_found;
  }
  emit(output, *session);
  co_return exit_ok;
}

awaitable<int> session_set(const Invocation& invocation, Stores& stores, Output& output) {
  boost::system::error_code ec;
  json::value data = json::parse(invocation.operands.at(1), ec);
  if (ec || !data.is_object()) {
    output.err << "opencode-cache: a session is a JSON object, e.g. '{\"user\":\"ana\"}'\n";
    co_return exit_usage;
  }
  co_await stores.service.set_session(invocation.operands.at(0), data.as_object());
  if (invocation.json) {
    json::object answer;
    answer["stored"] = true;
    emit(output, answer);
  } else {
    output.out << "stored session " << invocation.operands.at(0) << '\n';
  }
  co_return exit_ok;
}

awaitable<int> ratelimit_peek(const Invocation& invocation, Stores& stores, Output& output) {
  const ratelimit::Decision decision =
      co_await stores.limiter.peek(invocation.operands.at(0), invocation.operands.at(1));
  json::object answer;
  answer["type"] = decision.type;
  answer["allowed"] = decision.allowed;
  answer["limit"] = decision.limit;
  answer["remaining"] = decision.remaining;
  answer["window_ms"] = decision.window.count();
  answer["reset_after_ms"] = decision.reset_after.count();
  answer["retry_after_ms"] = decision.retry_after.count();
  answer["degraded"] = decision.degraded;
  if (invocation.json) {
    emit(output, answer);
    co_return exit_ok;
  }
  for (const auto& [name, value] : answer) {
    output.out << std::left << std::setw(15) << name << ' ' << text_of(value) << '\n';
  }
  co_return exit_ok;
}

bool sealed_namespace(const cache::Encryption& encryption, std::string_view name) {
  return (name == cache::ns::response && encryption.response) ||
         (name == cache::ns::context && encryption.context) ||
         (name == cache::ns::session && encryption.session);
}

// Rewrites a value only if it is still the one read: a write by the service meanwhile wins.
const valkey::Script& replace_if_unchanged() {
  static const valkey::Script script(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then "
      "redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0");
  return script;
}

struct Reencryption {
  std::uint64_t resealed = 0;
  std::uint64_t current = 0;   // already under the first key
  std::uint64_t unopened = 0;  // under no configured key, tampered with, or not sealed
  std::uint64_t changed = 0;   // written by someone else between our read and our write
};

awaitable<int> reencrypt(const Invocation& invocation, Stores& stores, Output& output) {
  const std::string& namespace_name = invocation.operands.at(0);
  if (stores.encryption.keys.empty() || !sealed_namespace(stores.encryption, namespace_name)) {
    output.err << "opencode-cache: reencrypt needs CACHE_ENCRYPTION_KEYS and " << namespace_name
               << " in CACHE_ENCRYPT (response, context, session)\n";
    co_return exit_usage;
  }
  cache::ValueEnvelope envelope(stores.encryption.keys);
  const std::string& first = stores.encryption.keys.front().id;
  valkey::Client& client = store_of_namespace(stores, namespace_name);
  valkey::ScanOptions options;
  options.match = stores.keys.key(namespace_name, "*");
  options.count = 1000;
  auto scanner = valkey::Scanner::keys(client, options);
  Reencryption done;
  std::uint64_t seen = 0;
  while (auto batch = co_await scanner.next()) {
    for (const std::string& key : *batch) {
      const std::optional<std::string> stored = co_await client.get(key);
      if (!stored) continue;
      if (++seen % 10000 == 0) output.err << "opencode-cache: " << seen << " values read\n";
      if (cache::ValueEnvelope::key_id_of(*stored) == std::string_view(first)) {
        ++done.current;
        continue;
      }
      const cache::Opened opened = envelope.open(*stored, key);
      if (!opened.plaintext) {
        ++done.unopened;
        continue;
      }
      std::vector<std::string> args;
      args.push_back(*stored);
      args.push_back(envelope.seal(*opened.plaintext, key));
      std::vector<std::string> keys;
      keys.push_back(key);
      const valkey::resp::Value replaced = co_await client.eval(replace_if_unchanged(), keys, args);
      ++(replaced.integer == 1 ? done.resealed : done.changed);
    }
  }
  if (invocation.json) {
    json::object answer;
    answer["resealed"] = done.resealed;
    answer["current"] = done.current;
    answer["unopened"] = done.unopened;
    answer["changed"] = done.changed;
    emit(output, answer);
  } else {
    output.out << "resealed " << done.resealed << ", already current " << done.current
               << ", not opened " << done.unopened << ", changed meanwhile " << done.changed
               << '\n';
  }
  co_return exit_ok;
}

awaitable<int> dispatch(const Invocation& invocation, Stores& stores, Output& output) {
  switch (invocation.verb) {
    case Verb::ping: co_return co_await ping(invocation, stores, output);
    case Verb::stats: co_return co_await stats(invocation, stores, output);
    case Verb::get: co_return co_await get(invocation, stores, output);
    case Verb::inspect: co_return co_await inspect(invocation, stores, output);
    case Verb::keys: co_return co_await keys(invocation, stores, output);
    case Verb::invalidate: co_return co_await invalidate(invocation, stores, output);
    case Verb::session_get: co_return co_await session_get(invocation, stores, output);
    case Verb::session_set: co_return co_await session_set(invocation, stores, output);
    case Verb::ratelimit_peek: co_return co_await ratelimit_peek(invocation, stores, output);
    case Verb::reencrypt: co_return co_await reencrypt(invocation, stores, output);
  }
  co_return exit_usage;
}

}  // namespace

awaitable<int> run(const Invocation& invocation, Stores& stores, Output& output) {
  std::string failure;
  try {
    co_return co_await dispatch(invocation, stores, output);
  } catch (const valkey::Error& e) {
    failure = e.what();
  } catch (const std::invalid_argument& e) {
    // The library's refusals of arguments (an unknown rate-limit type, say).
    output.err << "opencode-cache: " << e.what() << '\n';
    co_return exit_usage;
  }
  output.err << "opencode-cache: " << failure << '\n';
  co_return exit_valkey;
}

}  // namespace opencode_cache::cli
