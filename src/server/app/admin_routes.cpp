// The operator's routes: invalidation and the cache's figures (both need the admin token).
#include <array>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "server/app/app_routes.hpp"

namespace opencode_cache::server::app {
namespace {

// The namespaces below the prefix that the library and the gateway write.
constexpr std::array<std::string_view, 8> known_namespaces = {
    cache::ns::response,  cache::ns::session, cache::ns::context, cache::ns::metadata,
    cache::ns::ratelimit, "ratelimit-gcra",   cache::ns::fetch,   cache::ns::lease};

bool known(std::string_view namespace_name) {
  for (const std::string_view name : known_namespaces) {
    if (name == namespace_name) return true;
  }
  return false;
}

std::string known_list() {
  std::string out;
  for (const std::string_view name : known_namespaces) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// One of {"namespace","id"}, {"namespace"}, {"pattern"}; the string at `name`, or an error.
struct Field {
  const boost::json::string* value = nullptr;
  std::string error;
};

Field string_field(const boost::json::object& body, std::string_view name) {
  Field field;
  const Json* value = body.if_contains(name);
  if (value == nullptr) return field;
  if (!value->is_string() || value->as_string().empty()) {
    field.error = "\"" + std::string(name) + "\" must be a non-empty string";
  } else if (value->as_string().size() > max_id_bytes) {
    field.error =
        "\"" + std::string(name) + "\" is longer than " + std::to_string(max_id_bytes) + " bytes";
  } else {
    field.value = &value->as_string();
  }
  return field;
}

// What the body asks to remove; `error` non-empty when it is not one of the three forms.
struct Invalidation {
  std::string namespace_name;
  std::optional<std::string> id;
  std::optional<std::string> pattern;
  std::string error;
  std::string_view code = "invalid_request";
};

Invalidation read_invalidation(const Json& body) {
  Invalidation out;
  if (!body.is_object()) {
    out.error = "the body must be a JSON object";
    return out;
  }
  const auto& object = body.as_object();
  for (const auto& member : object) {
    if (member.key() != "namespace" && member.key() != "id" && member.key() != "pattern") {
      out.error = "unknown field \"" + std::string(member.key()) +
                  "\"; use {\"namespace\", \"id\"}, {\"namespace\"} or {\"pattern\"}";
      return out;
    }
  }
  const Field ns = string_field(object, "namespace");
  const Field id = string_field(object, "id");
  const Field pattern = string_field(object, "pattern");
  for (const Field* field : {&ns, &id, &pattern}) {
    if (!field->error.empty()) out.error = field->error;
  }
  if (!out.error.empty()) return out;
  if (pattern.value != nullptr) {
    if (ns.value != nullptr || id.value != nullptr) {
      out.error = "give either \"pattern\" or \"namespace\" (with an optional \"id\"), not both";
    } else {
      out.pattern = std::string(*pattern.value);
    }
    return out;
  }
  if (ns.value == nullptr) {
    out.error = "give {\"namespace\", \"id\"}, {\"namespace\"} or {\"pattern\"}";
    return out;
  }
  out.namespace_name = std::string(*ns.value);
  if (!known(out.namespace_name)) {
    out.error = "unknown namespace '" + out.namespace_name + "'; known: " + known_list();
    out.code = "unknown_namespace";
    return out;
  }
  if (id.value != nullptr) out.id = std::string(*id.value);
  return out;
}

double ratio(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

boost::json::object figures_json(const cache::NamespaceStats& stats) {
  boost::json::object out;
  out["hits"] = stats.hits;
  out["misses"] = stats.misses;
  out["hit_ratio"] = ratio(stats.hits, stats.hits + stats.misses);
  out["errors"] = stats.errors;
  out["stale_served"] = stats.stale_served;
  out["coalesced"] = stats.coalesced;
  out["fetches"] = stats.fetches;
  out["writes"] = stats.writes;
  out["writes_dropped"] = stats.writes_dropped;
  out["invalid"] = stats.invalid;
  out["decrypt_failures"] = stats.decrypt_failures;
  boost::json::object latency;
  latency["count"] = stats.latency.count();
  latency["p50_us"] = stats.latency.percentile_us(50);
  latency["p90_us"] = stats.latency.percentile_us(90);
  latency["p99_us"] = stats.latency.percentile_us(99);
  out["latency"] = std::move(latency);
  return out;
}

boost::json::object valkey_json(const cache::ServerInfo& info) {
  boost::json::object out;
  out["used_memory"] = info.used_memory;
  out["maxmemory"] = info.maxmemory;
  out["evicted_keys"] = info.evicted_keys;
  out["expired_keys"] = info.expired_keys;
  out["connected_clients"] = info.connected_clients;
  out["keyspace_hits"] = info.keyspace_hits;
  out["keyspace_misses"] = info.keyspace_misses;
  return out;
}

}  // namespace

Task<void> serve_invalidate(AppContext& context, const Request& request, Responder& responder) {
  auto body = co_await read_json_body(context, request, responder);
  if (!body) co_return;
  const Invalidation what = read_invalidation(*body);
  if (!what.error.empty()) {
    co_await send_error(responder, 400, what.code, what.error);
    co_return;
  }
  std::uint64_t deleted = 0;
  if (what.pattern) {
    deleted = co_await context.cache.invalidate_pattern(*what.pattern);
  } else if (what.id) {
    deleted = (co_await context.cache.invalidate(what.namespace_name, *what.id)) ? 1 : 0;
  } else {
    deleted = co_await context.cache.invalidate_namespace(what.namespace_name);
  }
  // Every open UI learns of it, whichever gateway it is connected to.
  boost::json::object event;
  if (what.pattern) {
    event["pattern"] = *what.pattern;
  } else {
    event["namespace"] = what.namespace_name;
    if (what.id) event["id"] = *what.id;
  }
  event["deleted"] = deleted;
  const auto published = co_await context.events.publish("invalidate", std::move(event));
  (void)published;  // one the history could not take was logged; the deletion stands
  boost::json::object answer;
  answer["deleted"] = deleted;
  co_await send_json(responder, 200, answer);
}

Task<void> serve_stats(AppContext& context, Responder& responder) {
  // This thread's figures as of now; the other threads' as of their last publication.
  context.board.publish(context.thread, context.cache.stats());
  const api::NamespaceFigures figures = context.board.merged();
  const cache::ServerInfo info = co_await context.cache.server_info();
  const auto keys = co_await context.cache.key_counts();

  boost::json::object namespaces;
  cache::NamespaceStats total;
  for (const auto& [name, stats] : figures) {
    namespaces[name] = figures_json(stats);
    total.merge(stats);
  }
  boost::json::object key_counts;
  std::uint64_t all_keys = 0;
  for (const auto& [name, count] : keys) {
    key_counts[name] = count;
    all_keys += count;
    if (!namespaces.contains(name)) namespaces[name] = figures_json(cache::NamespaceStats());
    namespaces[name].as_object()["keys"] = count;
  }
  for (auto& [name, value] : namespaces) {
    if (!value.as_object().contains("keys")) value.as_object()["keys"] = 0;
  }
  boost::json::object answer;
  answer["namespaces"] = std::move(namespaces);
  answer["total"] = figures_json(total);
  answer["total"].as_object()["keys"] = all_keys;
  answer["keys"] = std::move(key_counts);
  answer["valkey"] = valkey_json(info);
  co_await send_json(responder, 200, answer);
}

}  // namespace opencode_cache::server::app
