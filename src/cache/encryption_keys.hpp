// Internal: the encryption settings of CacheConfig::from_env, parsed with errors that name
// the variable and never repeat key material.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "opencode_cache/cache/cache_config.hpp"

namespace opencode_cache::cache {

// CACHE_ENCRYPTION_KEYS: "id:base64key,id:base64key" (the first seals, all open), or
// "@/path/to/file" naming a file with one such entry per line ('#' comments, blank lines).
// Keys are 32 bytes in standard base64. Throws std::invalid_argument.
std::vector<EncryptionKey> parse_encryption_keys(std::string_view text);

// A 32-byte key in standard base64, for `variable`. Throws std::invalid_argument.
std::string decode_key(std::string_view variable, std::string_view base64);

// CACHE_ENCRYPT: which namespaces are sealed ("response,context,session", any of them).
void parse_encrypted_namespaces(std::string_view text, Encryption& encryption);

}  // namespace opencode_cache::cache
