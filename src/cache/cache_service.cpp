#include "opencode_cache/cache/cache_service.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <map>
#include <opencode_cache/embedded/compare_and_set.hpp>
#include <opencode_cache/embedded/merge_session.hpp>
#include <opencode_cache/embedded/release_lease.hpp>
#include <random>

#include "fetch_envelope.hpp"
#include "held_response.hpp"
#include "key_name_hash.hpp"
#include "opencode_cache/valkey/near_cache.hpp"
#include "opencode_cache/valkey/reply.hpp"
#include "opencode_cache/valkey/scanner.hpp"
#include "opencode_cache/valkey/script.hpp"
#include "response_entry.hpp"
#include "single_flight.hpp"
#include "valkey/cancellation.hpp"
#include "value_envelope.hpp"

namespace opencode_cache::cache {
namespace asio = boost::asio;
using valkey::Command;
using valkey::RequestOptions;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<Json> parse_json(std::string_view text) {
  boost::system::error_code ec;
  Json value = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return value;
}

// The general path for entries the fast reader leaves alone (other key order is fine there
// too; extra keys, floats, unusual escapes): the full JSON parser decides.
std::optional<ResponseEntry> read_response_entry_slowly(std::string_view text) {
  std::optional<Json> parsed = parse_json(text);
  const JsonObject* object = parsed && parsed->is_object() ? &parsed->as_object() : nullptr;
  if (object == nullptr) return std::nullopt;
  const auto field = [&](std::string_view name) -> const boost::json::string* {
    const Json* value = object->if_contains(name);
    return value != nullptr && value->is_string() ? &value->as_string() : nullptr;
  };
  const auto* stored_prompt = field("prompt");
  const auto* stored_model = field("model");
  const auto* stored_response = field("response");
  if (stored_prompt == nullptr || stored_model == nullptr || stored_response == nullptr) {
    return std::nullopt;
  }
  return ResponseEntry{std::string(*stored_prompt), std::string(*stored_model),
                       std::string(*stored_response)};
}

// A numeric "name:value" line of INFO; 0 when absent.
std::uint64_t info_field(std::string_view info, std::string_view name) {
  std::size_t at = 0;
  while ((at = info.find(name, at)) != std::string_view::npos) {
    const bool line_start = at == 0 || info[at - 1] == '\n';
    const std::size_t colon = at + name.size();
    if (line_start && colon < info.size() && info[colon] == ':') {
      std::uint64_t value = 0;
      for (std::size_t i = colon + 1; i < info.size() && info[i] >= '0' && info[i] <= '9'; ++i) {
        value = value * 10 + static_cast<std::uint64_t>(info[i] - '0');
      }
      return value;
    }
    at = colon;
  }
  return 0;
}

Command set_with_ttl(std::string_view key, std::string_view value, Seconds ttl) {
  return Command("SET", key, value, "EX", ttl.count());
}

// Built outside coroutines: g++ 12 rejects braced initializer lists inside them.
std::vector<std::string> one(std::string value) {
  return {std::move(value)};
}

JsonObject response_entry(std::string_view prompt, std::string_view model,
                          std::string_view response) {
  return {{"prompt", prompt}, {"model", model}, {"response", response}, {"timestamp", now_ms()}};
}

// The near cache of the cache's client, when the configuration asks for one.
std::unique_ptr<valkey::NearCache> near_cache_for(valkey::Client& client,
                                                  const CacheConfig& config) {
  if (config.near_entries == 0) return nullptr;
  if (!client.config().tracking || client.config().protocol != 3) {
    throw valkey::Error(valkey::errc::invalid_config,
                        "CacheConfig::near_entries (CACHE_NEAR_ENTRIES) needs the cache's Client "
                        "with ClientConfig::tracking on, over RESP3");
  }
  return std::make_unique<valkey::NearCache>(
      client, valkey::NearCacheConfig{config.near_entries, config.near_bytes});
}

std::unique_ptr<ValueEnvelope> envelope_for(const Encryption& encryption) {
  return encryption.any() ? std::make_unique<ValueEnvelope>(encryption.keys) : nullptr;
}

// The key that response key names hash under: the configured one, else one derived from the
// sealing key. Empty while responses are not sealed: their keys stay the seed's.
std::string key_name_key_of(const Encryption& encryption) {
  if (!encryption.response) return {};
  if (encryption.key_name_key.empty()) return derive_key_name_key(encryption.keys.front().bytes);
  if (encryption.key_name_key.size() != ValueEnvelope::key_size) {
    throw std::invalid_argument("CacheConfig::encryption.key_name_key must be 32 bytes, it has " +
                                std::to_string(encryption.key_name_key.size()));
  }
  return encryption.key_name_key;
}

}  // namespace

struct CacheService::Impl : std::enable_shared_from_this<CacheService::Impl> {
  Impl(valkey::Client& c, valkey::Client& st, CacheConfig cfg)
      : client(c),
        state(st),
        config(std::move(cfg)),
        envelope(envelope_for(config.encryption)),
        key_name_key(key_name_key_of(config.encryption)),
        keys(config.prefix, key_name_key),
        compare_and_set(std::string(embedded::compare_and_set_source)),
        merge_session(std::string(embedded::merge_session_source)),
        release_lease(std::string(embedded::release_lease_source)),
        background_done(c.get_executor(), asio::steady_timer::time_point::max()),
        near(near_cache_for(c, config)) {}

