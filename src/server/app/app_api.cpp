#include "server/app/app_api.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <optional>

#include "opencode_cache/valkey/error.hpp"
#include "server/app/app_auth.hpp"
#include "server/app/app_routes.hpp"
#include "server/app/cors.hpp"
#include "server/app/event_hub.hpp"
#include "server/http/error_response.hpp"

namespace opencode_cache::server::app {
namespace asio = boost::asio;
using http::Headers;

namespace {

// Adds the CORS headers to whatever the routes answer, errors included: a page that cannot
// read an error cannot show it.
class CorsResponder final : public Responder {
 public:
  CorsResponder(Responder& inner, Headers cors) : inner_(inner), cors_(std::move(cors)) {}
  Task<void> send(int status, Headers headers, std::string body) override {
    co_await inner_.send(status, with_cors(std::move(headers)), std::move(body));
  }
  Task<void> begin(int status, Headers headers) override {
    co_await inner_.begin(status, with_cors(std::move(headers)));
  }
  Task<void> write(std::string_view bytes) override { co_await inner_.write(bytes); }
  Task<void> end() override { co_await inner_.end(); }
  void reset() override { inner_.reset(); }
  bool started() const override { return inner_.started(); }

 private:
  Headers with_cors(Headers headers) const {
    headers.insert(headers.end(), cors_.begin(), cors_.end());
    return headers;
  }
  Responder& inner_;
  Headers cors_;
};

bool takes(Resource resource, std::string_view method) {
  const std::string_view methods = methods_of(resource);
  std::size_t at = 0;
  while ((at = methods.find(method, at)) != std::string_view::npos) {
    const std::size_t after = at + method.size();
    const bool starts = at == 0 || methods[at - 1] == ' ';
    const bool ends = after == methods.size() || methods[after] == ',';
    if (starts && ends) return true;
    at = after;
  }
  return false;
}

// An event for this thread's clients only: in no history, so without an id.
Event local_event(std::string type, const boost::json::object& data) {
  Event event;
  event.type = std::move(type);
  event.data = boost::json::serialize(data);
  return event;
}

bool admin_only(Resource resource) {
  return resource == Resource::cache_stats || resource == Resource::cache_invalidate;
}

}  // namespace

struct AppApi::Impl {
  Impl(asio::any_io_executor ex, const ServerConfig& config, valkey::Client& c,
       cache::CacheService& cache, ratelimit::RateLimiter& limiter, api::CacheStatsBoard& board,
       std::size_t thread)
      : client(c),
        hub(config.app.events_max_clients, config.app.events_max_queued),
        feed(ex, config, c, hub),
        context{config, cache, limiter, board, thread, hub, feed},
        cors(config.app.cors_origins),
        publish_timer(ex),
        breaker(c.breaker_state()) {
    asio::co_spawn(ex, publish_figures(), asio::detached);
  }

  valkey::Client& client;
  EventHub hub;
  EventFeed feed;
  AppContext context;
  CorsPolicy cors;
  asio::steady_timer publish_timer;
  valkey::CircuitBreaker::State breaker;  // as last seen
  bool closed = false;

