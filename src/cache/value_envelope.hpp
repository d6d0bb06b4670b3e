// Internal: how a value of a sealed namespace is stored. AES-256-GCM with a fresh random
// 96-bit nonce per value; the header and the Valkey key name are its associated data, so a
// value copied under another key name, or with its header changed, does not open.
//
//   offset 0   4 bytes  magic "\x89OCE" (0x89 starts no UTF-8 text, so no JSON value either)
//          4   1 byte   version (1)
//          5   1 byte   n, the length of the key id (1..32)
//          6   n bytes  key id
//      6 + n  12 bytes  nonce
//     18 + n  16 bytes  GCM tag
//     34 + n  the ciphertext, as long as the plaintext
//
// Sans-I/O: seal() and open() only compute (and seal() draws the nonce from OpenSSL's RNG).
// Not thread-safe: each key keeps its cipher contexts, as a CacheService keeps one executor.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/cache/cache_config.hpp"

namespace opencode_cache::cache {

enum class OpenError {
  not_an_envelope,        // no magic: a plain value, or someone else's
  unsupported_version,    // sealed by a later version of this format
  truncated,              // shorter than its header
  unknown_key_id,         // sealed under a key that is not configured (any more)
  authentication_failed,  // tampered with, cut short, or stored under another key name
};

std::string_view describe(OpenError error) noexcept;

// The outcome of open(): the plaintext, or why there is none.
struct Opened {
  std::optional<std::string> plaintext;
  OpenError error = OpenError::not_an_envelope;  // meaningful when plaintext is empty
};

class ValueEnvelope {
 public:
  static constexpr std::size_t key_size = 32;
  static constexpr std::size_t nonce_size = 12;
  static constexpr std::size_t tag_size = 16;
  static constexpr std::size_t max_key_id_size = 32;
  static constexpr std::string_view magic = "\x89OCE";
  static constexpr unsigned char version = 1;

  // Throws std::invalid_argument when there is no key, a key is not 32 bytes, an id is not
  // 1..32 of [A-Za-z0-9._-], or two keys share an id.
  explicit ValueEnvelope(const std::vector<EncryptionKey>& keys);
  ~ValueEnvelope();
  ValueEnvelope(const ValueEnvelope&) = delete;
  ValueEnvelope& operator=(const ValueEnvelope&) = delete;

  // Under the first key, bound to `key_name` (the Valkey key the value is stored under).
  std::string seal(std::string_view plaintext, std::string_view key_name);
  Opened open(std::string_view envelope, std::string_view key_name);

  // The id of the key that sealed `envelope`, when its header is whole.
  static std::optional<std::string_view> key_id_of(std::string_view envelope) noexcept;

 private:
  struct Key;
  std::vector<std::unique_ptr<Key>> keys_;
};

// Throws std::invalid_argument unless `id` is 1..32 of [A-Za-z0-9._-].
void check_key_id(std::string_view id);

}  // namespace opencode_cache::cache