  valkey::Client& client;
  valkey::Client& state;  // sessions; the same as `client` unless given apart
  CacheConfig config;
  std::unique_ptr<ValueEnvelope> envelope;  // null when no namespace is sealed
  std::string key_name_key;
  CacheKeys keys;
  CacheStats stats;
  valkey::Script compare_and_set;
  valkey::Script merge_session;
  valkey::Script release_lease;
  SingleFlight flights;
  std::mt19937_64 random{std::random_device{}()};
  std::size_t background_refreshes = 0;
  asio::steady_timer background_done;
  std::uint64_t refreshes_started = 0;
  bool closing = false;  // the CacheService was destroyed; background work winds down
  // One per refresh in flight; a std::map keeps each signal where its slot points.
  std::map<std::uint64_t, asio::cancellation_signal> refresh_cancellations;
  // In front of response and metadata reads of `client`; null when off.
  std::unique_ptr<valkey::NearCache> near;

  // Whether reads of the namespace go through the near cache. Metadata read with
  // refresh_ttl_on_read must reach Valkey to restart its TTL.
  bool nears(std::string_view namespace_name) const {
    return near != nullptr && (namespace_name == ns::response ||
                               (namespace_name == ns::metadata && !config.refresh_ttl_on_read));
  }

  // The held text of an unsealed namespace's key, without a copy (valid until the next
  // suspension), or nullopt.
  std::optional<std::string_view> held(std::string_view namespace_name, std::string_view key) {
    const auto entry = held_entry(namespace_name, key);
    if (!entry) return std::nullopt;
    return entry->value;
  }
  // The same with the form a reader decoded from it before (NearCache::set_decoded).
  std::optional<valkey::NearCache::Held> held_entry(std::string_view namespace_name,
                                                    std::string_view key) {
    if (!nears(namespace_name) || seals(namespace_name)) return std::nullopt;
    return near->find_held(key);
  }

  // A write or removal through this service drops the local copy before it is sent.
  void forget(std::string_view namespace_name, std::string_view key) {
    if (nears(namespace_name)) near->forget(key);
  }

  // GET of a cache namespace's key, through the near cache when it has one; counted and
  // failing soft like soft_read. Not a coroutine itself: a frame less on every read.
  Task<std::optional<std::string>> cache_read(NamespaceStats& stats,
                                              std::string_view namespace_name,
                                              const std::string& key) {
    if (!nears(namespace_name)) return soft_read(stats, Command("GET", key));
    return near_read(stats, key);
  }

  // `key` by reference: every caller of cache_read awaits it at once, with the key in its frame.
  Task<std::optional<std::string>> near_read(NamespaceStats& stats, const std::string& key) {
    const auto start = Clock::now();
    std::optional<std::string> value;
    try {
      value = co_await near->get(key, cache_options());
    } catch (const valkey::Error& e) {
      count_failure(stats, e);
    }
    stats.latency.record(Clock::now() - start);
    co_return value;
  }

  // A failed command of a cache namespace is counted; a caller that stopped waiting wants no
  // answer, and Valkey did nothing wrong: rethrown. Called from a catch block.
  static void count_failure(NamespaceStats& stats, const valkey::Error& e) {
    if (e.code() == valkey::errc::cancelled) throw;
    ++stats.errors;
  }

  RequestOptions cache_options() const {
    return {.timeout = config.operation_timeout, .wait_for_connection = false};
  }
  RequestOptions session_options() const { return {.timeout = config.session_timeout}; }

  valkey::Client& client_for(std::string_view namespace_name) {
    return namespace_name == ns::session ? state : client;
  }
  // Both stores, each once.
  std::vector<valkey::Client*> stores() {
    std::vector<valkey::Client*> all(1, &client);
    if (&state != &client) all.push_back(&state);
    return all;
  }

  Seconds default_ttl(std::string_view namespace_name) const {
    if (namespace_name == ns::response) return config.ttl.response;
    if (namespace_name == ns::session) return config.ttl.session;
    if (namespace_name == ns::context) return config.ttl.context;
    if (namespace_name == ns::ratelimit) return config.ttl.rate_limit;
    return config.ttl.metadata;
  }

  bool seals(std::string_view namespace_name) const {
    const Encryption& encryption = config.encryption;
    return (namespace_name == ns::response && encryption.response) ||
           (namespace_name == ns::context && encryption.context) ||
           (namespace_name == ns::session && encryption.session);
  }

  // The key of `id`. A sealed response namespace hashes its ids too: the gateway's are SHA-256
  // of the request, which a guessed prompt would match.
  std::string value_key(std::string_view namespace_name, std::string_view id) const {
    if (namespace_name == ns::response && seals(ns::response)) {
      return keys.key(ns::response, hmac_sha256_hex(key_name_key, id));
    }
    return keys.key(namespace_name, id);
  }

  // What to store under `key`: the value itself, or its envelope in a sealed namespace.
  std::string sealed(std::string_view namespace_name, std::string_view key, std::string value) {
    return seals(namespace_name) ? envelope->seal(value, key) : std::move(value);
  }

  // A value read from a cache namespace; one that does not open is a miss, counted.
  std::optional<std::string> opened(NamespaceStats& stats, std::string_view namespace_name,
                                    std::string_view key, std::optional<std::string> stored) {
    if (!stored || !seals(namespace_name)) return stored;
    Opened result = envelope->open(*stored, key);
    if (!result.plaintext) ++stats.decrypt_failures;
    return std::move(result.plaintext);
  }

  // A session is state: one that exists but does not open is an error, never "no session".
  std::string opened_session(std::string_view session_id, std::string_view key,
                             std::string stored) {
    if (!seals(ns::session)) return stored;
    Opened result = envelope->open(stored, key);
    if (!result.plaintext) {
      ++stats.of(ns::session).decrypt_failures;
      throw valkey::Error(
          valkey::errc::undecryptable,
          "session '" + std::string(session_id) + "' " + std::string(describe(result.error)));
    }
    return std::move(*result.plaintext);
  }