  // GET /api/cache/stats may be served by any thread: each publishes its figures for it. The
  // breaker is looked at on the same beat: a UI learns of a transition within a second.
  Task<void> publish_figures() {
    while (!closed) {
      context.board.publish(context.thread, context.cache.stats());
      co_await report_breaker();
      publish_timer.expires_after(std::chrono::seconds(1));
      co_await publish_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  // A breaker that opened usually means Valkey cannot take the event either: then this
  // thread's own clients get it, without an id (it is in no history).
  Task<void> report_breaker() {
    const valkey::CircuitBreaker::State now = client.breaker_state();
    if (now == breaker) co_return;
    boost::json::object data;
    data["from"] = valkey::to_string(breaker);
    data["to"] = valkey::to_string(now);
    data["thread"] = context.thread;
    data["pid"] = static_cast<std::int64_t>(::getpid());
    breaker = now;
    const auto published = co_await feed.publish("breaker", data);
    if (published) co_return;
    data["type"] = "breaker";
    hub.deliver(local_event("breaker", data));
  }

  Task<void> handle(Request& request, Responder& inner) {
    const std::string* origin = request.header("origin");
    if (request.method == "OPTIONS") {
      co_await options(request, origin, inner);
      co_return;
    }
    CorsResponder responder(inner, cors.response_headers(origin));
    std::optional<Failure> failure;
    try {
      co_await serve(request, responder);
    } catch (const valkey::Error& e) {
      failure = failure_of(e);
    }
    if (!failure) co_return;
    if (responder.started()) {
      responder.reset();
      co_return;
    }
    co_await send_error(responder, failure->status, failure->code, failure->message);
  }

  struct Failure {
    int status;
    std::string_view code;
    std::string message;
  };

  // Built outside the coroutine: g++ 12 destroys the temporaries of a conditional expression
  // in a co_await twice (docs/coroutine-pitfalls.md, 3).
  static Failure failure_of(const valkey::Error& e) {
    // A stored session that is not an object, or that does not decrypt, is our data gone wrong,
    // not an outage.
    if (e.code() == valkey::errc::invalid_json || e.code() == valkey::errc::undecryptable) {
      return {500, "internal_error", e.what()};
    }
    return {503, "cache_unavailable", std::string("the cache is unavailable: ") + e.what()};
  }

  // A preflight needs no credentials (browsers send none), only an allowed origin.
  Task<void> options(const Request& request, const std::string* origin, Responder& responder) {
    const AppRoute route = parse_app_route(request.target);
    const bool preflight =
        origin != nullptr && request.header("access-control-request-method") != nullptr;
    if (preflight && !cors.allows(*origin)) {
      CorsResponder plain(responder, cors.response_headers(nullptr));
      co_await send_error(
          plain, 403, "origin_not_allowed",
          "origin '" + *origin + "' may not call this API; see OPENCODE_CACHE_CORS_ORIGINS");
      co_return;
    }
    if (route.resource == Resource::none) {
      CorsResponder with_cors(responder, cors.response_headers(origin));
      co_await send_error(with_cors, 404, "not_found", "no such route: " + request.target);
      co_return;
    }
    Headers headers = preflight ? cors.preflight_headers(*origin) : cors.response_headers(origin);
    headers.emplace_back("allow", std::string(methods_of(route.resource)) + ", OPTIONS");
    co_await responder.send(204, std::move(headers), std::string());
  }

  Task<void> serve(Request& request, Responder& responder) {
    const AppRoute route = parse_app_route(request.target);
    if (!route.error.empty()) {
      co_await send_error(responder, 400, "invalid_request", route.error);
      co_return;
    }
    if (route.resource == Resource::none) {
      co_await send_error(responder, 404, "not_found",
                          "no such route: " + request.method + " " +
                              request.target.substr(0, request.target.find('?')));
      co_return;
    }
    if (!takes(route.resource, request.method)) {
      Headers allow;
      allow.emplace_back("allow", std::string(methods_of(route.resource)) + ", OPTIONS");
      allow.emplace_back("content-type", "application/json");
      co_await responder.send(
          405, std::move(allow),
          http::error_body("method " + request.method + " not allowed here; use " +
                               std::string(methods_of(route.resource)),
                           "invalid_request_error", "method_not_allowed"));
      co_return;
    }
    if (!co_await authorized(route, request, responder)) co_return;
    co_await route_to(route, request, responder);
  }

  // False once the refusal has been answered.
  Task<bool> authorized(const AppRoute& route, const Request& request, Responder& responder) {
    if (!admin_only(route.resource)) {
      if (authenticate_user(context.config, request.headers)) co_return true;
      co_await send_error(responder, 401, "invalid_api_key", "missing or unknown gateway API key");
      co_return false;
    }
    switch (check_admin(context.config.app, request.headers)) {
      case AdminCheck::granted: co_return true;
      case AdminCheck::missing:
        co_await send_error(responder, 401, "missing_admin_token",
                            "this route needs Authorization: Bearer <OPENCODE_CACHE_ADMIN_TOKEN>");
        co_return false;
      case AdminCheck::wrong:
        co_await send_error(responder, 403, "invalid_admin_token", "wrong admin token");
        co_return false;
      case AdminCheck::disabled: break;
    }
    co_await send_error(responder, 403, "admin_disabled",
                        "admin routes are off: set OPENCODE_CACHE_ADMIN_TOKEN to enable them");
    co_return false;
  }

  Task<void> route_to(const AppRoute& route, Request& request, Responder& responder) {
    switch (route.resource) {
      case Resource::session: co_await serve_session(context, route, request, responder); co_return;
      case Resource::context:
      case Resource::metadata:
        co_await serve_document(context, route, request, responder);
        co_return;
      case Resource::cache_value:
        co_await serve_cache_value(context, route, request, responder);
        co_return;
      case Resource::cache_lease:
        co_await serve_cache_lease(context, route, request, responder);
        co_return;
      case Resource::cache_invalidate:
        co_await serve_invalidate(context, request, responder);
        co_return;
      case Resource::cache_stats: co_await serve_stats(context, responder); co_return;
      case Resource::ratelimit: co_await serve_ratelimit(context, route, responder); co_return;
      case Resource::events: co_await serve_events(context, request, responder); co_return;
      case Resource::none: break;
    }
  }
};

AppApi::AppApi(asio::any_io_executor executor, const ServerConfig& config, valkey::Client& client,
               cache::CacheService& cache, ratelimit::RateLimiter& limiter,
               api::CacheStatsBoard& board, std::size_t thread)
    : impl_(std::make_unique<Impl>(std::move(executor), config, client, cache, limiter, board,
                                   thread)) {}

AppApi::~AppApi() = default;

Task<void> AppApi::handle(Request& request, Responder& responder) {
  co_await impl_->handle(request, responder);
}

void AppApi::begin_drain() {
  impl_->hub.close();
}

void AppApi::close() {
  impl_->closed = true;
  impl_->publish_timer.cancel();
  impl_->hub.close();
  impl_->feed.close();
}

}  // namespace opencode_cache::server::app
