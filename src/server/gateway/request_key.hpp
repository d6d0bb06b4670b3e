// The response cache key of a gateway request.
//
//   key = hex(SHA-256(canonical {"api": <route>, "body": <body minus volatile fields>,
//                                ["headers": {<name>: <value>, ...},]
//                                "provider": <provider name>, "scope": <scope>}))
//
// "headers" holds the request headers that change what the model may do (Anthropic's
// `anthropic-beta` and `anthropic-version` for the Messages API); it is left out when there
// are none, so that the keys of the other APIs do not depend on it.
//
// The body is canonicalised (canonical_json.hpp), so key order, whitespace and number or
// string spelling never change the key; every field that shapes the answer (model, messages,
// tools, temperature, ...) does. Volatile fields (top-level body members that change between
// otherwise identical calls without changing the answer: the session's prompt_cache_key,
// user ids, stream flags) are left out; each API has its default list, and the gateway may
// configure its own. The scope keeps callers apart: by default a hash of the upstream
// credential, so two API keys never share an entry; `shared` and per-user scopes are options.
#pragma once

#include <boost/json/value.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace opencode_cache::server::gateway {

// Route names that enter the key (stable: changing one orphans every stored entry).
namespace api {
inline constexpr std::string_view chat_completions = "chat.completions";
inline constexpr std::string_view embeddings = "embeddings";
inline constexpr std::string_view models = "models";
inline constexpr std::string_view responses = "responses";
inline constexpr std::string_view messages = "messages";
}  // namespace api

// A set of top-level body field names left out of the key.
class VolatileFields {
 public:
  VolatileFields() = default;
  VolatileFields(std::initializer_list<std::string_view> names);
  explicit VolatileFields(const std::vector<std::string>& names);

  // A comma-separated list ("user, metadata,store"); blanks around names are ignored, empty
  // names skipped. For configuration variables.
  static VolatileFields from_list(std::string_view comma_separated);

  // The defaults for an API route (api::...); unknown routes have none.
  //   chat.completions: user prompt_cache_key promptCacheKey metadata stream stream_options
  //                     store service_tier
  //   responses:        the same (store, metadata, prompt_cache_key, ... are per-call there
  //                     too) plus safety_identifier (a user id) and prompt_cache_retention
  //   messages:         metadata stream service_tier
  //   embeddings:       user
  static VolatileFields defaults_for(std::string_view api_route);

  // The fields left out for an API route when the gateway is configured with `configured`
  // (OPENCODE_CACHE_VOLATILE_FIELDS, one list for every API): those, plus the fields that
  // only the route has (responses: safety_identifier, prompt_cache_retention).
  static VolatileFields for_api(std::string_view api_route,
                                const std::vector<std::string>& configured);

  bool contains(std::string_view name) const;
  const std::vector<std::string>& names() const { return names_; }

 private:
  void normalise();
  std::vector<std::string> names_;  // sorted, unique
};

// Who may share an entry.
enum class ScopeMode {
  credential,  // a hash of the upstream credential (default)
  user,        // the gateway user (from the gateway API key)
  shared,      // everyone
};

// The first 32 hex digits of SHA-256(credential): 128 bits, never the credential itself.
std::string scope_for_credential(std::string_view credential);

// The scope string for a mode: scope_for_credential(credential), "user:<user>" or "shared".
// The three cannot collide: a credential scope is 32 hex digits, never "shared" or "user:...".
std::string scope_for(ScopeMode mode, std::string_view credential, std::string_view user);

// std::nullopt for anything but "credential", "user", "shared".
std::optional<ScopeMode> parse_scope_mode(std::string_view text);

// Views: the strings must outlive the call (a temporary std::string here dangles).
struct KeyInput {
  std::string_view api;       // api::chat_completions, ...
  std::string_view provider;  // the configured provider name ("default", "openai", ...)
  std::string_view scope;     // scope_for(...)
  // Significant request headers, lower-case names, sorted by name, each name once.
  std::vector<std::pair<std::string_view, std::string_view>> headers;
};

// A comma-separated list of tokens in one canonical spelling: blanks trimmed, empty tokens
// dropped, sorted, each once ("b, a,,a" -> "a,b"): the order in which a client lists its
// beta features does not change what the model may do.
std::string canonical_token_list(std::string_view comma_separated);

// The canonical text that is hashed (for tests and debugging; the key is its SHA-256). A
// body that is not an object (e.g. null for GET /v1/models) enters as it is.
std::string canonical_request(const KeyInput& input, const boost::json::value& body,
                              const VolatileFields& volatile_fields);

// The cache key: 64 lower-case hex digits.
std::string request_key(const KeyInput& input, const boost::json::value& body,
                        const VolatileFields& volatile_fields);

// True when the body asks for a streamed answer (`"stream": true`).
bool wants_stream(const boost::json::value& body);

}  // namespace opencode_cache::server::gateway