  // A cache command: its failure is counted and becomes nullopt, never an exception.
  Task<std::optional<valkey::resp::Value>> soft(NamespaceStats& stats, Command command) {
    const auto start = Clock::now();
    std::optional<valkey::resp::Value> reply;
    try {
      reply = co_await client.command(std::move(command), cache_options());
    } catch (const valkey::Error& e) {
      count_failure(stats, e);
    }
    stats.latency.record(Clock::now() - start);
    co_return reply;
  }

  // soft() for a string, written out rather than calling it: one frame less on every hit.
  Task<std::optional<std::string>> soft_read(NamespaceStats& stats, Command command) {
    const auto start = Clock::now();
    std::optional<std::string> text;
    try {
      valkey::resp::Value reply = co_await client.command(std::move(command), cache_options());
      if (reply.is_string()) text = std::move(reply.string);
    } catch (const valkey::Error& e) {
      count_failure(stats, e);
    }
    stats.latency.record(Clock::now() - start);
    co_return text;
  }

  Task<void> soft_write(NamespaceStats& stats, Command command) {
    auto reply = co_await soft(stats, std::move(command));
    if (reply) {
      ++stats.writes;
    } else {
      ++stats.writes_dropped;
    }
  }

  // Reads a JSON value of a cache namespace: missing, unreachable or not JSON is a miss.
  Task<std::optional<Json>> read_json(std::string_view namespace_name, std::string key) {
    NamespaceStats& stats = this->stats.of(namespace_name);
    std::optional<std::string> text;
    std::optional<Json> value;
    if (auto kept = held(namespace_name, key)) {
      value = parse_json(*kept);
      if (!value) ++stats.invalid;
      ++(value ? stats.hits : stats.misses);
      co_return value;
    }
    if (config.refresh_ttl_on_read) {
      Command command("GETEX", key, "EX", default_ttl(namespace_name).count());
      text = co_await soft_read(stats, std::move(command));
    } else {
      text = co_await cache_read(stats, namespace_name, key);
    }
    text = opened(stats, namespace_name, key, std::move(text));
    if (text) value = parse_json(*text);
    if (text && !value) ++stats.invalid;
    ++(value ? stats.hits : stats.misses);
    co_return value;
  }

  Task<void> write_json(std::string_view namespace_name, std::string key, const Json& value,
                        const WriteOptions& options) {
    const Seconds ttl = options.ttl.value_or(default_ttl(namespace_name));
    std::string stored = sealed(namespace_name, key, boost::json::serialize(value));
    forget(namespace_name, key);
    co_await soft_write(stats.of(namespace_name), set_with_ttl(key, stored, ttl));
  }

  // The response of a stored entry if it answers this prompt and model (a hash collision
  // does not); counted as a hit or a miss.
  std::optional<std::string> response_in(NamespaceStats& stats,
                                         std::optional<std::string_view> text,
                                         std::string_view prompt, std::string_view model) {
    std::optional<ResponseEntry> entry;
    if (text) {
      if (auto match = match_response_entry(*text, prompt, model)) {
        ++(match->answers ? stats.hits : stats.misses);
        if (!match->answers) return std::nullopt;
        return std::move(match->response);
      }
      entry = read_response_entry_slowly(*text);
      if (!entry) ++stats.invalid;  // written by someone else, or not in the seed's shape
    }
    if (!entry || entry->prompt != prompt || entry->model != model) {
      ++stats.misses;
      return std::nullopt;
    }
    ++stats.hits;
    return std::move(entry->response);
  }

  // Session commands surface their errors, but are still timed.
  Task<valkey::resp::Value> session_command(Command command) {
    co_return co_await timed_strict(state, stats.of(ns::session), std::move(command),
                                    session_options());
  }

  // One command whose failure reaches the caller, timed and counted in `stats`.
  static Task<valkey::resp::Value> timed_strict(valkey::Client& store, NamespaceStats& stats,
                                                Command command, valkey::RequestOptions options) {
    const auto start = Clock::now();
    try {
      auto reply = co_await store.command(std::move(command), options);
      stats.latency.record(Clock::now() - start);
      co_return reply;
    } catch (const valkey::Error& e) {
      if (e.code() != valkey::errc::cancelled) ++stats.errors;
      stats.latency.record(Clock::now() - start);
      throw;
    }
  }

  JsonObject parse_session(std::string_view session_id, std::string_view text) {
    auto value = parse_json(text);
    if (!value || !value->is_object()) {
      ++stats.of(ns::session).invalid;
      throw valkey::Error(valkey::errc::invalid_json,
                          "session '" + std::string(session_id) + "' is not a JSON object");
    }
    return std::move(value->as_object());
  }

  std::string session_ttl_ms() const {
    return config.sliding_session_ttl
               ? std::to_string(std::chrono::milliseconds(config.ttl.session).count())
               : "0";
  }

  // Lets the next process take over at once instead of after the lease's TTL.
  Task<void> release(NamespaceStats& stats, const std::string& lease_key,
                     const std::string& token) {
    try {
      co_await client.eval(release_lease, one(lease_key), one(token), cache_options());
    } catch (const valkey::Error& e) {
      if (e.code() != valkey::errc::cancelled) ++stats.errors;  // the lease expires by itself
    }
  }

  void release_later(std::string namespace_name, std::string lease_key, std::string token) {
    asio::co_spawn(
        client.get_executor(),
        [self = shared_from_this(), namespace_name = std::move(namespace_name),
         lease_key = std::move(lease_key), token = std::move(token)]() -> Task<void> {
          if (self->closing) co_return;  // the service is gone: leave the Client alone
          co_await self->release(self->stats.of(namespace_name), lease_key, token);
        },
        asio::detached);
  }

