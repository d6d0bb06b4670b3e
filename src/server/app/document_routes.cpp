// /api/context/{id} and /api/metadata/{id}: cached JSON values. The library's cache reads
// fail soft; here an unreachable Valkey is told apart from a miss (503, not 404), so that the
// app knows the cache is off rather than empty.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "server/app/app_routes.hpp"

namespace opencode_cache::server::app {
namespace {

std::string_view namespace_of(const AppRoute& route) {
  return route.resource == Resource::context ? cache::ns::context : cache::ns::metadata;
}

std::string nothing_stored(std::string_view namespace_name, const std::string& id) {
  return "no " + std::string(namespace_name) + " '" + id + "'";
}

Task<void> get_document(AppContext& context, const AppRoute& route, Responder& responder) {
  const std::string_view namespace_name = namespace_of(route);
  const cache::RawRead read = co_await context.cache.read_raw(namespace_name, route.id);
  if (!read.reachable) {
    co_await send_error(responder, 503, "cache_unavailable", "Valkey cannot be reached");
    co_return;
  }
  boost::system::error_code ec;
  const Json value = read.value ? boost::json::parse(*read.value, ec) : Json();
  // Not JSON: written by someone else, a miss as for the library.
  if (!read.value || ec) {
    co_await send_error(responder, 404, "not_found", nothing_stored(namespace_name, route.id));
    co_return;
  }
  co_await send_json(responder, 200, value);
}

}  // namespace

Task<void> serve_document(AppContext& context, const AppRoute& route, const Request& request,
                          Responder& responder) {
  const std::string_view namespace_name = namespace_of(route);
  if (request.method == "GET") {
    co_await get_document(context, route, responder);
    co_return;
  }
  if (request.method == "DELETE") {
    if (co_await context.cache.invalidate(namespace_name, route.id)) {
      co_await send_done(responder);
    } else {
      co_await send_error(responder, 404, "not_found", nothing_stored(namespace_name, route.id));
    }
    co_return;
  }
  const TtlParam ttl = ttl_param(route);
  if (!ttl.error.empty()) {
    co_await send_error(responder, 400, "invalid_ttl", ttl.error);
    co_return;
  }
  auto body = co_await read_json_body(context, request, responder);
  if (!body) co_return;
  cache::WriteOptions options;
  options.ttl = ttl.ttl;
  // The library's own format: the value's JSON text under <prefix>:<namespace>:<id>.
  if (co_await context.cache.write_raw(namespace_name, route.id, boost::json::serialize(*body),
                                       options)) {
    co_await send_done(responder);
  } else {
    co_await send_error(responder, 503, "cache_unavailable",
                        "Valkey cannot be reached: nothing was stored");
  }
}

}  // namespace opencode_cache::server::app
