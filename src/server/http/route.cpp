#include "server/http/route.hpp"

namespace opencode_cache::server::http {
namespace {

Route provider_route(const Provider& provider, std::string_view api_path, std::string_view query) {
  Route route;
  route.provider = &provider;
  route.upstream_target = provider.base.path + std::string(api_path) + std::string(query);
  if (api_path == "/chat/completions") {
    route.endpoint = Endpoint::chat_completions;
    route.name = "/v1/chat/completions";
  } else if (api_path == "/responses") {
    route.endpoint = Endpoint::responses;
    route.name = "/v1/responses";
  } else if (api_path == "/messages") {
    route.endpoint = Endpoint::messages;
    route.name = "/v1/messages";
  } else if (api_path == "/embeddings") {
    route.endpoint = Endpoint::embeddings;
    route.name = "/v1/embeddings";
  } else if (api_path == "/models") {
    route.endpoint = Endpoint::models;
    route.name = "/v1/models";
  } else {
    route.endpoint = Endpoint::passthrough;
    route.name = "passthrough";
  }
  return route;
}

}  // namespace

Route route(const ServerConfig& config, std::string_view target) {
  const std::size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view{} : target.substr(question);
  Route result;
  if (path == "/healthz") result.endpoint = Endpoint::healthz, result.name = "/healthz";
  if (path == "/readyz") result.endpoint = Endpoint::readyz, result.name = "/readyz";
  if (path == "/metrics") result.endpoint = Endpoint::metrics, result.name = "/metrics";
  if (path == "/") result.endpoint = Endpoint::dashboard, result.name = "/";
  if (result.endpoint != Endpoint::not_found) return result;

  if (path.starts_with("/v1/"))
    return provider_route(config.default_provider, path.substr(3), query);
  if (path.size() > 1 && path[0] == '/') {
    const std::size_t slash = path.find('/', 1);
    if (slash != std::string_view::npos) {
      const std::string_view rest = path.substr(slash);
      const Provider* provider = config.find_provider(path.substr(1, slash - 1));
      if (provider != nullptr && rest.starts_with("/v1/")) {
        return provider_route(*provider, rest.substr(3), query);
      }
    }
  }
  if (path.starts_with("/api/")) result.endpoint = Endpoint::app_api, result.name = "/api";
  return result;
}

std::string_view allowed_method(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::chat_completions:
    case Endpoint::responses:
    case Endpoint::messages:
    case Endpoint::embeddings: return "POST";
    case Endpoint::healthz:
    case Endpoint::readyz:
    case Endpoint::metrics:
    case Endpoint::dashboard:
    case Endpoint::models: return "GET";
    default: return "";
  }
}

ErrorStyle error_style(Endpoint endpoint) {
  return endpoint == Endpoint::messages ? ErrorStyle::anthropic : ErrorStyle::openai;
}

}  // namespace opencode_cache::server::http
