#include "server/api/dispatcher.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>

#include "opencode_cache/cache/cache_service.hpp"
#include "opencode_cache/ratelimit/headers.hpp"
#include "opencode_cache/ratelimit/rate_limiter.hpp"
#include "opencode_cache/valkey/client.hpp"
#include "server/api/log_writer.hpp"
#include "server/app/app_api.hpp"
#include "server/dashboard/dashboard_page.hpp"
#include "server/flow/cache_controls.hpp"
#include "server/flow/entry_codec.hpp"
#include "server/flow/flight.hpp"
#include "server/flow/identity.hpp"
#include "server/flow/key_headers.hpp"
#include "server/flow/shared_flight.hpp"
#include "server/gateway/ascii_case.hpp"
#include "server/gateway/canonical_json.hpp"
#include "server/gateway/llm_api.hpp"
#include "server/gateway/request_key.hpp"
#include "server/http/error_response.hpp"
#include "server/http/route.hpp"

namespace opencode_cache::server::api {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using flow::Flight;
using http::Endpoint;
using http::Headers;
using http::Request;
using http::Responder;
using http::Task;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Records the status a handler answered with, for metrics and logs.
class RecordingResponder final : public Responder {
 public:
  explicit RecordingResponder(Responder& inner) : inner_(inner) {}
  Task<void> send(int status, Headers headers, std::string body) override {
    status_ = status;
    co_await inner_.send(status, std::move(headers), std::move(body));
  }
  Task<void> begin(int status, Headers headers) override {
    status_ = status;
    co_await inner_.begin(status, std::move(headers));
  }
  Task<void> write(std::string_view bytes) override { co_await inner_.write(bytes); }
  Task<void> end() override { co_await inner_.end(); }
  void reset() override {
    reset_ = true;
    inner_.reset();
  }
  bool started() const override { return inner_.started(); }
  int status() const { return status_; }
  bool was_reset() const { return reset_; }

 private:
  Responder& inner_;
  int status_ = 0;
  bool reset_ = false;
};

Headers json_headers() {
  Headers headers;
  headers.emplace_back("content-type", "application/json");
  return headers;
}

// No default for `headers`: g++ 12 mishandles default arguments of coroutines
// (docs/coroutine-pitfalls.md).
Task<void> send_error(Responder& responder, http::ErrorStyle style, int status,
                      std::string_view message, Headers headers) {
  headers.emplace_back("content-type", "application/json");
  co_await responder.send(status, std::move(headers), http::error_body_for(style, status, message));
}

http::ErrorStyle error_style(const http::Route& route) {
  return http::error_style(route.endpoint);
}

std::vector<ratelimit::LimitRef> limits_for(const std::string& user, const std::string& provider,
                                            bool include_provider) {
  std::vector<ratelimit::LimitRef> limits;
  limits.push_back({"user", user});
  if (include_provider) limits.push_back({"provider", provider});
  limits.push_back({"global", "all"});
  return limits;
}

std::vector<ratelimit::LimitRef> provider_limit_for(const std::string& provider) {
  std::vector<ratelimit::LimitRef> limits;
  limits.push_back({"provider", provider});
  return limits;
}

std::size_t limit_type_index(std::string_view type) {
  for (std::size_t i = 0; i + 1 < limit_types.size(); ++i) {
    if (limit_types[i] == type) return i;
  }
  return limit_types.size() - 1;
}

std::string_view api_name(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::chat_completions: return gateway::api::chat_completions;
    case Endpoint::responses: return gateway::api::responses;
    case Endpoint::messages: return gateway::api::messages;
    case Endpoint::embeddings: return gateway::api::embeddings;
    default: return gateway::api::models;
  }
}

gateway::LlmApi llm_api(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::chat_completions: return gateway::LlmApi::chat_completions;
    case Endpoint::responses: return gateway::LlmApi::responses;
    case Endpoint::messages: return gateway::LlmApi::messages;
    default: return gateway::LlmApi::other;
  }
}

