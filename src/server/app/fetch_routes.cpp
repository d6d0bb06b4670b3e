// /api/cache/{key}: get-or-fetch for callers that fetch themselves (browsers), over the same
// value and lease keys as CacheService::get_or_fetch in namespace "fetch", so that HTTP
// callers and C++ callers in any process share one fetch:
//   GET  -> the value, or 404;  POST .../lease -> granted (fetch it) or not (someone is);
//   PUT  -> stores the value and releases the caller's lease;
//   GET ?wait=ms -> waits for the value the lease holder will store.
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "server/app/app_routes.hpp"

namespace opencode_cache::server::app {
namespace {

constexpr std::string_view values = cache::ns::fetch;
constexpr std::string_view lease_header = "x-cache-lease";

std::string no_value(const std::string& key) {
  return "no value stored for '" + key + "'";
}

// The lease token the caller names, in X-Cache-Lease or ?lease=.
const std::string* lease_token(const AppRoute& route, const Request& request) {
  if (const std::string* header = request.header(lease_header)) return header;
  return route.param("lease");
}

struct WaitParam {
  std::chrono::milliseconds wait{0};
  std::string error;
};

WaitParam wait_param(const AppRoute& route, std::chrono::milliseconds longest) {
  WaitParam out;
  const std::string* text = route.param("wait");
  if (text == nullptr) return out;
  std::uint64_t ms = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), ms);
  if (ec != std::errc{} || end != text->data() + text->size()) {
    out.error = "wait must be a whole number of milliseconds, not '" + *text + "'";
    return out;
  }
  // Bounded: a request held open costs a connection, and the server drains on SIGTERM.
  out.wait = std::min(std::chrono::milliseconds(ms), longest);
  return out;
}

Task<void> answer_value(Responder& responder, const std::optional<Json>& value,
                        const std::string& key) {
  if (value) {
    co_await send_json(responder, 200, *value);
  } else {
    co_await send_error(responder, 404, "not_found", no_value(key));
  }
}

Task<void> get_value(AppContext& context, const AppRoute& route, Responder& responder) {
  const WaitParam wait = wait_param(route, context.config.app.max_wait);
  if (!wait.error.empty()) {
    co_await send_error(responder, 400, "invalid_wait", wait.error);
    co_return;
  }
  auto value = co_await context.cache.read_fetched(route.id, values);
  if (!value && wait.wait.count() > 0) {
    value = co_await context.cache.wait_for_fetched(route.id, values, wait.wait);
  }
  co_await answer_value(responder, value, route.id);
}

Task<void> put_value(AppContext& context, const AppRoute& route, const Request& request,
                     Responder& responder) {
  const TtlParam ttl = ttl_param(route);
  if (!ttl.error.empty()) {
    co_await send_error(responder, 400, "invalid_ttl", ttl.error);
    co_return;
  }
  auto body = co_await read_json_body(context, request, responder);
  if (!body) co_return;
  cache::FetchOptions options;
  options.ttl = ttl.ttl;
  co_await context.cache.store_fetched(route.id, std::move(*body), options);
  // Without a token the lease (anyone's) is left to its holder: waiters find the value anyway.
  if (const std::string* token = lease_token(route, request)) {
    co_await context.cache.release_fetch_lease(route.id, *token, values);
  }
  co_await send_done(responder);
}

}  // namespace

Task<void> serve_cache_value(AppContext& context, const AppRoute& route, const Request& request,
                             Responder& responder) {
  if (request.method == "GET") {
    co_await get_value(context, route, responder);
  } else {
    co_await put_value(context, route, request, responder);
  }
}

Task<void> serve_cache_lease(AppContext& context, const AppRoute& route, const Request& request,
                             Responder& responder) {
  boost::json::object answer;
  if (request.method == "POST") {
    const auto token = co_await context.cache.acquire_fetch_lease(route.id, values);
    answer["granted"] = token.has_value();
    if (token) {
      answer["lease"] = *token;
      answer["ttl_ms"] = context.cache.config().lease_ttl.count();
    }
    co_await send_json(responder, 200, answer);
    co_return;
  }
  const std::string* token = lease_token(route, request);
  if (token == nullptr) {
    co_await send_error(responder, 400, "missing_lease",
                        "name the lease to release in X-Cache-Lease or ?lease=");
    co_return;
  }
  answer["released"] = co_await context.cache.release_fetch_lease(route.id, *token, values);
  co_await send_json(responder, 200, answer);
}

}  // namespace opencode_cache::server::app
