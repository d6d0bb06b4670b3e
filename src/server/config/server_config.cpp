#include "server/config/server_config.hpp"

#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "opencode_cache/cache/cache_keys.hpp"
#include "server/gateway/ascii_case.hpp"

namespace opencode_cache::server {
namespace {

using Getenv = std::function<const char*(const char*)>;

[[noreturn]] void invalid(std::string_view variable, std::string_view why) {
  throw std::invalid_argument(std::string(variable) + ": " + std::string(why));
}

std::string_view env(const Getenv& getenv, const std::string& name) {
  const char* value = getenv(name.c_str());
  return value == nullptr ? std::string_view{} : std::string_view(value);
}

std::uint64_t parse_count(std::string_view variable, std::string_view text, std::uint64_t min) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min) {
    invalid(variable, "'" + std::string(text) + "' is not an integer >= " + std::to_string(min));
  }
  return value;
}

bool parse_bool(std::string_view variable, std::string_view text) {
  if (text == "1" || text == "true" || text == "yes") return true;
  if (text == "0" || text == "false" || text == "no") return false;
  invalid(variable, "'" + std::string(text) + "' is not true or false");
}

template <class T>
void read_count(const Getenv& getenv, const char* variable, T& out, std::uint64_t min = 1) {
  if (auto text = env(getenv, variable); !text.empty()) {
    out = static_cast<T>(parse_count(variable, text, min));
  }
}

void read_ms(const Getenv& getenv, const char* variable, Milliseconds& out) {
  if (auto text = env(getenv, variable); !text.empty()) {
    out = Milliseconds(parse_count(variable, text, 1));
  }
}

void parse_listen(std::string_view text, ServerConfig& config) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) invalid("OPENCODE_CACHE_LISTEN", "expected host:port");
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) invalid("OPENCODE_CACHE_LISTEN", "expected host:port");
  const std::uint64_t port = parse_count("OPENCODE_CACHE_LISTEN", text.substr(colon + 1), 0);
  if (port > 65535) invalid("OPENCODE_CACHE_LISTEN", "port out of range");
  config.listen_host = std::string(host);
  config.listen_port = static_cast<std::uint16_t>(port);
}

bool is_loopback(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::string upper_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool valid_provider_name(std::string_view name) {
  if (name.empty() || name == "v1") return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (!text.empty()) {
    const std::size_t at = text.find(separator);
    std::string_view part = text.substr(0, at);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) parts.push_back(part);
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return parts;
}

void read_providers(const Getenv& getenv, ServerConfig& config) {
  for (std::string_view entry : split(env(getenv, "OPENCODE_CACHE_PROVIDERS"), ',')) {
    const std::size_t equals = entry.find('=');
    if (equals == std::string_view::npos) {
      invalid("OPENCODE_CACHE_PROVIDERS", "expected name=url, got '" + std::string(entry) + "'");
    }
    Provider provider;
    provider.name = std::string(entry.substr(0, equals));
    if (!valid_provider_name(provider.name)) {
      invalid("OPENCODE_CACHE_PROVIDERS", "bad provider name '" + provider.name + "'");
    }
    if (config.find_provider(provider.name) != nullptr) {
      invalid("OPENCODE_CACHE_PROVIDERS", "provider '" + provider.name + "' given twice");
    }
    try {
      provider.base = BaseUrl::parse(entry.substr(equals + 1));
    } catch (const std::invalid_argument& e) {
      invalid("OPENCODE_CACHE_PROVIDERS", provider.name + ": " + e.what());
    }
    provider.api_key = std::string(
        env(getenv, "OPENCODE_CACHE_PROVIDER_" + upper_name(provider.name) + "_API_KEY"));
    config.providers.push_back(std::move(provider));
  }
}

// Lines or comma-separated entries of "<sha256 hex of the key>=<user>" (or "hash user").
void add_api_keys(std::string_view variable, std::string_view text, ServerConfig& config) {
  std::string normalised(text);
  for (char& c : normalised) {
    if (c == '\n' || c == '\r') c = ',';
  }
  for (std::string_view entry : split(normalised, ',')) {
    if (entry.starts_with('#')) continue;
    std::size_t at = entry.find('=');
    if (at == std::string_view::npos) at = entry.find(' ');
    if (at == std::string_view::npos) invalid(variable, "expected <sha256-hex>=<user>");
    std::string hash(entry.substr(0, at));
    std::string_view user = entry.substr(at + 1);
    while (!user.empty() && user.front() == ' ') user.remove_prefix(1);
    for (char& c : hash) c = gateway::ascii_lower(c);
    const bool hex =
        hash.size() == 64 && hash.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!hex) invalid(variable, "a key hash must be 64 hex digits (sha256 of the key)");
    if (user.empty() || user.find(':') != std::string_view::npos) {
      invalid(variable, "a user name must be non-empty and without ':'");
    }
    config.api_keys[hash] = std::string(user);
  }
}

