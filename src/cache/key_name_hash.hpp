// Internal: key names that reveal nothing of what they name. With response encryption on, a
// response's key is HMAC-SHA-256 of its input under a key of its own, so that nobody holding
// the keyspace (a dump, a replica) can test a guessed prompt against it, as they could a plain
// SHA-256.
#pragma once

#include <string>
#include <string_view>

namespace opencode_cache::cache {

// HMAC-SHA-256 of `text` under `key`, in lowercase hex (64 digits).
std::string hmac_sha256_hex(std::string_view key, std::string_view text);

// The key name key when none is configured: HKDF-SHA-256 of the first encryption key (info
// "opencode-cache response key names v1", no salt), 32 bytes. A key of its own, never the
// AES key itself.
std::string derive_key_name_key(std::string_view encryption_key);

}  // namespace opencode_cache::cache