  // merge_session.lua's arguments: the TTL, then name, name as JSON and value as JSON per field.
  std::vector<std::string> merge_args(const JsonObject& updates) const {
    std::vector<std::string> args;
    args.reserve(1 + 3 * updates.size());
    args.push_back(session_ttl_ms());
    for (const auto& [field, value] : updates) {
      args.emplace_back(field);
      args.push_back(boost::json::serialize(boost::json::string_view(field)));
      args.push_back(boost::json::serialize(value));
    }
    return args;
  }

  // One round trip: the server merges the fields into the stored text (merge_session.lua).
  // A sealed session cannot be merged there; update_session reads and compares-and-sets it.
  Task<bool> merge_on_server(std::string_view session_id, const std::string& key,
                             const JsonObject& updates) {
    NamespaceStats& stats = this->stats.of(ns::session);
    const auto start = Clock::now();
    std::int64_t outcome = 0;
    try {
      outcome = valkey::reply::to_integer(
          co_await state.eval(merge_session, one(key), merge_args(updates), session_options()));
    } catch (const valkey::Error& e) {
      if (e.code() != valkey::errc::cancelled) ++stats.errors;
      stats.latency.record(Clock::now() - start);
      throw;
    }
    stats.latency.record(Clock::now() - start);
    if (outcome == 1) ++stats.writes;
    if (outcome >= -1) co_return outcome == 1;
    ++stats.invalid;
    throw valkey::Error(valkey::errc::invalid_json,
                        "session '" + std::string(session_id) +
                            (outcome == -2 ? "' is not a JSON object"
                                           : "' is not a string value (another type of key)") +
                            "; left as it is");
  }

  std::vector<std::string> compare_and_set_args(std::string_view old_text,
                                                std::string new_text) const {
    return {valkey::sha1_hex(old_text), std::move(new_text), session_ttl_ms()};
  }

  std::string random_token() { return std::to_string(random()) + std::to_string(random()); }

  Task<std::uint64_t> unlink_matching(valkey::Client& store, std::string pattern) {
    valkey::Scanner scanner = valkey::Scanner::keys(store, {.match = pattern, .count = 1000});
    std::uint64_t removed = 0;
    while (auto batch = co_await scanner.next()) {
      if (batch->empty()) continue;
      if (near != nullptr && &store == &client) {
        for (const std::string& key : *batch) near->forget(key);
      }
      removed += static_cast<std::uint64_t>(
          valkey::reply::to_integer(co_await store.command(Command("UNLINK").args(*batch))));
    }
    co_return removed;
  }

  // --- get_or_fetch -----------------------------------------------------------------

  std::string lease_key_for(std::string_view namespace_name, std::string_view id) const {
    return keys.key(ns::lease, std::string(namespace_name) + ":" + std::string(id));
  }

  // A get_or_fetch step taken by a caller outside it: timed and counted like soft(), but
  // the failure reaches the caller.
  Task<valkey::resp::Value> strict(NamespaceStats& stats, Command command) {
    co_return co_await timed_strict(client, stats, std::move(command), cache_options());
  }

  Task<std::optional<FetchEnvelope>> read_envelope_strictly(NamespaceStats& stats,
                                                            const std::string& key) {
    auto reply = co_await strict(stats, Command("GET", key));
    if (!reply.is_string()) co_return std::nullopt;
    auto envelope = FetchEnvelope::decode(reply.string);
    if (!envelope) ++stats.invalid;
    co_return envelope;
  }

  Command store_command(const std::string& key, const Json& value,
                        const FetchOptions& options) const {
    const Seconds fresh = options.ttl.value_or(config.ttl.metadata);
    const std::int64_t stored_at = now_ms();
    const FetchEnvelope envelope{value, stored_at,
                                 stored_at + std::chrono::milliseconds(fresh).count()};
    return set_with_ttl(key, envelope.encode(), fresh + options.stale_grace);
  }

  Task<std::optional<FetchEnvelope>> read_envelope(NamespaceStats& stats,
                                                   std::string_view namespace_name,
                                                   const std::string& key) {
    auto text = co_await cache_read(stats, namespace_name, key);
    if (!text) co_return std::nullopt;
    auto envelope = FetchEnvelope::decode(*text);
    if (!envelope) ++stats.invalid;
    co_return envelope;
  }

  Task<Json> fetch_and_store(NamespaceStats& stats, const std::string& key, const Fetcher& fetcher,
                             const FetchOptions& options) {
    ++stats.fetches;
    Json value = co_await run_fetcher(fetcher, options);
    if (options.should_cache && !options.should_cache(value)) co_return value;
    forget(options.namespace_name, key);
    co_await soft_write(stats, store_command(key, value, options));
    co_return value;
  }

  // One process fetches under a lease; the others wait for the value it stores.
  Task<Json> fetch_under_lease(NamespaceStats& stats, const std::string& key, std::string_view id,
                               const Fetcher& fetcher, const FetchOptions& options) {
    if (!options.cross_process) co_return co_await fetch_and_store(stats, key, fetcher, options);
    const std::string lease_key = lease_key_for(options.namespace_name, id);
    const std::string token = random_token();
    auto acquired =
        co_await soft(stats, Command("SET", lease_key, token, "NX", "PX",
                                     std::chrono::milliseconds(config.lease_ttl).count()));
    // Unreachable Valkey (no reply): nobody to coordinate with, fetch.
    if (!acquired || !acquired->is_null()) {
      std::exception_ptr failure;
      Json value;
      try {
        value = co_await fetch_and_store(stats, key, fetcher, options);
      } catch (...) {
        failure = std::current_exception();
      }
      // A cancelled caller can await nothing more: its lease is released on the side, so that
      // the callers taking over need not wait for it to expire.
      const bool cancelled =
          valkey::detail::is_cancelled(co_await asio::this_coro::cancellation_state);
      if (acquired && !cancelled) co_await release(stats, lease_key, token);
      if (acquired && cancelled) release_later(options.namespace_name, lease_key, token);
      if (failure) std::rethrow_exception(failure);
      co_return value;
    }
    if (auto value =
            co_await wait_for_other_process(stats, options.namespace_name, key, lease_key)) {
      ++stats.coalesced;
      co_return std::move(*value);
    }
    co_return co_await fetch_and_store(stats, key, fetcher, options);
  }

