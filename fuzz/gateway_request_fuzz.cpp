// libFuzzer target: the gateway's request body parser, canonical JSON and request key.
//
// For every input the parser accepts: the canonical form parses again, canonicalisation is
// idempotent (canonical(parse(canonical(x))) == canonical(x)), and the request key of the
// re-parsed canonical body is the key of the original body. Nothing may crash on any input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/gateway/canonical_json.hpp"
#include "server/gateway/request_key.hpp"

namespace {

namespace gateway = opencode_cache::server::gateway;

void require(bool ok, const char* invariant) {
  if (ok) return;
  std::fprintf(stderr, "gateway request invariant broken: %s\n", invariant);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = gateway::parse_request_json(text, {.max_bytes = 1 << 20, .max_depth = 64});
  if (!parsed.ok()) {
    require(!parsed.error.empty() && parsed.value.is_null(), "a failed parse names its error");
    return 0;
  }
  const auto once = gateway::canonical_json(parsed.value);
  const auto reparsed = gateway::parse_request_json(once, {.max_bytes = 1 << 21, .max_depth = 64});
  require(reparsed.ok(), "the canonical form is valid JSON");
  require(gateway::canonical_json(reparsed.value) == once, "canonicalisation is idempotent");

  const auto volatile_fields =
      gateway::VolatileFields::defaults_for(gateway::api::chat_completions);
  const gateway::KeyInput input{
      .api = gateway::api::chat_completions, .provider = "p", .scope = "s"};
  const auto key = gateway::request_key(input, parsed.value, volatile_fields);
  require(key.size() == 64, "a key is 64 hex digits");
  require(key == gateway::request_key(input, reparsed.value, volatile_fields),
          "the canonical body has the same key");
  (void)gateway::wants_stream(parsed.value);
  return 0;
}
