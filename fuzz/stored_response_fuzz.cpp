// libFuzzer target: the stored entry decoder never crashes, and what it accepts is an entry
// the encoder writes byte for byte (one encoding per entry), with event sizes that add up.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "server/gateway/stored_response.hpp"

namespace {

namespace gateway = opencode_cache::server::gateway;

void require(bool ok, const char* invariant) {
  if (ok) return;
  std::fprintf(stderr, "stored entry invariant broken: %s\n", invariant);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto decoded = gateway::decode_stored_response(bytes);
  if (!decoded.ok()) return 0;
  std::size_t total = 0;
  for (const auto event : decoded.entry.events()) total += event.size();
  if (decoded.entry.kind == gateway::StoredKind::sse) {
    require(total == decoded.entry.body.size(), "event sizes add up to the body");
  }
  require(gateway::encode_stored_response(decoded.entry.to_owned()) == bytes,
          "an accepted entry re-encodes to the same bytes");
  return 0;
}