  // Polls for the value the lease holder stores; nullopt when it gave up or took too long.
  Task<std::optional<Json>> wait_for_other_process(NamespaceStats& stats,
                                                   std::string_view namespace_name,
                                                   const std::string& key,
                                                   const std::string& lease_key) {
    asio::steady_timer pause(client.get_executor());
    const auto give_up = Clock::now() + config.lease_wait;
    while (Clock::now() < give_up) {
      pause.expires_after(config.lease_poll);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      valkey::detail::throw_if_cancelled(co_await asio::this_coro::cancellation_state);
      if (auto envelope = co_await read_envelope(stats, namespace_name, key)) {
        co_return std::move(envelope->value);
      }
      auto lease = co_await soft(stats, Command("EXISTS", lease_key));
      if (!lease || lease->integer == 0) co_return std::nullopt;  // the holder is gone
    }
    co_return std::nullopt;
  }

  // One fetch per key in this process. A leader whose caller is cancelled hands over: its
  // followers wake and one of them leads a fetch of its own, while its other failures (the
  // fetcher's, a fetch deadline) are every follower's outcome too.
  Task<Json> fetch_coalesced(NamespaceStats& stats, const std::string& key, std::string_view id,
                             const Fetcher& fetcher, const FetchOptions& options) {
    while (auto flight = flights.find(key)) {
      ++stats.coalesced;
      if (auto value = co_await SingleFlight::wait(flight)) co_return std::move(*value);
      --stats.coalesced;  // its leader gave up: this caller tries again, maybe as the leader
    }
    auto flight = flights.lead(key, client.get_executor());
    std::exception_ptr failure;
    try {
      flight->value = co_await fetch_under_lease(stats, key, id, fetcher, options);
    } catch (...) {
      failure = std::current_exception();
    }
    const bool cancelled =
        valkey::detail::is_cancelled(co_await asio::this_coro::cancellation_state);
    if (failure && !cancelled) flight->error = failure;
    flights.finish(key, *flight);  // with neither value nor error: abandoned, a follower leads
    if (failure) {
      if (cancelled) throw valkey::detail::cancelled_error();
      std::rethrow_exception(failure);
    }
    co_return *flight->value;
  }

  // The fetcher under FetchOptions::fetch_timeout. It runs in a coroutine of its own, so
  // that a fetcher that ignores cancellation cannot hold its callers past the deadline; it
  // is cancelled then, and when its caller is.
  Task<Json> run_fetcher(const Fetcher& fetcher, const FetchOptions& options) {
    if (options.fetch_timeout.count() == 0) co_return co_await fetcher();
    auto run = std::make_shared<FetchRun>(client.get_executor());
    asio::co_spawn(client.get_executor(), fetcher(),
                   asio::bind_cancellation_slot(run->cancel.slot(),
                                                [run](std::exception_ptr error, Json value) {
                                                  run->error = std::move(error);
                                                  run->value = std::move(value);
                                                  run->done = true;
                                                  run->wake.cancel();
                                                }));
    run->wake.expires_after(options.fetch_timeout);
    co_await run->wake.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!run->done) {
      run->cancel.emit(asio::cancellation_type::terminal);
      valkey::detail::throw_if_cancelled(co_await asio::this_coro::cancellation_state);
      throw valkey::Error(valkey::errc::timeout, "the fetcher did not answer within " +
                                                     std::to_string(options.fetch_timeout.count()) +
                                                     " ms");
    }
    if (run->error) std::rethrow_exception(run->error);
    co_return std::move(run->value);
  }

  struct FetchRun {
    explicit FetchRun(const asio::any_io_executor& executor)
        : wake(executor, asio::steady_timer::time_point::max()) {}
    asio::steady_timer wake;
    asio::cancellation_signal cancel;  // lives as long as the fetcher may use its slot
    Json value;
    std::exception_ptr error;
    bool done = false;
  };

  // The refresh holds this Impl, and its own copies of the key, options and fetcher (whose
  // captures the caller must let it own: it runs after the caller returned). Destroying the
  // CacheService cancels it; it then touches the Client no more.
  void refresh_in_background(std::string key, std::string id, Fetcher fetcher,
                             FetchOptions options) {
    if (flights.find(key)) return;  // a refresh or fetch is already under way
    ++background_refreshes;
    const std::uint64_t number = ++refreshes_started;
    asio::co_spawn(
        client.get_executor(),
        [self = shared_from_this(), key = std::move(key), id = std::move(id),
         fetcher = std::move(fetcher), options = std::move(options)]() -> Task<void> {
          try {
            co_await self->fetch_coalesced(self->stats.of(options.namespace_name), key, id, fetcher,
                                           options);
          } catch (...) {
            // The stale value stays until its grace ends; the next caller tries again.
          }
        },
        asio::bind_cancellation_slot(
            refresh_cancellations[number].slot(),
            [self = shared_from_this(), number](const std::exception_ptr&) {
              self->refresh_cancellations.erase(number);
              if (--self->background_refreshes == 0) {
                self->background_done.cancel();
              }
            }));
  }

  void cancel_background_work() {
    for (auto& [number, signal] : refresh_cancellations) {
      signal.emit(asio::cancellation_type::terminal);
    }
  }
};