void read_api_keys(const Getenv& getenv, ServerConfig& config) {
  add_api_keys("OPENCODE_CACHE_API_KEYS", env(getenv, "OPENCODE_CACHE_API_KEYS"), config);
  if (auto path = env(getenv, "OPENCODE_CACHE_API_KEYS_FILE"); !path.empty()) {
    std::ifstream file{std::string(path)};
    if (!file) invalid("OPENCODE_CACHE_API_KEYS_FILE", "cannot read '" + std::string(path) + "'");
    const std::string text((std::istreambuf_iterator<char>(file)),
                           std::istreambuf_iterator<char>());
    add_api_keys("OPENCODE_CACHE_API_KEYS_FILE", text, config);
  }
}

template <class F>
auto library_config(std::string_view prefix, F&& read) {
  try {
    return read();
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string(e.what()).starts_with(prefix)
                                    ? std::string(e.what())
                                    : std::string(prefix) + "*: " + e.what());
  }
}

}  // namespace

BaseUrl BaseUrl::parse(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) throw std::invalid_argument("'" + std::string(url) + "' is not a URL");
  BaseUrl base;
  const auto scheme = parsed->scheme();
  if (scheme != "http" && scheme != "https") {
    throw std::invalid_argument("'" + std::string(url) + "': scheme must be http or https");
  }
  base.tls = scheme == "https";
  base.host = parsed->host_address();
  if (base.host.empty()) throw std::invalid_argument("'" + std::string(url) + "' has no host");
  base.port = base.tls ? 443 : 80;
  if (parsed->has_port()) {
    if (parsed->port_number() == 0) {
      throw std::invalid_argument("'" + std::string(url) + "': bad port");
    }
    base.port = parsed->port_number();
  }
  base.path = parsed->encoded_path();
  while (!base.path.empty() && base.path.back() == '/') base.path.pop_back();
  if (parsed->has_query() || parsed->has_fragment()) {
    throw std::invalid_argument("'" + std::string(url) + "': no query or fragment allowed");
  }
  return base;
}