// What the cached flow decided, for the response headers, metrics and logs.
struct Lookup {
  Lookup() = default;
  CacheResult result = CacheResult::miss;
  std::optional<flow::Replay> entry;
};

}  // namespace

struct Dispatcher::Impl {
  Impl(asio::any_io_executor ex, const ServerConfig& cfg, MetricsRegistry& reg, std::size_t thread)
      : executor(ex),
        config(cfg),
        registry(reg),
        metrics(reg.of(thread)),
        log(ex),
        client(ex, cfg.valkey),
        state_client(cfg.valkey_state ? std::make_unique<valkey::Client>(ex, *cfg.valkey_state)
                                      : nullptr),
        cache(client, state(), cfg.cache),
        limiter(state(), cfg.rate_limits),
        app(ex, cfg, client, cache, limiter, reg.cache_stats(), thread),
        pool(ex,
             upstream::Timeouts{cfg.upstream_connect_timeout, cfg.upstream_first_byte_timeout,
                                cfg.upstream_chunk_timeout},
             cfg.upstream_pool_size),
        volatile_fields(cfg.volatile_fields),
        responses_volatile_fields(
            gateway::VolatileFields::for_api(gateway::api::responses, cfg.volatile_fields)),
        scope_mode(
            gateway::parse_scope_mode(cfg.cache_scope).value_or(gateway::ScopeMode::credential)),
        replay_usage(
            gateway::parse_replay_usage(cfg.replay_usage).value_or(gateway::ReplayUsage::original)),
        shared(client, cfg.valkey, cfg.cache.prefix, shared_flight_config(cfg), shared_events()),
        stats_timer(ex) {
    asio::co_spawn(executor, copy_client_stats(), asio::detached);
  }

  asio::any_io_executor executor;
  const ServerConfig& config;
  MetricsRegistry& registry;
  ThreadMetrics& metrics;
  LogWriter log;
  valkey::Client client;
  std::unique_ptr<valkey::Client> state_client;  // VALKEY_STATE_URL's, when set
  cache::CacheService cache;
  ratelimit::RateLimiter limiter;
  app::AppApi app;
  upstream::Pool pool;
  flow::FlightTable flights;
  gateway::VolatileFields volatile_fields;
  gateway::VolatileFields responses_volatile_fields;
  gateway::ScopeMode scope_mode;
  gateway::ReplayUsage replay_usage;
  flow::SharedFlights shared;
  asio::steady_timer stats_timer;
  std::string last_credential;  // scope_for's last argument and answer
  std::string last_scope;
  bool closed = false;

  static flow::SharedFlightConfig shared_flight_config(const ServerConfig& cfg) {
    flow::SharedFlightConfig out;
    out.enabled = cfg.shared_flight;
    out.lease = cfg.flight_lease;
    out.follow_timeout = cfg.follow_timeout;
    out.max_bytes = cfg.flight_max_bytes;
    return out;
  }

  flow::SharedFlightEvents shared_events() {
    flow::SharedFlightEvents events;
    events.followed = [this] { metrics.single_flight_follows.add(); };
    events.took_over = [this] { metrics.single_flight_takeovers.add(); };
    events.fell_back = [this] { metrics.single_flight_fallbacks.add(); };
    events.aborted = [this] { metrics.single_flight_aborts.add(); };
    return events;
  }

  // Where sessions and rate limits live: a Valkey of their own, or the cache's.
  valkey::Client& state() { return state_client ? *state_client : client; }