CacheService::CacheService(valkey::Client& client, CacheConfig config)
    : impl_(std::make_shared<Impl>(client, client, std::move(config))) {}

CacheService::CacheService(valkey::Client& cache, valkey::Client& state, CacheConfig config)
    : impl_(std::make_shared<Impl>(cache, state, std::move(config))) {}

// Background refreshes keep the Impl alive until they end; they are cancelled here so that
// they end soon and leave the Client alone.
CacheService::~CacheService() {
  impl_->closing = true;
  impl_->cancel_background_work();
}

const CacheStats& CacheService::stats() const noexcept {
  return impl_->stats;
}
std::optional<valkey::NearCacheStats> CacheService::near_cache_stats() const {
  if (!impl_->near) return std::nullopt;
  return impl_->near->stats();
}
const CacheKeys& CacheService::keys() const noexcept {
  return impl_->keys;
}
const CacheConfig& CacheService::config() const noexcept {
  return impl_->config;
}

// --- responses ----------------------------------------------------------------------

Task<void> CacheService::cache_response(std::string_view prompt, std::string_view model,
                                        std::string_view response, WriteOptions options) {
  const JsonObject entry = response_entry(prompt, model, response);
  co_await impl_->write_json(ns::response, impl_->keys.response_key(prompt, model), entry, options);
}

Task<std::optional<std::string>> CacheService::get_cached_response(std::string_view prompt,
                                                                   std::string_view model) {
  NamespaceStats& stats = impl_->stats.of(ns::response);
  const std::string key = impl_->keys.response_key(prompt, model);
  // A near-cache hit is answered where it is held, without a round trip: from the form the
  // first hit decoded, else decoded from the stored text and that form kept beside it.
  if (auto kept = impl_->held_entry(ns::response, key)) {
    if (auto response = held_response_for(kept->decoded, prompt, model)) {
      ++stats.hits;
      co_return response;
    }
    auto response = impl_->response_in(stats, kept->value, prompt, model);
    if (response) impl_->near->set_decoded(key, encode_held_response(prompt, model, *response));
    co_return response;
  }
  auto text =
      impl_->opened(stats, ns::response, key, co_await impl_->cache_read(stats, ns::response, key));
  co_return impl_->response_in(stats, text, prompt, model);
}

// --- sessions -----------------------------------------------------------------------

Task<void> CacheService::set_session(std::string_view session_id, const JsonObject& data) {
  const std::string key = impl_->keys.key(ns::session, session_id);
  const std::string stored = impl_->sealed(ns::session, key, boost::json::serialize(data));
  co_await impl_->session_command(set_with_ttl(key, stored, impl_->config.ttl.session));
  ++impl_->stats.of(ns::session).writes;
}

Task<std::optional<JsonObject>> CacheService::get_session(std::string_view session_id) {
  const std::string key = impl_->keys.key(ns::session, session_id);
  Command command = impl_->config.sliding_session_ttl
                        ? Command("GETEX", key, "EX", impl_->config.ttl.session.count())
                        : Command("GET", key);
  auto text =
      valkey::reply::to_optional_string(co_await impl_->session_command(std::move(command)));
  NamespaceStats& stats = impl_->stats.of(ns::session);
  if (!text) {
    ++stats.misses;
    co_return std::nullopt;
  }
  ++stats.hits;
  co_return impl_->parse_session(session_id,
                                 impl_->opened_session(session_id, key, std::move(*text)));
}

Task<bool> CacheService::update_session(std::string_view session_id, const JsonObject& updates) {
  const std::string key = impl_->keys.key(ns::session, session_id);
  if (!impl_->seals(ns::session))
    co_return co_await impl_->merge_on_server(session_id, key, updates);
  for (int attempt = 0; attempt < impl_->config.max_update_attempts; ++attempt) {
    auto text =
        valkey::reply::to_optional_string(co_await impl_->session_command(Command("GET", key)));
    if (!text) co_return false;
    JsonObject merged =
        impl_->parse_session(session_id, impl_->opened_session(session_id, key, *text));
    for (const auto& [field, value] : updates) merged[field] = value;
    std::string new_text = impl_->sealed(ns::session, key, boost::json::serialize(merged));
    const auto outcome = valkey::reply::to_integer(co_await impl_->state.eval(
        impl_->compare_and_set, one(key), impl_->compare_and_set_args(*text, std::move(new_text)),
        impl_->session_options()));
    if (outcome == 1) {
      ++impl_->stats.of(ns::session).writes;
      co_return true;
    }
    if (outcome == -1) co_return false;
  }
  throw valkey::Error(valkey::errc::transaction_aborted,
                      "session '" + std::string(session_id) + "' kept changing: gave up after " +
                          std::to_string(impl_->config.max_update_attempts) + " attempts");
}

Task<bool> CacheService::touch_session(std::string_view session_id) {
  co_return valkey::reply::to_integer(co_await impl_->session_command(Command(
      "EXPIRE", impl_->keys.key(ns::session, session_id), impl_->config.ttl.session.count()))) == 1;
}

Task<bool> CacheService::delete_session(std::string_view session_id) {
  co_return valkey::reply::to_integer(co_await impl_->session_command(
      Command("DEL", impl_->keys.key(ns::session, session_id)))) == 1;
}

// --- context and metadata -----------------------------------------------------------

Task<void> CacheService::cache_context(std::string_view conversation_id, const Json& context,
                                       WriteOptions options) {
  co_await impl_->write_json(ns::context, impl_->keys.key(ns::context, conversation_id), context,
                             options);
}

