#include "server/gateway/request_key.hpp"

#include <algorithm>

#include "server/gateway/canonical_json.hpp"
#include "server/gateway/sha256.hpp"

namespace opencode_cache::server::gateway {

namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

}  // namespace

VolatileFields::VolatileFields(std::initializer_list<std::string_view> names) {
  names_.reserve(names.size());
  for (const auto name : names) names_.emplace_back(name);
  normalise();
}

VolatileFields::VolatileFields(const std::vector<std::string>& names) : names_(names) {
  normalise();
}

void VolatileFields::normalise() {
  std::erase_if(names_, [](const std::string& name) { return name.empty(); });
  std::sort(names_.begin(), names_.end());
  names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
}

VolatileFields VolatileFields::from_list(std::string_view comma_separated) {
  std::vector<std::string> names;
  while (!comma_separated.empty()) {
    const auto comma = comma_separated.find(',');
    names.emplace_back(trim(comma_separated.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    comma_separated.remove_prefix(comma + 1);
  }
  return VolatileFields(names);
}

VolatileFields VolatileFields::defaults_for(std::string_view api_route) {
  if (api_route == api::chat_completions) {
    return {"user",   "prompt_cache_key", "promptCacheKey", "metadata",
            "stream", "stream_options",   "store",          "service_tier"};
  }
  if (api_route == api::responses) {
    return {"user",
            "prompt_cache_key",
            "promptCacheKey",
            "metadata",
            "stream",
            "stream_options",
            "store",
            "service_tier",
            "safety_identifier",
            "prompt_cache_retention"};
  }
  if (api_route == api::messages) return {"metadata", "stream", "service_tier"};
  if (api_route == api::embeddings) return {"user"};
  return {};
}

VolatileFields VolatileFields::for_api(std::string_view api_route,
                                       const std::vector<std::string>& configured) {
  std::vector<std::string> names = configured;
  if (api_route == api::responses) {
    names.emplace_back("safety_identifier");
    names.emplace_back("prompt_cache_retention");
  }
  return VolatileFields(names);
}

bool VolatileFields::contains(std::string_view name) const {
  // A handful of names: a linear scan over short strings beats any lookup structure.
  for (const auto& candidate : names_) {
    if (candidate == name) return true;
  }
  return false;
}

std::string scope_for_credential(std::string_view credential) {
  auto hex = sha256_hex(credential);
  hex.resize(32);
  return hex;
}

std::string scope_for(ScopeMode mode, std::string_view credential, std::string_view user) {
  switch (mode) {
    case ScopeMode::credential: return scope_for_credential(credential);
    case ScopeMode::user: return "user:" + std::string(user);
    case ScopeMode::shared: return "shared";
  }
  return "shared";
}

std::optional<ScopeMode> parse_scope_mode(std::string_view text) {
  if (text == "credential") return ScopeMode::credential;
  if (text == "user") return ScopeMode::user;
  if (text == "shared") return ScopeMode::shared;
  return std::nullopt;
}

namespace {

void append_canonical_request(const KeyInput& input, const boost::json::value& body,
                              const VolatileFields& volatile_fields, std::string& out) {
  // Members in sorted order: api, body, headers, provider, scope.
  out += "{\"api\":";
  append_canonical_string(input.api, out);
  out += ",\"body\":";
  if (const auto* object = body.if_object()) {
    append_canonical_object(
        *object, [&](std::string_view key) { return volatile_fields.contains(key); }, out);
  } else {
    append_canonical_json(body, out);
  }
  if (!input.headers.empty()) {
    out += ",\"headers\":{";
    bool first = true;
    for (const auto& [name, value] : input.headers) {
      if (!first) out += ',';
      first = false;
      append_canonical_string(name, out);
      out += ':';
      append_canonical_string(value, out);
    }
    out += '}';
  }
  out += ",\"provider\":";
  append_canonical_string(input.provider, out);
  out += ",\"scope\":";
  append_canonical_string(input.scope, out);
  out += '}';
}

}  // namespace

std::string canonical_request(const KeyInput& input, const boost::json::value& body,
                              const VolatileFields& volatile_fields) {
  std::string out;
  append_canonical_request(input, body, volatile_fields, out);
  return out;
}

std::string request_key(const KeyInput& input, const boost::json::value& body,
                        const VolatileFields& volatile_fields) {
  // The canonical text only feeds the hash: one buffer per thread, grown once to the size
  // of the largest request, instead of a new string grown in steps for every request.
  thread_local std::string canonical;
  canonical.clear();
  append_canonical_request(input, body, volatile_fields, canonical);
  auto key = sha256_hex(canonical);
  // A rare huge request should not pin its memory for the thread's lifetime.
  constexpr std::size_t kept_capacity = 1 << 20;
  if (canonical.capacity() > kept_capacity) std::string().swap(canonical);
  return key;
}

std::string canonical_token_list(std::string_view comma_separated) {
  std::vector<std::string_view> tokens;
  while (!comma_separated.empty()) {
    const auto comma = comma_separated.find(',');
    if (const auto token = trim(comma_separated.substr(0, comma)); !token.empty()) {
      tokens.push_back(token);
    }
    if (comma == std::string_view::npos) break;
    comma_separated.remove_prefix(comma + 1);
  }
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  std::string out;
  for (const auto token : tokens) {
    if (!out.empty()) out += ',';
    out += token;
  }
  return out;
}

bool wants_stream(const boost::json::value& body) {
  const auto* object = body.if_object();
  if (object == nullptr) return false;
  const auto* stream = object->if_contains("stream");
  return stream != nullptr && stream->is_bool() && stream->get_bool();
}

}  // namespace opencode_cache::server::gateway