std::string BaseUrl::origin() const {
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

const Provider* ServerConfig::find_provider(std::string_view name) const {
  for (const Provider& provider : providers) {
    if (provider.name == name) return &provider;
  }
  return nullptr;
}

ServerConfig ServerConfig::from_env() {
  return from_env([](const char* name) { return std::getenv(name); });
}

ServerConfig ServerConfig::from_env(const Getenv& getenv) {
  ServerConfig config;
  config.threads = std::max(1u, std::thread::hardware_concurrency());
  if (auto listen = env(getenv, "OPENCODE_CACHE_LISTEN"); !listen.empty()) {
    parse_listen(listen, config);
  }
  if (auto remote = env(getenv, "OPENCODE_CACHE_ALLOW_REMOTE"); !remote.empty()) {
    config.allow_remote = parse_bool("OPENCODE_CACHE_ALLOW_REMOTE", remote);
  }
  if (!is_loopback(config.listen_host) && !config.allow_remote) {
    invalid("OPENCODE_CACHE_LISTEN",
            "'" + config.listen_host +
                "' is not loopback; set OPENCODE_CACHE_ALLOW_REMOTE=true to accept remote clients");
  }
  read_count(getenv, "OPENCODE_CACHE_THREADS", config.threads);
  if (config.threads > 1024) invalid("OPENCODE_CACHE_THREADS", "at most 1024");

  config.default_provider.name = "default";
  const std::string_view upstream = env(getenv, "OPENCODE_CACHE_UPSTREAM");
  try {
    config.default_provider.base =
        BaseUrl::parse(upstream.empty() ? "https://api.openai.com/v1" : upstream);
  } catch (const std::invalid_argument& e) {
    invalid("OPENCODE_CACHE_UPSTREAM", e.what());
  }
  config.default_provider.api_key = std::string(env(getenv, "OPENCODE_CACHE_UPSTREAM_API_KEY"));
  read_providers(getenv, config);
  read_api_keys(getenv, config);

  read_count(getenv, "OPENCODE_CACHE_MAX_BODY_BYTES", config.max_body_bytes);
  read_count(getenv, "OPENCODE_CACHE_MAX_HEADER_BYTES", config.max_header_bytes);
  read_count(getenv, "OPENCODE_CACHE_MAX_CONNECTIONS", config.max_connections);
  read_ms(getenv, "OPENCODE_CACHE_IDLE_TIMEOUT_MS", config.idle_timeout);
  read_ms(getenv, "OPENCODE_CACHE_READ_TIMEOUT_MS", config.read_timeout);
  read_ms(getenv, "OPENCODE_CACHE_WRITE_TIMEOUT_MS", config.write_timeout);
  read_ms(getenv, "OPENCODE_CACHE_DRAIN_TIMEOUT_MS", config.drain_timeout);
  read_ms(getenv, "OPENCODE_CACHE_UPSTREAM_CONNECT_TIMEOUT_MS", config.upstream_connect_timeout);
  read_ms(getenv, "OPENCODE_CACHE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS",
          config.upstream_first_byte_timeout);
  read_ms(getenv, "OPENCODE_CACHE_UPSTREAM_CHUNK_TIMEOUT_MS", config.upstream_chunk_timeout);
  read_count(getenv, "OPENCODE_CACHE_UPSTREAM_POOL_SIZE", config.upstream_pool_size, 0);

  if (env(getenv, "OPENCODE_CACHE_VOLATILE_FIELDS").data() != nullptr) {
    config.volatile_fields.clear();
    for (std::string_view field : split(env(getenv, "OPENCODE_CACHE_VOLATILE_FIELDS"), ',')) {
      config.volatile_fields.emplace_back(field);
    }
  }
  if (auto scope = env(getenv, "OPENCODE_CACHE_SCOPE"); !scope.empty()) {
    if (scope != "credential" && scope != "user" && scope != "shared") {
      invalid("OPENCODE_CACHE_SCOPE", "one of credential, user, shared");
    }
    config.cache_scope = std::string(scope);
  }
  if (auto usage = env(getenv, "OPENCODE_CACHE_REPLAY_USAGE"); !usage.empty()) {
    if (usage != "original" && usage != "cached" && usage != "zero") {
      invalid("OPENCODE_CACHE_REPLAY_USAGE", "one of original, cached, zero");
    }
    config.replay_usage = std::string(usage);
  }
  read_ms(getenv, "OPENCODE_CACHE_KEEPALIVE_MS", config.keepalive_interval);
  if (auto shared = env(getenv, "OPENCODE_CACHE_SHARED_FLIGHT"); !shared.empty()) {
    config.shared_flight = parse_bool("OPENCODE_CACHE_SHARED_FLIGHT", shared);
  }
  read_ms(getenv, "OPENCODE_CACHE_FLIGHT_LEASE_MS", config.flight_lease);
  if (config.flight_lease < Milliseconds(30))
    invalid("OPENCODE_CACHE_FLIGHT_LEASE_MS", "at least 30");
  read_ms(getenv, "OPENCODE_CACHE_FOLLOW_TIMEOUT_MS", config.follow_timeout);
  read_count(getenv, "OPENCODE_CACHE_FLIGHT_MAX_BYTES", config.flight_max_bytes);
  if (auto debug = env(getenv, "OPENCODE_CACHE_DEBUG_LOG"); !debug.empty()) {
    config.debug_log = parse_bool("OPENCODE_CACHE_DEBUG_LOG", debug);
  }

  config.app = AppApiConfig::from_env(getenv);

  config.valkey = library_config("VALKEY_", [&] { return valkey::ClientConfig::from_env(getenv); });
  config.valkey.client_name = "opencode-cache-server";
  config.valkey_state =
      library_config("VALKEY_STATE_", [&] { return valkey::ClientConfig::state_from_env(getenv); });
  if (config.valkey_state) config.valkey_state->client_name = "opencode-cache-server-state";
  config.cache = library_config("CACHE_", [&] { return cache::CacheConfig::from_env(getenv); });
  // The near cache (CACHE_NEAR_ENTRIES) stays coherent through Valkey's invalidations: the
  // cache's connections then run with client tracking.
  if (config.cache.near_entries > 0) config.valkey.tracking = true;
  config.rate_limits =
      library_config("RATE_LIMIT_", [&] { return ratelimit::RateLimiterConfig::from_env(getenv); });
  // The limits keep the library's short deadline (RATE_LIMIT_TIMEOUT_MS, 100 ms), after which
  // their failure policy decides: a request never waits seconds on Valkey for them.
  return config;
}

std::string help_text() {
  return R"(opencode-cache-server: an OpenAI-compatible caching gateway in front of model providers.

Point a client's baseURL at http://<listen>/v1 (default provider) or
http://<listen>/<provider>/v1 (a named provider). Configuration is read from the environment:

  OPENCODE_CACHE_LISTEN            host:port to listen on             (127.0.0.1:3000)
  OPENCODE_CACHE_ALLOW_REMOTE      allow a non-loopback LISTEN host   (false)
  OPENCODE_CACHE_THREADS           event loop threads                 (number of cores)
  OPENCODE_CACHE_UPSTREAM          default provider's base URL        (https://api.openai.com/v1)
  OPENCODE_CACHE_UPSTREAM_API_KEY  key injected for the default provider (none: pass through)
  OPENCODE_CACHE_PROVIDERS         named providers: name=url,name=url (none)
  OPENCODE_CACHE_PROVIDER_<NAME>_API_KEY  key injected for provider <name> (none: pass through)
  OPENCODE_CACHE_API_KEYS          gateway keys: <sha256 hex of key>=<user>,... (none: user "local")
  OPENCODE_CACHE_API_KEYS_FILE     file of the same, one per line     (none)
  OPENCODE_CACHE_SCOPE             cache scope: credential | user | shared (credential)
  OPENCODE_CACHE_VOLATILE_FIELDS   body fields left out of the key    (user,prompt_cache_key,
                                   promptCacheKey,metadata,stream,stream_options,store,service_tier)
  OPENCODE_CACHE_MAX_BODY_BYTES    request body limit, 413 above      (8388608)
  OPENCODE_CACHE_MAX_HEADER_BYTES  request head limit, 431 above      (16384)
  OPENCODE_CACHE_MAX_CONNECTIONS   open client connections            (10000)
  OPENCODE_CACHE_IDLE_TIMEOUT_MS   idle keep-alive / request head     (60000)
  OPENCODE_CACHE_READ_TIMEOUT_MS   request body                       (30000)
  OPENCODE_CACHE_WRITE_TIMEOUT_MS  a client not reading its response  (30000)
  OPENCODE_CACHE_DRAIN_TIMEOUT_MS  SIGTERM: time for running requests (30000)
  OPENCODE_CACHE_UPSTREAM_CONNECT_TIMEOUT_MS     (10000)  504 after
  OPENCODE_CACHE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS  (300000) 504 after
  OPENCODE_CACHE_UPSTREAM_CHUNK_TIMEOUT_MS       (300000) between body chunks
  OPENCODE_CACHE_UPSTREAM_POOL_SIZE  idle upstream connections per upstream and thread (32)
  OPENCODE_CACHE_REPLAY_USAGE      usage a hit reports, every API: original | cached | zero (original)
  OPENCODE_CACHE_KEEPALIVE_MS      heartbeat interval while a stream waits (10000)
  OPENCODE_CACHE_SHARED_FLIGHT     single flight across processes sharing Valkey (true)
  OPENCODE_CACHE_FLIGHT_LEASE_MS   lease of an answer in flight; a dead leader's followers
                                   take over after it                 (3000)
  OPENCODE_CACHE_FOLLOW_TIMEOUT_MS a follower's wait for the leader's answer to begin (60000)
  OPENCODE_CACHE_FLIGHT_MAX_BYTES  body bytes recorded for followers per answer (8388608)
  OPENCODE_CACHE_DEBUG_LOG         log request details                (false)

  The app's API (/api/...):
  OPENCODE_CACHE_ADMIN_TOKEN       bearer token for invalidation and stats (none: refused)
  OPENCODE_CACHE_CORS_ORIGINS      web UI origins allowed, comma-separated, or * (http://localhost:5173)
  OPENCODE_CACHE_API_MAX_VALUE_BYTES  largest value a PUT or PATCH may carry (1048576)
  OPENCODE_CACHE_API_MAX_WAIT_MS   longest GET /api/cache/{key}?wait=ms  (30000)
  OPENCODE_CACHE_EVENTS_HISTORY    events kept for Last-Event-ID resumption, about (1000)
  OPENCODE_CACHE_EVENTS_MAX_CLIENTS  GET /api/events streams per thread (256)
  OPENCODE_CACHE_EVENTS_HEARTBEAT_MS  comment interval on idle event streams (15000)

  VALKEY_URL | VALKEY_HOST, VALKEY_PORT, VALKEY_USERNAME, VALKEY_PASSWORD, VALKEY_DB
  VALKEY_STATE_URL, VALKEY_STATE_USERNAME, VALKEY_STATE_PASSWORD: sessions and rate limits
                                   in a Valkey apart from the cache  (unset: the cache's)
  CACHE_TTL_RESPONSE, CACHE_TTL_METADATA, CACHE_KEY_PREFIX, ...   (see README)
  RATE_LIMIT_<TYPE>_MAX, RATE_LIMIT_<TYPE>_WINDOW_MS, ... for user, provider, global;
  RATE_LIMIT_TIMEOUT_MS defaults to the cache's operation timeout (250 ms) here

A value that cannot be used stops startup with a message naming the variable.
)";
}

}  // namespace opencode_cache::server