  // The client's counters belong to this thread; /metrics reads the copies from any thread.
  Task<void> copy_client_stats() {
    while (!closed) {
      const valkey::ClientStats stats = client.stats();
      metrics.valkey_connects.set(stats.connects);
      metrics.valkey_disconnects.set(stats.disconnects);
      metrics.valkey_timeouts.set(stats.timeouts);
      metrics.valkey_breaker_rejections.set(stats.breaker_rejections);
      metrics.breaker_open.set(client.breaker_state() == valkey::CircuitBreaker::State::closed ? 0
                                                                                               : 1);
      stats_timer.expires_after(std::chrono::seconds(1));
      co_await stats_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  Task<void> handle(Request& request, Responder& client_responder) {
    const auto start = Clock::now();
    RecordingResponder responder(client_responder);
    const http::Route route = http::route(config, request.target);
    Lookup lookup;
    lookup.result = CacheResult::none;
    std::string user;
    bool client_gone = false;
    bool failed = false;
    try {
      co_await dispatch(route, request, responder, lookup, user);
    } catch (const boost::system::system_error&) {
      client_gone = true;
    } catch (const std::exception& e) {
      log_error(request, e.what());
      failed = true;
    }
    // co_await is not allowed inside a handler.
    if (failed) {
      if (!responder.started()) {
        co_await send_error(responder, error_style(route), 500, "internal error", Headers());
      } else {
        responder.reset();
      }
    }
    metrics.count_request(route.name, responder.status(), lookup.result);
    log_request(request, route, responder, lookup.result, user, Clock::now() - start, client_gone);
    if (client_gone) throw boost::system::system_error(asio::error::connection_reset);
  }

  void log_error(const Request& request, std::string_view what) {
    log.line()
        .field("ts", now_ms())
        .field("level", "error")
        .field("msg", "request failed")
        .field("id", request.id)
        .field("error", what);
  }

  void log_request(const Request& request, const http::Route& route,
                   const RecordingResponder& responder, CacheResult cache_result,
                   const std::string& user, Clock::duration took, bool client_gone) {
    LogLine line = log.line();
    line.field("ts", now_ms())
        .field("level", "info")
        .field("msg", "request")
        .field("id", request.id)
        .field("method", request.method)
        .field("route", route.name);
    if (route.provider != nullptr) line.field("provider", route.provider->name);
    line.field("status", std::int64_t{responder.status()});
    if (cache_result != CacheResult::none) line.field("cache", name_of(cache_result));
    if (!user.empty()) line.field("user", user);
    line.field("duration_us",
               std::int64_t{std::chrono::duration_cast<std::chrono::microseconds>(took).count()});
    if (client_gone) line.field("client_gone", true);
    if (responder.was_reset()) line.field("reset", true);
    if (config.debug_log) {
      line.field("target", request.target)
          .field("body_bytes", static_cast<std::int64_t>(request.body.size()));
    }
  }

  Task<void> dispatch(const http::Route& route, Request& request, RecordingResponder& responder,
                      Lookup& lookup, std::string& user) {
    const std::string_view method = http::allowed_method(route.endpoint);
    if (!method.empty() && request.method != method) {
      Headers allow;
      allow.emplace_back("allow", std::string(method));
      const std::string message =
          "method " + request.method + " not allowed here; use " + std::string(method);
      co_await send_error(responder, error_style(route), 405, message, std::move(allow));
      co_return;
    }
    switch (route.endpoint) {
      case Endpoint::healthz:
        co_await responder.send(200, json_headers(), R"({"status":"ok"})");
        co_return;
      case Endpoint::readyz: co_await readiness(responder); co_return;
      case Endpoint::metrics: {
        Headers headers;
        headers.emplace_back("content-type", "text/plain; version=0.0.4; charset=utf-8");
        co_await responder.send(200, std::move(headers), registry.render());
        co_return;
      }
      case Endpoint::dashboard: co_await serve_dashboard(responder); co_return;
      case Endpoint::app_api: co_await app.handle(request, responder); co_return;
      case Endpoint::not_found: {
        const std::string message = "no such route: " + request.method + " " +
                                    request.target.substr(0, request.target.find('?'));
        co_await send_error(responder, error_style(route), 404, message, Headers());
      }
        co_return;
      default: break;
    }
    const Provider& provider = *route.provider;
    auto authenticated = flow::authenticate(config, provider, request.headers);
    if (!authenticated) {
      co_await send_error(responder, error_style(route), 401, "missing or unknown gateway API key",
                          Headers());
      co_return;
    }
    user = std::move(*authenticated);
    if (route.endpoint == Endpoint::passthrough) {
      co_await passthrough(route, request, responder, user);
    } else {
      co_await cached(route, request, responder, lookup, user);
    }
  }

  static Task<void> serve_dashboard(Responder& responder) {
    Headers headers;
    headers.emplace_back("content-type", "text/html; charset=utf-8");
    headers.emplace_back("cache-control", "no-cache");
    // The page's one script and style are inline; it talks to this gateway and nothing else.
    headers.emplace_back("content-security-policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src "
                         "'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; "
                         "form-action 'none'; frame-ancestors 'none'");
    headers.emplace_back("x-content-type-options", "nosniff");
    co_await responder.send(200, std::move(headers), std::string(dashboard::page()));
  }

  Task<void> readiness(Responder& responder) {
    std::string reason = co_await why_not_ready(client, "valkey");
    if (reason.empty() && state_client)
      reason = co_await why_not_ready(*state_client, "state valkey");
    if (reason.empty()) {
      co_await responder.send(200, json_headers(), R"({"status":"ready"})");
    } else {
      boost::json::object body;
      body["status"] = "not ready";
      body["reason"] = reason;
      co_await responder.send(503, json_headers(), boost::json::serialize(body));
    }
  }

  // Always a PING: while the breaker is open it is refused at once, and after the cool-down
  // it is the probe that closes the breaker again. Empty when ready.
  static Task<std::string> why_not_ready(valkey::Client& store, std::string name) {
    std::string reason;
    try {
      valkey::RequestOptions options;
      options.timeout = std::chrono::milliseconds(1000);
      options.wait_for_connection = false;  // a Valkey that is down says so at once
      co_await store.command(valkey::Command("PING"), options);
    } catch (const std::exception& e) {
      reason = name + " unreachable: " + e.what();
    }
    if (reason.empty() && store.breaker_state() != valkey::CircuitBreaker::State::closed) {
      reason = name + " circuit breaker is open";
    }
    co_return reason;
  }

  // Checks the limits; false after answering 429. Allowed or not, the headers are added.
  Task<bool> admit(const std::string& user, const Provider& provider, bool costs_provider,
                   Headers& headers, Responder& responder, http::ErrorStyle style) {
    auto decisions = co_await limiter.check_many(limits_for(user, provider.name, costs_provider));
    co_return co_await answer_limits(decisions, headers, responder, style);
  }

  // The headers of `decisions` added; false after answering 429.
  Task<bool> answer_limits(const std::vector<ratelimit::Decision>& decisions, Headers& headers,
                           Responder& responder, http::ErrorStyle style) {
    for (auto& header : ratelimit::rate_limit_headers(decisions)) {
      std::string name = std::move(header.name);
      for (char& c : name) c = gateway::ascii_lower(c);
      headers.emplace_back(std::move(name), std::move(header.value));
    }
    if (ratelimit::all_allowed(decisions)) co_return true;
    const auto& binding = ratelimit::binding_decision(decisions);
    metrics.rate_limited[limit_type_index(binding.type)].add();
    const std::string message = "rate limit exceeded (" + binding.type + ")";
    co_await send_error(responder, style, 429, message, headers);
    co_return false;
  }

  // The stored entry and the limits every request pays (user and global) in one round trip:
  // the read and the limiter's script go out together. A hit costs the provider nothing, so
  // its limit is checked only on a miss, after (see README: a miss the provider limit refuses
  // has counted against the user and global limits).
  Task<std::tuple<cache::RawRead, std::vector<ratelimit::Decision>>> read_and_limit(
      const std::string& namespace_name, const std::string& key, const std::string& user,
      const Provider& provider) {
    using namespace asio::experimental::awaitable_operators;
    auto [decisions, read] = co_await (limiter.check_many(limits_for(user, provider.name, false)) &&
                                       behind_limits(cache.read_raw(namespace_name, key)));
    co_return std::make_tuple(std::move(read), std::move(decisions));
  }

  // The limiter sends its batch from a handler it posts; a command posted after it reaches the
  // connection's queue just behind the script and both go to Valkey in one write: one round
  // trip, where a command written at once would have its reply back before the script left.
  template <typename T>
  Task<T> behind_limits(Task<T> command) {
    co_await asio::post(executor, asio::use_awaitable);
    co_return co_await std::move(command);
  }

  upstream::Request upstream_request(const http::Route& route, const Request& request) const {
    upstream::Request out;
    out.method = request.method;
    out.target = route.upstream_target;
    out.headers = flow::upstream_headers(config, *route.provider, request.headers);
    out.body = request.body;
    return out;
  }

  flow::PumpTiming timing() {
    flow::PumpTiming timing;
    timing.first_byte = [this](std::chrono::nanoseconds d) { metrics.upstream_ttfb.observe(d); };
    timing.complete = [this](std::chrono::nanoseconds d) { metrics.upstream_latency.observe(d); };
    return timing;
  }

  Task<void> passthrough(const http::Route& route, Request& request, Responder& responder,
                         const std::string& user) {
    Headers headers;
    if (!co_await admit(user, *route.provider, true, headers, responder, error_style(route))) {
      co_return;
    }
    auto flight = std::make_shared<Flight>(executor);
    asio::co_spawn(executor,
                   run_flight(flight, route.provider->base, upstream_request(route, request)),
                   asio::detached);
    co_await flow::follow(flight, responder, std::move(headers), true, error_style(route));
  }

  Task<void> run_flight(std::shared_ptr<Flight> flight, BaseUrl base, upstream::Request request) {
    co_await flow::pump(flight, pool, base, std::move(request), timing());
    if (flight->failed) metrics.upstream_errors.add();
  }

  struct StorePlan {
    StorePlan() = default;
    bool store = false;
    gateway::LlmApi api = gateway::LlmApi::other;
    std::string namespace_name;
    std::string key;
    std::string flight_key;
    cache::WriteOptions options;
    std::optional<flow::SharedFlights::Claim> ahead;  // the lease, claimed with the limits
  };

  // A lease claimed ahead that the request may not use: given back as soon as it knows, or
  // when it leaves (a refusal, an error), unless the flight it leads took it.
  class LeaseAhead {
   public:
    LeaseAhead(flow::SharedFlights& shared, const std::string& flight_key)
        : shared_(shared), flight_key_(flight_key) {}
    LeaseAhead(const LeaseAhead&) = delete;
    LeaseAhead& operator=(const LeaseAhead&) = delete;
    ~LeaseAhead() { release(); }

    void hold(flow::SharedFlights::Claim claim) { claim_ = std::move(claim); }
    std::optional<flow::SharedFlights::Claim> take() { return std::exchange(claim_, std::nullopt); }
    void release() noexcept {
      if (!claim_) return;
      try {
        shared_.release(flight_key_, *claim_);
      } catch (...) {
        // Not given back: it expires with its lease time.
      }
      claim_.reset();
    }

   private:
    flow::SharedFlights& shared_;
    const std::string& flight_key_;
    std::optional<flow::SharedFlights::Claim> claim_;
  };

  // The provider's limit and the lease of a request about to lead, in one round trip. Should
  // the limiter throw, a claim won is lost with it and expires with its lease time.
  Task<std::tuple<std::vector<ratelimit::Decision>, flow::SharedFlights::Claim>> limit_and_claim(
      const std::string& provider, const std::string& flight_key) {
    using namespace asio::experimental::awaitable_operators;
    co_return co_await (limiter.check_many(provider_limit_for(provider)) &&
                        behind_limits(shared.claim_ahead(flight_key)));
  }

  // An answer to be stored comes from the one leader among the gateway processes.
  Task<void> run_and_store(std::shared_ptr<Flight> flight, BaseUrl base, upstream::Request request,
                           StorePlan plan) {
    // Spawned coroutines start inline: the request that spawned this one must attach to the
    // flight first, or a flight with no client yet would look abandoned to the upstream read
    // and the follower (a lease claimed ahead leaves no round trip before them to wait for).
    co_await asio::post(executor, asio::use_awaitable);
    if (plan.store) {
      // Named, not a temporary in the co_await: g++ 12 would destroy it twice.
      flow::SharedFlights::Lead lead = [this, flight, base, request, plan]() -> Task<void> {
        co_await store_answer(flight, base, request, plan);
      };
      co_await shared.run(flight, plan.flight_key, std::move(lead), std::move(plan.ahead));
    } else {
      co_await store_answer(flight, base, std::move(request), plan);
    }
    flights.erase(plan.flight_key, flight.get());
  }

  Task<void> store_answer(std::shared_ptr<Flight> flight, BaseUrl base, upstream::Request request,
                          StorePlan plan) {
    co_await run_flight(flight, base, std::move(request));
    // The clients waiting on the flight answer first (their wake-ups are queued already);
    // the entry is made and stored behind them, so a miss's response does not wait for it.
    co_await asio::post(executor, asio::use_awaitable);
    flow::Recording recording = flow::record(*flight, plan.api, now_ms());
    if (plan.store && recording.entry) {
      const bool written =
          co_await cache.write_raw(plan.namespace_name, plan.key, *recording.entry, plan.options);
      (written ? metrics.stores : metrics.stores_skipped).add();
    } else {
      metrics.stores_skipped.add();
    }
    // Finished: later requests read the entry or make their own call, never join this one.
    flights.erase(plan.flight_key, flight.get());
  }

  // A client sends the same credential with every request: its hash is kept for the next one.
  std::string scope_for(const std::string& credential, const std::string& user) {
    if (scope_mode != gateway::ScopeMode::credential) {
      return gateway::scope_for(scope_mode, credential, user);
    }
    if (!last_scope.empty() && credential == last_credential) return last_scope;
    last_credential = credential;
    last_scope = gateway::scope_for(scope_mode, credential, user);
    return last_scope;
  }

  Task<void> cached(const http::Route& route, Request& request, Responder& responder,
                    Lookup& lookup, const std::string& user) {
    boost::json::value body;
    if (request.method == "POST") {
      gateway::JsonLimits limits;
      limits.max_bytes = config.max_body_bytes;
      auto parsed = gateway::parse_request_json(request.body, limits);
      if (!parsed.ok() || !parsed.value.is_object()) {
        const std::string message =
            parsed.ok() ? std::string("the request body must be a JSON object") : parsed.error;
        co_await send_error(responder, error_style(route), 400, message, Headers());
        co_return;
      }
      body = std::move(parsed.value);
    }
    const gateway::LlmApi api = llm_api(route.endpoint);
    const bool convertible = gateway::streams(api);
    const bool stream = convertible && gateway::wants_stream(body);
    const http::ErrorStyle style = error_style(route);
    const flow::CacheControls controls = flow::cache_controls(request.headers);
    const std::string credential = flow::upstream_credential(*route.provider, request.headers);
    const std::string scope = scope_for(credential, user);
    gateway::KeyInput input;
    input.api = api_name(route.endpoint);
    input.provider = route.provider->name;
    input.scope = scope;
    const auto significant_headers = flow::key_headers(api, request.headers);
    for (const auto& [name, value] : significant_headers) input.headers.emplace_back(name, value);
    const std::string key = gateway::request_key(
        input, body,
        api == gateway::LlmApi::responses ? responses_volatile_fields : volatile_fields);
    const std::string namespace_name(route.endpoint == Endpoint::models ? cache::ns::metadata
                                                                        : cache::ns::response);
    // Identical requests share a flight only when they want the same shape of answer.
    const std::string flight_key = key + (stream ? ":stream" : ":json");

    lookup.result = CacheResult::miss;
    std::shared_ptr<Flight> joined;
    std::vector<ratelimit::Decision> decisions;
    if (controls.no_store) {
      lookup.result = CacheResult::bypass;
    } else if (controls.refresh) {
      lookup.result = CacheResult::refresh;
    } else if (!(joined = flights.find(flight_key))) {
      auto [read, shared_limits] =
          co_await read_and_limit(namespace_name, key, user, *route.provider);
      decisions = std::move(shared_limits);
      if (!read.reachable) {
        lookup.result = CacheResult::bypass;
        metrics.valkey_bypass.add();
      } else if (read.value) {
        lookup.entry = flow::replay_of(*read.value, stream, api, replay_usage, now_ms());
        if (lookup.entry && !fresh_enough(*lookup.entry, controls)) lookup.entry.reset();
        if (lookup.entry) lookup.result = CacheResult::hit;
      }
      if (!lookup.entry) joined = flights.find(flight_key);
    }
    // Decided before the limits: a hit costs the provider nothing.
    take_finished_flight(joined, lookup, stream, api);

    Headers headers;
    LeaseAhead ahead(shared, flight_key);
    if (decisions.empty()) {
      decisions = co_await limiter.check_many(
          limits_for(user, route.provider->name, lookup.result != CacheResult::hit));
    } else if (lookup.result == CacheResult::miss && !joined && ratelimit::all_allowed(decisions)) {
      // Most likely about to lead: the lease is claimed in the provider limit's round trip.
      auto [provider_limit, claim] = co_await limit_and_claim(route.provider->name, flight_key);
      ahead.hold(std::move(claim));
      decisions.insert(decisions.begin() + 1, provider_limit.begin(), provider_limit.end());
      // Given back before the refusal is answered: no other process waits on it meanwhile.
      if (!ratelimit::all_allowed(decisions)) ahead.release();
    } else if (lookup.result != CacheResult::hit && ratelimit::all_allowed(decisions)) {
      auto provider_limit = co_await limiter.check_many(provider_limit_for(route.provider->name));
      decisions.insert(decisions.begin() + 1, provider_limit.begin(), provider_limit.end());
    }
    if (!co_await answer_limits(decisions, headers, responder, style)) co_return;
    // A flight found before the round trips may have been abandoned meanwhile (its last
    // client left and its upstream read was aborted): never follow it into that failure.
    if (joined && (joined->abandoned || joined->failed)) joined.reset();
    // The limiter's round trip gave identical requests time to start a flight.
    if (!joined && !lookup.entry && !controls.no_store) joined = flights.find(flight_key);
    take_finished_flight(joined, lookup, stream, api);
    headers.emplace_back("x-cache", std::string(name_of(lookup.result)));
    headers.emplace_back("x-cache-key", key);
    if (lookup.entry) {
      ahead.release();
      co_await replay(*lookup.entry, std::move(headers), responder);
      co_return;
    }
    if (joined) {
      ahead.release();
      metrics.single_flight_joins.add();
      co_await flow::follow(joined, responder, std::move(headers), stream, style);
      co_return;
    }
    // An identical request of the other shape in flight: its answer, converted.
    if (convertible && !controls.no_store) {
      if (auto other = flights.find(key + (stream ? ":json" : ":stream"))) {
        ahead.release();
        metrics.single_flight_joins.add();
        co_await follow_converted(other, responder, std::move(headers), stream, api, style);
        co_return;
      }
    }
    auto flight = std::make_shared<Flight>(executor);
    StorePlan plan;
    plan.store = !controls.no_store && lookup.result != CacheResult::bypass;
    plan.api = api;
    plan.namespace_name = namespace_name;
    plan.key = key;
    plan.flight_key = flight_key;
    plan.ahead = ahead.take();
    plan.options.ttl = controls.ttl;
    if (!plan.options.ttl && route.endpoint == Endpoint::models)
      plan.options.ttl = config.models_ttl;
    if (!controls.no_store) flights.insert(flight_key, flight);
    asio::co_spawn(executor,
                   run_and_store(flight, route.provider->base, upstream_request(route, request),
                                 std::move(plan)),
                   asio::detached);
    co_await flow::follow(flight, responder, std::move(headers), stream, style);
  }

  // A flight that has finished is an answer in memory on its way to Valkey: a hit, answered as
  // one (Age, conversions, usage mode). True when `joined` became that hit.
  bool take_finished_flight(std::shared_ptr<Flight>& joined, Lookup& lookup, bool stream,
                            gateway::LlmApi api) {
    if (!joined || !joined->done || lookup.result != CacheResult::miss) return false;
    const flow::Recording recording = flow::record(*joined, api, now_ms());
    if (recording.entry) {
      lookup.entry = flow::replay_of(*recording.entry, stream, api, replay_usage, now_ms());
    }
    if (!lookup.entry) return false;
    lookup.result = CacheResult::hit;
    joined.reset();
    return true;
  }

  // Follows a flight of the other shape: a streaming client gets SSE comments while the
  // JSON answer is on its way (its chunk timer must not fire; Anthropic clients get `ping`
  // events, the only kind their SDKs accept besides the answer's), then the synthesised chunks;
  // a non-streaming client gets the stream assembled. Having promised a stream, a failure
  // can only reset the connection.
  Task<void> follow_converted(std::shared_ptr<Flight> flight, Responder& responder, Headers headers,
                              bool stream, gateway::LlmApi api, http::ErrorStyle style) {
    flight->attach();
    struct Detach {
      Flight& flight;
      ~Detach() { flight.detach(); }
    } detach{*flight};
    if (!stream) {
      while (!flight->done && !flight->failed) co_await flight->changed();
      std::optional<std::string> body;
      if (flight->done && flight->status == 200 && flight->event_stream()) {
        body = flow::completion_from_stream(api, flight->body, replay_usage);
      }
      if (!body) {
        co_await flow::follow(flight, responder, std::move(headers), false, style);
        co_return;
      }
      headers.emplace_back("content-type", "application/json");
      headers.emplace_back(std::string(flow::converted_header), "stream-to-json");
      co_await responder.send(200, std::move(headers), std::move(*body));
      co_return;
    }
    headers.emplace_back("content-type", "text/event-stream");
    headers.emplace_back("cache-control", "no-cache");
    headers.emplace_back(std::string(flow::converted_header), "json-to-stream");
    co_await responder.begin(200, std::move(headers));
    asio::steady_timer poll(executor);
    auto next_keepalive = Clock::now() + config.keepalive_interval;
    while (!flight->done && !flight->failed) {
      if (Clock::now() >= next_keepalive) {
        co_await responder.write(gateway::heartbeat(api));
        metrics.keepalives.add();
        next_keepalive = Clock::now() + config.keepalive_interval;
      }
      poll.expires_after(std::chrono::milliseconds(20));
      co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    std::optional<std::string> events;
    if (flight->done && flight->status == 200 && !flight->event_stream()) {
      events = flow::stream_from_completion(api, flight->body, replay_usage);
    }
    if (!events) {
      responder.reset();
      co_return;
    }
    co_await responder.write(*events);
    co_await responder.end();
  }

  static bool fresh_enough(const flow::Replay& entry, const flow::CacheControls& controls) {
    if (!controls.max_age) return true;
    return std::chrono::milliseconds(now_ms() - entry.stored_at_ms) <= *controls.max_age;
  }

  Task<void> replay(const flow::Replay& entry, Headers headers, Responder& responder) {
    headers.insert(headers.end(), entry.headers.begin(), entry.headers.end());
    metrics.bytes_from_cache.add(entry.body.size());
    metrics.tokens_saved.add(entry.tokens);
    if (entry.stream) {
      headers.emplace_back("cache-control", "no-cache");
      co_await responder.begin(entry.status, std::move(headers));
      co_await responder.write(entry.body);
      co_await responder.end();
    } else {
      co_await responder.send(entry.status, std::move(headers), entry.body);
    }
  }
};

Dispatcher::Dispatcher(asio::any_io_executor executor, const ServerConfig& config,
                       MetricsRegistry& registry, std::size_t thread)
    : impl_(std::make_unique<Impl>(std::move(executor), config, registry, thread)) {}

Dispatcher::~Dispatcher() = default;

Task<void> Dispatcher::handle(Request& request, Responder& responder) {
  co_await impl_->handle(request, responder);
}

void Dispatcher::begin_drain() {
  impl_->app.begin_drain();
}

void Dispatcher::close() {
  impl_->closed = true;
  impl_->log.flush();
  impl_->stats_timer.cancel();
  impl_->app.close();
  impl_->pool.close_idle();
  impl_->client.close();
  if (impl_->state_client) impl_->state_client->close();
}

}  // namespace opencode_cache::server::api
