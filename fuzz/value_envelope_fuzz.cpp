// libFuzzer target: opening any bytes as a sealed value must never crash, and nothing the
// fuzzer makes may open (it would have forged a GCM tag); any input sealed as a plaintext must
// open to itself under its key name and under no other.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cache/value_envelope.hpp"

namespace {

using opencode_cache::cache::EncryptionKey;
using opencode_cache::cache::ValueEnvelope;

ValueEnvelope& envelope() {
  static ValueEnvelope instance(
      {EncryptionKey{"a", std::string(32, 'A')}, EncryptionKey{"b", std::string(32, 'B')}});
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view key_name = "opencode:context:fuzz";
  if (envelope().open(text, key_name).plaintext) std::abort();
  const std::string sealed = envelope().seal(text, key_name);
  const auto opened = envelope().open(sealed, key_name);
  if (!opened.plaintext || *opened.plaintext != text) std::abort();
  if (envelope().open(sealed, "opencode:context:other").plaintext) std::abort();
  return 0;
}