Task<std::optional<Json>> CacheService::get_cached_context(std::string_view conversation_id) {
  co_return co_await impl_->read_json(ns::context, impl_->keys.key(ns::context, conversation_id));
}

Task<bool> CacheService::delete_context(std::string_view conversation_id) {
  co_return co_await invalidate(ns::context, conversation_id);
}

Task<void> CacheService::set_metadata(std::string_view id, const Json& metadata,
                                      WriteOptions options) {
  co_await impl_->write_json(ns::metadata, impl_->keys.key(ns::metadata, id), metadata, options);
}

Task<std::optional<Json>> CacheService::get_metadata(std::string_view id) {
  co_return co_await impl_->read_json(ns::metadata, impl_->keys.key(ns::metadata, id));
}

Task<bool> CacheService::delete_metadata(std::string_view id) {
  co_return co_await invalidate(ns::metadata, id);
}

// --- invalidation -------------------------------------------------------------------

Task<bool> CacheService::invalidate(std::string_view namespace_name, std::string_view id) {
  const std::string key = impl_->value_key(namespace_name, id);
  impl_->forget(namespace_name, key);
  co_return valkey::reply::to_integer(
      co_await impl_->client_for(namespace_name).command(Command("UNLINK", key))) == 1;
}

Task<std::uint64_t> CacheService::invalidate_namespace(std::string_view namespace_name) {
  co_return co_await impl_->unlink_matching(impl_->client_for(namespace_name),
                                            impl_->keys.key(namespace_name, "*"));
}

Task<std::uint64_t> CacheService::invalidate_pattern(std::string_view pattern) {
  std::uint64_t removed = 0;
  for (valkey::Client* store : impl_->stores()) {
    removed += co_await impl_->unlink_matching(*store, impl_->keys.pattern(pattern));
  }
  co_return removed;
}

// --- get_or_fetch -------------------------------------------------------------------

Task<Json> CacheService::get_or_fetch(std::string_view id, Fetcher fetcher, FetchOptions options) {
  NamespaceStats& stats = impl_->stats.of(options.namespace_name);
  const std::string key = impl_->keys.key(options.namespace_name, id);
  if (auto envelope = co_await impl_->read_envelope(stats, options.namespace_name, key)) {
    ++stats.hits;
    if (!envelope->fresh_at(now_ms())) {
      ++stats.stale_served;
      impl_->refresh_in_background(key, std::string(id), std::move(fetcher), options);
    }
    co_return std::move(envelope->value);
  }
  ++stats.misses;
  co_return co_await impl_->fetch_coalesced(stats, key, id, fetcher, options);
}

// --- get_or_fetch one step at a time -----------------------------------------------

Task<std::optional<Json>> CacheService::read_fetched(std::string_view id,
                                                     std::string_view namespace_name) {
  NamespaceStats& stats = impl_->stats.of(namespace_name);
  auto envelope =
      co_await impl_->read_envelope_strictly(stats, impl_->keys.key(namespace_name, id));
  ++(envelope ? stats.hits : stats.misses);
  if (!envelope) co_return std::nullopt;
  co_return std::move(envelope->value);
}

Task<std::optional<std::string>> CacheService::acquire_fetch_lease(
    std::string_view id, std::string_view namespace_name) {
  std::string token = impl_->random_token();
  auto reply = co_await impl_->strict(
      impl_->stats.of(namespace_name),
      Command("SET", impl_->lease_key_for(namespace_name, id), token, "NX", "PX",
              std::chrono::milliseconds(impl_->config.lease_ttl).count()));
  if (reply.is_null()) co_return std::nullopt;
  co_return token;
}

Task<void> CacheService::store_fetched(std::string_view id, Json value, FetchOptions options) {
  NamespaceStats& stats = impl_->stats.of(options.namespace_name);
  co_await impl_->strict(
      stats, impl_->store_command(impl_->keys.key(options.namespace_name, id), value, options));
  ++stats.writes;
}

Task<bool> CacheService::release_fetch_lease(std::string_view id, std::string_view token,
                                             std::string_view namespace_name) {
  NamespaceStats& stats = impl_->stats.of(namespace_name);
  const auto start = Clock::now();
  try {
    auto reply = co_await impl_->client.eval(impl_->release_lease,
                                             one(impl_->lease_key_for(namespace_name, id)),
                                             one(std::string(token)), impl_->cache_options());
    stats.latency.record(Clock::now() - start);
    co_return valkey::reply::to_integer(reply) == 1;
  } catch (const valkey::Error& e) {
    if (e.code() != valkey::errc::cancelled) ++stats.errors;
    stats.latency.record(Clock::now() - start);
    throw;
  }
}

Task<std::optional<Json>> CacheService::wait_for_fetched(std::string_view id,
                                                         std::string_view namespace_name,
                                                         Milliseconds limit) {
  NamespaceStats& stats = impl_->stats.of(namespace_name);
  const std::string key = impl_->keys.key(namespace_name, id);
  const std::string lease_key = impl_->lease_key_for(namespace_name, id);
  asio::steady_timer pause(impl_->client.get_executor());
  const auto give_up = Clock::now() + limit;
  for (;;) {
    auto envelope = co_await impl_->read_envelope_strictly(stats, key);
    if (!envelope) {
      const auto held = co_await impl_->strict(stats, Command("EXISTS", lease_key));
      // The holder may have stored its value and left between the two reads.
      if (held.integer == 0) envelope = co_await impl_->read_envelope_strictly(stats, key);
      if (held.integer == 0 && !envelope) co_return std::nullopt;
    }
    if (envelope) {
      ++stats.coalesced;
      co_return std::move(envelope->value);
    }
    const auto now = Clock::now();
    if (now >= give_up) co_return std::nullopt;
    pause.expires_after(std::min<Clock::duration>(impl_->config.lease_poll, give_up - now));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    valkey::detail::throw_if_cancelled(co_await asio::this_coro::cancellation_state);
  }
}

Task<void> CacheService::drain() {
  while (impl_->background_refreshes > 0) {
    impl_->background_done.expires_at(asio::steady_timer::time_point::max());
    co_await impl_->background_done.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// --- batches ------------------------------------------------------------------------

Task<std::vector<std::optional<Json>>> CacheService::get_many(std::string_view namespace_name,
                                                              const std::vector<std::string>& ids) {
  std::vector<std::optional<Json>> values(ids.size());
  if (ids.empty()) co_return values;
  NamespaceStats& stats = impl_->stats.of(namespace_name);
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  Command command("MGET");
  for (const std::string& id : ids)
    command.arg(keys.emplace_back(impl_->value_key(namespace_name, id)));
  auto reply = co_await impl_->soft(stats, std::move(command));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    valkey::resp::Value* element =
        reply && i < reply->elements.size() ? &reply->elements[i] : nullptr;
    std::optional<std::string> text;
    if (element != nullptr && element->is_string()) text = std::move(element->string);
    text = impl_->opened(stats, namespace_name, keys[i], std::move(text));
    if (text) {
      values[i] = parse_json(*text);
      if (!values[i]) ++stats.invalid;
    }
    ++(values[i] ? stats.hits : stats.misses);
  }
  co_return values;
}

Task<void> CacheService::set_many(std::string_view namespace_name,
                                  const std::vector<std::pair<std::string, Json>>& entries,
                                  WriteOptions options) {
  if (entries.empty()) co_return;
  NamespaceStats& stats = impl_->stats.of(namespace_name);
  const Seconds ttl = options.ttl.value_or(impl_->default_ttl(namespace_name));
  valkey::Pipeline pipeline;
  for (const auto& [id, value] : entries) {
    const std::string key = impl_->value_key(namespace_name, id);
    impl_->forget(namespace_name, key);
    pipeline.add(
        set_with_ttl(key, impl_->sealed(namespace_name, key, boost::json::serialize(value)), ttl));
  }
  const auto start = Clock::now();
  try {
    auto replies = co_await impl_->client.execute(pipeline, impl_->cache_options());
    for (const auto& reply : replies) ++(reply.is_error() ? stats.writes_dropped : stats.writes);
  } catch (const valkey::Error&) {
    ++stats.errors;
    stats.writes_dropped += entries.size();
  }
  stats.latency.record(Clock::now() - start);
}

// --- opaque values ------------------------------------------------------------------

Task<RawRead> CacheService::read_raw(std::string_view namespace_name, std::string_view id) {
  NamespaceStats& stats = impl_->stats.of(namespace_name);
  const std::string key = impl_->value_key(namespace_name, id);
  RawRead read;
  if (auto kept = impl_->held(namespace_name, key)) {
    read.value = std::string(*kept);
    ++stats.hits;
    co_return read;
  }
  if (impl_->nears(namespace_name)) {
    const std::uint64_t errors = stats.errors;
    read.value = co_await impl_->cache_read(stats, namespace_name, key);
    read.reachable = stats.errors == errors;
  } else {
    auto reply = co_await impl_->soft(stats, Command("GET", key));
    read.reachable = reply.has_value();
    if (reply && reply->is_string()) read.value = std::move(reply->string);
  }
  read.value = impl_->opened(stats, namespace_name, key, std::move(read.value));
  ++(read.value ? stats.hits : stats.misses);
  co_return read;
}

Task<bool> CacheService::write_raw(std::string_view namespace_name, std::string_view id,
                                   std::string_view value, WriteOptions options) {
  NamespaceStats& stats = impl_->stats.of(namespace_name);
  const Seconds ttl = options.ttl.value_or(impl_->default_ttl(namespace_name));
  const std::string key = impl_->value_key(namespace_name, id);
  std::optional<std::string> stored;
  if (impl_->seals(namespace_name)) stored = impl_->sealed(namespace_name, key, std::string(value));
  impl_->forget(namespace_name, key);
  auto reply = co_await impl_->soft(
      stats, set_with_ttl(key, stored ? std::string_view(*stored) : value, ttl));
  ++(reply ? stats.writes : stats.writes_dropped);
  co_return reply.has_value();
}

// --- figures ------------------------------------------------------------------------

Task<ServerInfo> CacheService::server_info() {
  const auto reply = co_await impl_->client.command(Command("INFO", "memory", "stats", "clients"));
  const std::string& info = reply.string;
  co_return ServerInfo{
      .used_memory = info_field(info, "used_memory"),
      .maxmemory = info_field(info, "maxmemory"),
      .evicted_keys = info_field(info, "evicted_keys"),
      .keyspace_hits = info_field(info, "keyspace_hits"),
      .keyspace_misses = info_field(info, "keyspace_misses"),
      .expired_keys = info_field(info, "expired_keys"),
      .connected_clients = info_field(info, "connected_clients"),
  };
}

Task<std::map<std::string, std::uint64_t>> CacheService::key_counts() {
  std::map<std::string, std::uint64_t> counts;
  const std::string prefix = impl_->keys.prefix() + ":";
  for (valkey::Client* store : impl_->stores()) {
    valkey::Scanner scanner = valkey::Scanner::keys(*store, {.match = prefix + "*", .count = 1000});
    while (auto batch = co_await scanner.next()) {
      for (const std::string& key : *batch) {
        const std::string_view rest = std::string_view(key).substr(prefix.size());
        ++counts[std::string(rest.substr(0, rest.find(':')))];
      }
    }
  }
  co_return counts;
}

}  // namespace opencode_cache::cache
